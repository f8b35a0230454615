"""metering: meter registers, readings, review and reading schedules (entrypoints
only; what each method takes, returns and raises is in services/metering/api.py)."""
import time
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.common.correlation import Correlation
from services.common import config as cfg
from services.common.db import Database
from services.common.ops import OpsPort
from services.common.jobs import JobRunner
from services.common.messaging import event_handler
from services.common.metrics import measured_job
from services.common.rpc import rpc
from services.common.validation import operating_date
from services.contracts.api import ConsumptionPointLinked, ContractSigned, ContractTerminated
from services.metering import api, consumption, estimates, imports, readings
from services.metering import jobs as metering_jobs
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


def estimate_limits(config):
    """How many estimates in a row a point gets (``VOOL_MAX_ESTIMATES_IN_A_ROW``), and
    how long ago a missed reading day may be to begin estimating
    (``VOOL_ESTIMATE_LOOKBACK_DAYS``)."""
    return estimates.Limits(
        in_a_row=cfg.int_setting(config, "VOOL_MAX_ESTIMATES_IN_A_ROW", 6),
        lookback_days=cfg.int_setting(config, "VOOL_ESTIMATE_LOOKBACK_DAYS", 92))


def window_days(config):
    return cfg.int_setting(config, "VOOL_READING_WINDOW_DAYS", DEFAULT_WINDOW_DAYS)


estimates_switch = estimates.switch


def readings_import(job):
    return metering_jobs.readings_import(job, window_days(job.config), thresholds(job.config))


class MeteringService:
    name = "metering"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    db = Database(metadata, Path(__file__).parent / "migrations")
    ops = OpsPort()   # /metrics and /health on VOOL_OPS_ADDRESS; every worker measured
    config = Config()
    jobs = JobRunner("metering", {metering_jobs.READINGS_IMPORT: readings_import})

    def _window(self):
        return window_days(self.config)

    @rpc(api.health)
    def health(self):
        return self.db.health()

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self.db.apply_once(event, "metering.on_contract_signed",
                          readings.register_meter, ContractSigned.data_of(event),
                          self._window())

    @event_handler("contracts", "contract_terminated")
    def on_contract_terminated(self, event):
        self.db.apply_once(event, "metering.on_contract_terminated",
                          readings.end_meter, ContractTerminated.data_of(event))

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "metering.on_consumption_point_linked",
                          readings.relink_meter, ConsumptionPointLinked.data_of(event))

    @rpc(api.reading_overview)
    def reading_overview(self, consumption_point_ids):
        with self.db.unit_of_work() as uow:
            return readings.reading_overview(uow, consumption_point_ids, self._window())

    @rpc(api.points_overview)
    def points_overview(self, consumption_point_ids, readings_of, recent=5):
        with self.db.unit_of_work() as uow:
            overview = readings.reading_overview(uow, consumption_point_ids, self._window())
            recent_of = readings.recent_readings(
                uow, {p: c for p, c in readings_of.items() if p in overview}, recent)
            for point_id, recent_readings in recent_of.items():
                overview[point_id]["readings"] = recent_readings
            return overview

    @rpc(api.submit_reading)
    def submit_reading(self, command):
        with self.db.unit_of_work() as uow:
            return readings.submit_reading(uow, command, self._window(),
                                           thresholds(self.config))

    @rpc(api.list_readings)
    def list_readings(self, consumption_point_id, customer_id=None):
        with self.db.unit_of_work() as uow:
            return readings.list_readings(uow, consumption_point_id, customer_id)

    @rpc(api.review_queue)
    def review_queue(self):
        with self.db.unit_of_work() as uow:
            return readings.review_queue(uow)

    @rpc(api.decide_reading)
    def decide_reading(self, reading_id, decision, operator):
        with self.db.unit_of_work() as uow:
            return readings.decide(uow, reading_id, decision, operator, self._window())

    @rpc(api.withdraw_reading)
    def withdraw_reading(self, consumption_point_id, reading_id, customer_id, withdrawn_by):
        with self.db.unit_of_work() as uow:
            return readings.withdraw(uow, consumption_point_id, reading_id, customer_id,
                                     withdrawn_by)

    @rpc(api.consumption_by_month)
    def consumption_by_month(self, consumption_point_id, customer_id=None, months=25,
                             with_estimates=False):
        with self.db.unit_of_work() as uow:
            return consumption.consumption_by_month(uow, consumption_point_id, customer_id,
                                                    months, uow.clock.today(), with_estimates)

    @rpc(api.import_readings)
    def import_readings(self, csv_text, operator):
        return imports.import_readings(self.db.unit_of_work, csv_text, operator,
                                       self._window(), thresholds(self.config))

    @rpc(api.start_readings_import)
    def start_readings_import(self, csv_text, operator):
        return metering_jobs.start_readings_import(self.jobs, csv_text, operator)

    @rpc(api.estimate_readings)
    @measured_job("estimate_readings")
    def estimate_readings(self, as_of=None):
        with self.db.unit_of_work() as uow:
            today = uow.clock.today()
        day = operating_date(as_of or today, "as_of", today, ahead_days=1)
        started = [time.monotonic()]

        def between_batches():
            self.db.pause_between_batches(started[0])
            started[0] = time.monotonic()

        return estimates.estimate_all(
            self.db.unit_of_work, day, self._window(), thresholds(self.config),
            between_batches=between_batches, limits=estimate_limits(self.config))

    @timer(interval=3600)
    def hourly_estimates(self):
        """The reading windows that closed since the last hour's run (the reminder
        sweep's moment): their estimates."""
        self.estimate_readings()

    @rpc(api.switch_estimates)
    def switch_estimates(self, consumption_point_id=None, tariff_plan=None, estimates=True,
                         operator=""):
        with self.db.unit_of_work() as uow:
            return estimates_switch(uow, consumption_point_id, tariff_plan, estimates, operator)

    @rpc(api.get_job)
    def get_job(self, job_id):
        return self.jobs.get(job_id)

    @rpc(api.recent_jobs)
    def recent_jobs(self, limit=20):
        return self.jobs.recent(limit)
