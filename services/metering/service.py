"""metering: meter registers, readings and reading schedules (entrypoints only)."""
from pathlib import Path

from nameko.dependency_providers import Config
from services.common.rpc import rpc

from services.common import config as cfg
from services.common.db import Database
from services.common.errors import ValidationFailed
from services.common.messaging import event_handler
from services.common.validation import parse
from services.metering import readings
from services.metering.models import metadata
from services.metering.schedule import DEFAULT_WINDOW_DAYS


class MeteringService:
    name = "metering"

    db = Database(metadata, Path(__file__).parent / "migrations")
    config = Config()

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "metering.on_contract_signed"):
                readings.register_meter(uow, event.data)

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        with self.db.unit_of_work() as uow:
            if not uow.handled_before(event, "metering.on_consumption_point_linked"):
                readings.relink_meter(uow, event.data)

    @rpc
    def reading_overview(self, consumption_point_ids):
        """returns ``{consumption_point_id: {last_reading: {reading_date, registers} |
        None, next_reading_due}}`` for the points metering knows."""
        if not isinstance(consumption_point_ids, list):
            raise ValidationFailed.field("consumption_point_ids", "must be a list")
        window = cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)
        with self.db.unit_of_work() as uow:
            return readings.reading_overview(uow, [str(p) for p in consumption_point_ids], window)

    @rpc
    def submit_reading(self, command):
        """Submit a meter reading.

        command: ``{consumption_point_id, reading_date: YYYY-MM-DD, registers:
        {code: kWh}, source?: customer|delegate|operator|import, submitted_by?}``
        returns: ``{reading_id, status, consumption: {code: kWh}, next_reading_due}``
        raises: ValidationFailed (field errors), NotFound (unknown consumption point)
        """
        command = parse(readings.SubmitReading, command)
        window = cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)
        with self.db.unit_of_work() as uow:
            return readings.submit_reading(uow, command, window)

    @rpc
    def list_readings(self, consumption_point_id):
        """returns the readings of a consumption point, newest first."""
        with self.db.unit_of_work() as uow:
            return readings.list_readings(uow, str(consumption_point_id))
