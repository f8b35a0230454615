"""Meter readings: customers' history and submissions, the desk's review and import."""
from datetime import date
from typing import Optional

from pydantic import Field


from services.common.errors import ValidationFailed
from services.common.validation import Shape
from services.gateway.actions.readings import MAX_KEY, NewReading, submit_reading
from services.gateway.auth import actor
from services.gateway import schemas
from services.gateway.http import (JOB_HEADERS, PREFER_ASYNC, job_accepted, json_body,
                                   prefers_async, route)
from services.metering import api as metering
from services.notifications import api as notifications
from services.gateway.problems import UnsupportedMediaType

POINT = "/api/v1/customers/<cid>/consumption-points/<cp>/readings"


class SweepRequest(Shape):
    as_of: Optional[date] = None


class EstimatesSwitchRequest(Shape):
    """One of ``consumption_point_id`` and ``tariff_plan``; ``estimates`` on or off."""
    consumption_point_id: Optional[str] = Field(default=None, min_length=1, max_length=36)
    tariff_plan: Optional[str] = Field(default=None, min_length=1, max_length=32)
    estimates: bool


class ReadingRoutes:

    @route("GET", POINT, access="customer", scope="readings:read", tag="readings",
           response_model=metering.list_readings,
           summary="The readings of a consumption point, newest first")
    def readings(self, request, cid, cp):
        return self.services.call("metering", "list_readings", cp, cid)

    @route("POST", POINT, access="customer", scope="readings:write", tag="readings",
           status=201, request_model=NewReading, response_model=metering.submit_reading,
           header_parameters={"Idempotency-Key": (
               {"type": "string", "minLength": 1, "maxLength": MAX_KEY},
               "Makes a retry safe: the same key with the same reading answers the first "
               "answer again; with another reading it is a 409")},
           summary="Submit a reading (header Idempotency-Key makes retries safe)")
    def submit_reading(self, request, cid, cp):
        reading = json_body(request, NewReading)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= MAX_KEY:   # stored whole, never cut
            raise ValidationFailed.field("Idempotency-Key", f"1 to {MAX_KEY} characters")
        return submit_reading(self.services, request.principal, cid, cp, reading, key)

    @route("GET", "/api/v1/customers/<cid>/consumption-points/<cp>/consumption",
           access="customer", scope="readings:read", tag="readings",
           query=schemas.ConsumptionQuery, response_model=metering.consumption_by_month,
           summary="Consumption per calendar month and register (?months=1..120, 25 "
                   "by default: this month and the two years before it)")
    def consumption_by_month(self, request, cid, cp):
        return self.services.call("metering", "consumption_by_month", cp, cid,
                                  request.query.months, request.query.estimates)

    @route("DELETE", POINT + "/<reading_id>", access="customer", scope="readings:write",
           tag="readings", response_model=metering.withdraw_reading,
           summary="Withdraw one's reading while it is held for review (a new reading "
                   "replaces a held one too)")
    def withdraw_reading(self, request, cid, cp, reading_id):
        return self.services.call("metering", "withdraw_reading", cp, reading_id, cid,
                                  actor(request.principal))

    @route("GET", "/api/v1/operator/readings/review", access="operator", tag="operator",
           response_model=metering.review_queue, summary="Readings held for review")
    def desk_review_queue(self, request):
        return self.services.call("metering", "review_queue")

    @route("POST", "/api/v1/operator/readings/<reading_id>/decision", access="operator",
           tag="operator", request_model=metering.ReviewDecision,
           response_model=metering.decide_reading,
           summary="Accept a held reading (it goes to billing) or reject it with a reason")
    def desk_decide_reading(self, request, reading_id):
        decision = json_body(request, metering.ReviewDecision)
        return self.services.call("metering", "decide_reading", reading_id,
                                  decision.model_dump(), actor(request.principal))

    @route("POST", "/api/v1/operator/readings/import", access="operator", tag="operator",
           request_media="text/csv", response_model=metering.import_readings,
           header_parameters=PREFER_ASYNC, responses={202: metering.MeteringJob},
           response_headers={202: JOB_HEADERS}, calls=(metering.start_readings_import,),
           description="Columns `eic` or `meter_serial`, `reading_date`, one column per "
                       "register code; UTF-8. Each line is accepted, held or rejected "
                       "with its reason. With `Prefer: respond-async` 202 at once with "
                       "the import as a job (progress by lines; `Location` names it); "
                       "the same file while its import is queued or running is that job.",
           summary="Import readings from a CSV file (text/csv)")
    def desk_import_readings(self, request):
        if request.mimetype not in ("text/csv", "text/plain"):
            raise UnsupportedMediaType(f"send text/csv, not {request.mimetype or 'nothing'}")
        try:
            text = request.get_data().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnsupportedMediaType("the CSV file must be UTF-8") from None
        if prefers_async(request):
            return job_accepted(self.services.call(
                "metering", "start_readings_import", text, actor(request.principal)),
                applied=True)
        return self.services.call("metering", "import_readings", text,
                                  actor(request.principal), timeout=120)

    @route("POST", "/api/v1/operator/jobs/reminder-sweep", access="operator", tag="operator",
           request_model=SweepRequest, response_model=notifications.reminder_sweep,
           summary="Send the reminders of missed reading dates")
    def desk_reminder_sweep(self, request):
        sweep = json_body(request, SweepRequest)
        return self.services.call("notifications", "reminder_sweep",
                                  sweep.as_of.isoformat() if sweep.as_of else None, timeout=120)

    @route("POST", "/api/v1/operator/jobs/estimate", access="operator", tag="operator",
           request_model=SweepRequest, response_model=metering.estimate_readings,
           description="For every consumption point whose reading window closed before "
                       "`as_of` (default today; at most tomorrow) without a reading — the "
                       "moment its reminder is sent — metering stores an estimated reading "
                       "(`status: \"estimated\"`, with its `method`) and billing charges it "
                       "marked as an estimate; the next actual reading settles it. Each "
                       "reading day of a point is estimated once: a second run for the same "
                       "`as_of` estimates nothing. Metering also runs this hourly.",
           summary="Estimate the readings of missed reading days")
    def desk_estimate(self, request):
        sweep = json_body(request, SweepRequest)
        return self.services.call("metering", "estimate_readings",
                                  sweep.as_of.isoformat() if sweep.as_of else None, timeout=600)

    @route("POST", "/api/v1/operator/estimates", access="operator", tag="operator",
           request_model=EstimatesSwitchRequest, response_model=metering.switch_estimates,
           summary="Switch estimated readings on or off for a consumption point or a "
                   "tariff plan")
    def desk_switch_estimates(self, request):
        switch = json_body(request, EstimatesSwitchRequest)
        return self.services.call("metering", "switch_estimates", switch.consumption_point_id,
                                  switch.tariff_plan, switch.estimates,
                                  actor(request.principal))
