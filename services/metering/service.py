"""metering: meter registers, readings, review and reading schedules (entrypoints only)."""
from pathlib import Path

from nameko.dependency_providers import Config

from services.common import config as cfg
from services.common.db import Database
from services.common.errors import NotFound, ValidationFailed
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.validation import parse
from services.contracts.api import ConsumptionPointLinked, ContractSigned
from services.metering import imports, readings
from services.metering.models import metadata
from services.metering.plausibility import Thresholds
from services.metering.schedule import DEFAULT_WINDOW_DAYS


def thresholds(config):
    """Plausibility thresholds from configuration; typical use per tariff plan is
    ``VOOL_TYPICAL_DAILY_KWH="BASIC:10,DAYNIGHT:15"``."""
    typical = {}
    for pair in str(cfg.setting(config, "VOOL_TYPICAL_DAILY_KWH", "BASIC:10,DAYNIGHT:15")).split(","):
        if ":" in pair:
            plan, kwh = pair.split(":", 1)
            typical[plan.strip()] = float(kwh)
    return Thresholds(
        factor=cfg.float_setting(config, "VOOL_IMPLAUSIBLE_FACTOR", 5.0),
        min_daily_kwh=cfg.float_setting(config, "VOOL_IMPLAUSIBLE_MIN_DAILY_KWH", 5.0),
        zero_run=cfg.int_setting(config, "VOOL_ZERO_RUN_LIMIT", 3),
        typical_daily_kwh=typical)


class MeteringService:
    name = "metering"

    db = Database(metadata, Path(__file__).parent / "migrations")
    config = Config()

    def _window(self):
        return cfg.int_setting(self.config, "VOOL_READING_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self.db.apply_once(event, "metering.on_contract_signed",
                          readings.register_meter, ContractSigned.data_of(event),
                          self._window())

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "metering.on_consumption_point_linked",
                          readings.relink_meter, ConsumptionPointLinked.data_of(event))

    @rpc
    def reading_overview(self, consumption_point_ids):
        """returns ``{consumption_point_id: {last_reading: {reading_date, registers} |
        None, next_reading_due}}`` for the points metering knows."""
        if not isinstance(consumption_point_ids, list):
            raise ValidationFailed.field("consumption_point_ids", "must be a list")
        with self.db.unit_of_work() as uow:
            return readings.reading_overview(uow, [str(p) for p in consumption_point_ids],
                                             self._window())

    @rpc
    def points_overview(self, consumption_point_ids, readings_of, recent=5):
        """reading_overview's answer, and for each point of ``readings_of``
        (``{consumption_point_id: customer_id}``) its ``recent`` latest ``readings``
        (as list_readings'): a page's points in one call. A point metering does not
        know, or not as that customer's, has no readings."""
        if not isinstance(consumption_point_ids, list) or not isinstance(readings_of, dict):
            raise ValidationFailed.field("consumption_point_ids",
                                         "a list, and readings_of a {point: customer}")
        with self.db.unit_of_work() as uow:
            overview = readings.reading_overview(uow, [str(p) for p in consumption_point_ids],
                                                 self._window())
            for point_id, customer_id in readings_of.items():
                if str(point_id) in overview:
                    try:
                        overview[str(point_id)]["readings"] = readings.list_readings(
                            uow, str(point_id), str(customer_id))[:int(recent)]
                    except NotFound:
                        pass
            return overview

    @rpc
    def submit_reading(self, command):
        """Submit a meter reading.

        command: ``{consumption_point_id, reading_date: YYYY-MM-DD, registers:
        {code: kWh}, source?: customer|delegate|operator|import, submitted_by?,
        mandate_id?, customer_id? (the point must be theirs), idempotency_key?}``
        returns: ``{reading_id, status: accepted|held_for_review, consumption:
        {code: kWh}, next_reading_due, review_reason?}``
        raises: ValidationFailed (field errors), NotFound (unknown consumption point),
        Conflict (key reused with another body; a reading under review)
        """
        command = parse(readings.SubmitReading, command)
        with self.db.unit_of_work() as uow:
            return readings.submit_reading(uow, command, self._window(),
                                           thresholds(self.config))

    @rpc
    def list_readings(self, consumption_point_id, customer_id=None):
        """returns the readings of a consumption point, newest first (API.md's shape);
        NotFound, also when ``customer_id`` is given and the point is not theirs."""
        with self.db.unit_of_work() as uow:
            return readings.list_readings(uow, str(consumption_point_id),
                                          str(customer_id) if customer_id else None)

    @rpc
    def review_queue(self):
        """returns the readings held for review, oldest first."""
        with self.db.unit_of_work() as uow:
            return readings.review_queue(uow)

    @rpc
    def decide_reading(self, reading_id, decision, operator):
        """decision: ``{accept: bool, reason?}``. Accepting releases the reading to
        billing (reading_submitted); rejecting needs a reason the customer sees."""
        decision = parse(readings.Decide, decision)
        with self.db.unit_of_work() as uow:
            return readings.decide(uow, str(reading_id), decision, str(operator), self._window())

    @rpc
    def import_readings(self, csv_text, operator):
        """A CSV of readings (``eic`` or ``meter_serial``, ``reading_date``, one column
        per register). returns ``{accepted, held, rejected: [{line, reason}]}``."""
        if not isinstance(csv_text, str):
            raise ValidationFailed.field("file", "must be CSV text")
        return imports.import_readings(self.db.unit_of_work, csv_text, str(operator),
                                       self._window(), thresholds(self.config))
