"""metering's published interface: its RPC methods (what each takes, returns and
raises) and the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from metering. Event field types are as metering sends them; a field a
consumer does not need may be absent (older or newer publishers).
"""
from datetime import date, datetime
from typing import Literal, Optional

from pydantic import BaseModel, Field

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.events import EventData
from services.common.job_model import GetJobArguments, Job, RecentJobsArguments
from services.common.rpc_methods import Arguments, Health, RpcMethod
from services.common.validation import Shape

RegisterValues = dict[str, int]   # {register code: whole kWh}


class ReadingScheduleStarted(EventData):
    """A meter is known: its first reading is due on ``next_reading_due``."""
    event_type = "reading_schedule_started"
    version = 1

    consumption_point_id: str
    customer_id: str
    next_reading_due: date
    contract_no: Optional[str] = None
    reading_day: Optional[int] = None


class ReadingSubmitted(EventData):
    """An accepted reading (also one an operator released from review): bill it."""
    event_type = "reading_submitted"
    version = 1

    reading_id: str
    consumption_point_id: str
    contract_no: str
    customer_id: str
    tariff_plan: str
    reading_date: date
    previous_reading_date: date
    consumption: RegisterValues
    next_reading_due: date
    registers: Optional[RegisterValues] = None
    register_digits: Optional[RegisterValues] = None
    reading_day: Optional[int] = None
    released_from_review: bool = False
    #: the estimates since the previous actual reading that this reading settles:
    #: billing charges ``consumption`` (actual, since ``previous_reading_date``, the
    #: last actual reading) less what it charged for these
    settles_estimates: list[str] = Field(default_factory=list)


EstimateMethod = Literal["same_season_last_year", "recent_average", "tariff_typical"]


class ReadingEstimated(EventData):
    """A reading window closed without a reading: metering estimated the reading
    day's registers from the point's own history (``method``). Bill it as a reading
    marked estimated; the next actual reading settles it (``settles_estimates``).
    Its ``registers`` are provisional: an actual reading of an earlier estimate's day
    moves those of the later ones to continue from it (their consumption stays)."""
    event_type = "reading_estimated"
    version = 1

    reading_id: str
    consumption_point_id: str
    contract_no: str
    customer_id: str
    tariff_plan: str
    reading_date: date
    #: the reading (actual or estimated) the estimate continues from
    previous_reading_date: date
    consumption: RegisterValues
    method: EstimateMethod
    next_reading_due: date
    registers: Optional[RegisterValues] = None
    register_digits: Optional[RegisterValues] = None
    reading_day: Optional[int] = None


class ReadingHeldForReview(EventData):
    """A reading that looks implausible, held until an operator decides."""
    event_type = "reading_held_for_review"
    version = 1

    reading_id: str
    consumption_point_id: str
    customer_id: str
    reading_date: date
    reason: str
    registers: Optional[RegisterValues] = None


class ReadingRejected(EventData):
    """A held reading an operator rejected, with the reason."""
    event_type = "reading_rejected"
    version = 1

    reading_id: str
    consumption_point_id: str
    customer_id: str
    reading_date: date
    reason: str


class ReadingWithdrawn(EventData):
    """A held reading its customer took back, or replaced by ``replaced_by``."""
    event_type = "reading_withdrawn"
    version = 1

    reading_id: str
    consumption_point_id: str
    customer_id: str
    reading_date: date
    replaced_by: Optional[str] = None


EVENTS = (ReadingScheduleStarted, ReadingSubmitted, ReadingHeldForReview, ReadingRejected,
          ReadingWithdrawn, ReadingEstimated)


# -- RPC ----------------------------------------------------------------------------

ReadingStatus = Literal["accepted", "held_for_review", "rejected", "withdrawn", "estimated"]
ReadingSource = Literal["customer", "delegate", "operator", "import"]
#: the readings of a history also include the meter's reading when the contract began
RecordedSource = Literal["initial", "customer", "delegate", "operator", "import", "estimate"]


class SubmitReading(Shape):
    """A meter reading to submit: whole kWh per register, read on ``reading_date``."""
    consumption_point_id: str = Field(min_length=1, max_length=36)
    reading_date: date
    registers: dict[str, int]
    source: ReadingSource = "customer"
    submitted_by: Optional[str] = Field(default=None, max_length=64)
    mandate_id: Optional[str] = Field(default=None, max_length=36)
    #: when given, the consumption point must belong to this customer
    customer_id: Optional[str] = Field(default=None, max_length=36)
    #: the same key with the same reading answers the first answer again
    idempotency_key: Optional[str] = Field(default=None, min_length=1, max_length=200)


class ReadingReceipt(BaseModel):
    """What became of a submitted reading."""
    reading_id: str
    status: Literal["accepted", "held_for_review"]
    consumption: RegisterValues
    next_reading_due: date
    review_reason: Optional[str] = None


class Reading(BaseModel):
    """One reading of a consumption point, as its history lists it."""
    reading_id: str
    reading_date: date
    registers: RegisterValues
    consumption: RegisterValues
    status: ReadingStatus
    source: RecordedSource
    submitted_by: Optional[str] = None
    submitted_at: datetime
    review_reason: Optional[str] = None
    mandate_id: Optional[str] = None
    #: a withdrawn reading's correction; the actual reading that settled an estimate
    replaced_by: Optional[str] = None
    #: made by metering when the reading window closed without a reading
    estimated: bool = False
    #: how the estimate was made
    method: Optional[EstimateMethod] = None
    #: an estimate not settled yet by an actual reading: the customer may replace it
    #: by entering the actual reading for its day
    pending: Optional[bool] = None


class HeldReading(Reading):
    """A reading in the desk's review queue, with whose point it is."""
    consumption_point_id: str
    eic: str
    customer_id: str
    contract_no: str


class LastReading(BaseModel):
    reading_date: date
    registers: RegisterValues


class PointReadings(BaseModel):
    """A consumption point's last accepted reading and the next one due."""
    last_reading: Optional[LastReading] = None
    next_reading_due: date


class ReviewDecision(Shape):
    """An operator's decision on a held reading; a rejection says why."""
    accept: bool
    reason: Optional[str] = Field(default=None, max_length=300)


class RejectedLine(BaseModel):
    line: int
    reason: str


class ImportReport(BaseModel):
    accepted: int
    held: int
    rejected: list[RejectedLine]


class ReadingOverviewArguments(Arguments):
    consumption_point_ids: list[str] = Field(max_length=1000)


class PointsOverviewArguments(Arguments):
    consumption_point_ids: list[str] = Field(max_length=1000)
    #: {consumption point: customer}: the points whose recent readings to give
    readings_of: dict[str, str] = Field(max_length=1000)
    recent: int = Field(default=5, ge=0, le=100)


class PointOverview(PointReadings):
    """reading_overview's entry, with the latest readings when they were asked for."""
    readings: Optional[list[Reading]] = None


class SubmitReadingArguments(Arguments):
    command: SubmitReading


class ListReadingsArguments(Arguments):
    consumption_point_id: str = Field(min_length=1, max_length=36)
    #: when given, the consumption point must be theirs (else NotFound)
    customer_id: Optional[str] = Field(default=None, max_length=36)


class DecideReadingArguments(Arguments):
    reading_id: str = Field(min_length=1, max_length=36)
    decision: ReviewDecision
    operator: str = Field(min_length=1, max_length=64)


class WithdrawReadingArguments(Arguments):
    consumption_point_id: str = Field(min_length=1, max_length=36)
    reading_id: str = Field(min_length=1, max_length=36)
    #: when given, the consumption point must be theirs (else NotFound)
    customer_id: Optional[str] = Field(default=None, max_length=36)
    withdrawn_by: str = Field(min_length=1, max_length=64)


class MonthOfConsumption(BaseModel):
    """A calendar month's consumption per register (None when no reading covers
    any of its days); ``covered_days`` of its ``days`` are covered by readings,
    ``estimated_days`` of those by pending estimates (asked for ``with_estimates``)."""
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    consumption: Optional[RegisterValues] = None
    covered_days: int
    estimated_days: int = 0
    days: int


class ConsumptionByMonthArguments(Arguments):
    consumption_point_id: str = Field(min_length=1, max_length=36)
    #: when given, the consumption point must be theirs (else NotFound)
    customer_id: Optional[str] = Field(default=None, max_length=36)
    #: how many months through the current one
    months: int = Field(default=25, ge=1, le=120)
    #: count the pending estimates after the last actual reading too
    with_estimates: bool = False


class ImportReadingsArguments(Arguments):
    #: CSV: ``eic`` or ``meter_serial``, ``reading_date``, one column per register
    csv_text: str
    operator: str = Field(min_length=1, max_length=64)


class EstimateReadingsArguments(Arguments):
    #: default today; at most tomorrow
    as_of: Optional[date] = None


class EstimatesReport(BaseModel):
    readings_estimated: int


class EstimateSwitch(Arguments):
    """Estimates switched on or off for a consumption point or a tariff plan (one
    of the two)."""
    consumption_point_id: Optional[str] = Field(default=None, min_length=1, max_length=36)
    tariff_plan: Optional[str] = Field(default=None, min_length=1, max_length=32)
    estimates: bool
    operator: str = Field(min_length=1, max_length=64)


class EstimateSettings(BaseModel):
    consumption_point_id: Optional[str] = None
    tariff_plan: Optional[str] = None
    estimates: bool


class MeteringJob(Job):
    """A readings import run by metering in the background (``result``: what
    import_readings answers)."""
    kind: Literal["readings_import"]
    result: Optional[ImportReport] = None


health = RpcMethod("metering", "health", returns=Health,
                   summary="Whether metering's database answers.")
reading_overview = RpcMethod(
    "metering", "reading_overview", ReadingOverviewArguments,
    returns=dict[str, PointReadings], raises=(ValidationFailed,),
    summary="For each consumption point metering knows: its last accepted reading "
            "and the next reading due.")
points_overview = RpcMethod(
    "metering", "points_overview", PointsOverviewArguments,
    returns=dict[str, PointOverview], raises=(ValidationFailed,),
    summary="A page's points in one call: reading_overview's answer, and for each point "
            "of readings_of its recent latest readings (none when it is not that "
            "customer's).")
submit_reading = RpcMethod(
    "metering", "submit_reading", SubmitReadingArguments, returns=ReadingReceipt,
    raises=(ValidationFailed, NotFound, Conflict),
    summary="Submit a meter reading: accepted (and billed) or held for review. "
            "Conflict when the idempotency key was used with another reading.")
list_readings = RpcMethod(
    "metering", "list_readings", ListReadingsArguments, returns=list[Reading],
    raises=(ValidationFailed, NotFound),
    summary="The readings of a consumption point, newest first.")
review_queue = RpcMethod(
    "metering", "review_queue", returns=list[HeldReading],
    summary="The readings held for review, oldest first.")
decide_reading = RpcMethod(
    "metering", "decide_reading", DecideReadingArguments, returns=Reading,
    raises=(ValidationFailed, NotFound, Conflict),
    summary="Accept a held reading (it goes to billing) or reject it with a reason "
            "the customer sees.")
withdraw_reading = RpcMethod(
    "metering", "withdraw_reading", WithdrawReadingArguments, returns=Reading,
    raises=(ValidationFailed, NotFound, Conflict),
    summary="The customer takes back her reading while it is held for review "
            "(Conflict once it is decided). A new reading of hers replaces a held one.")
consumption_by_month = RpcMethod(
    "metering", "consumption_by_month", ConsumptionByMonthArguments,
    returns=list[MonthOfConsumption], raises=(ValidationFailed, NotFound),
    summary="Consumption per calendar month and register through the current month, "
            "oldest first, spread from the accepted readings by days.")
import_readings = RpcMethod(
    "metering", "import_readings", ImportReadingsArguments, returns=ImportReport,
    raises=(ValidationFailed,),
    summary="Import readings from CSV; each line is accepted, held or rejected with "
            "its reason.")
start_readings_import = RpcMethod(
    "metering", "start_readings_import", ImportReadingsArguments, returns=MeteringJob,
    raises=(ValidationFailed,),
    summary="Start importing readings from CSV as a job (see get_job; progress by rows); "
            "the same file while its import is queued or running is that job. A file "
            "whose header cannot be imported is refused at once (field file).")
estimate_readings = RpcMethod(
    "metering", "estimate_readings", EstimateReadingsArguments, returns=EstimatesReport,
    raises=(ValidationFailed,),
    summary="Estimate the reading of every consumption point whose reading window closed "
            "before as_of (default today) without a reading, each reading day once "
            "(reading_estimated).")
switch_estimates = RpcMethod(
    "metering", "switch_estimates", EstimateSwitch, returns=EstimateSettings,
    raises=(ValidationFailed, NotFound),
    summary="Switch estimated readings on or off for a consumption point or a tariff plan.")
get_job = RpcMethod(
    "metering", "get_job", GetJobArguments, returns=MeteringJob,
    raises=(ValidationFailed, NotFound),
    summary="A job of metering's with its state and progress; its result once done.")
recent_jobs = RpcMethod(
    "metering", "recent_jobs", RecentJobsArguments, returns=list[MeteringJob],
    raises=(ValidationFailed,),
    summary="Metering's latest jobs, newest first.")
