"""The desk's long jobs (billing runs, statement and readings imports): each is run
by the service that owns it, and its id names that service."""
import logging
from typing import Union

from pydantic import Field

from services.billing import api as billing
from services.common.errors import NotFound, ServiceUnavailable
from services.common.validation import Shape
from services.gateway.http import json_response, route
from services.metering import api as metering

log = logging.getLogger(__name__)

#: the prefix of a job's id -> the service that runs it
JOB_OWNERS = {"billing": "billing", "metering": "metering"}


AnyJob = Union[billing.BillingJob, metering.MeteringJob]


class JobsQuery(Shape):
    limit: int = Field(default=20, ge=1, le=100)


class JobRoutes:

    @route("GET", "/api/v1/operator/jobs", access="operator", tag="operator",
           query=JobsQuery, response_model=list[AnyJob],
           calls=(billing.recent_jobs, metering.recent_jobs),
           headers={"Vool-Unavailable": "the services whose jobs could not be listed "
                                        "(`billing`, `metering`): the others' are"},
           summary="The latest long jobs of every service, newest first (?limit=20)")
    def desk_jobs(self, request):
        limit = request.query.limit
        jobs, unavailable = [], []
        for owner in sorted(set(JOB_OWNERS.values())):
            try:
                jobs += self.services.call(owner, "recent_jobs", limit)
            except ServiceUnavailable as exc:   # one service down hides not the other's
                log.warning("jobs listed without %s's: %s", owner, exc)
                unavailable.append(owner)
        if len(unavailable) == len(set(JOB_OWNERS.values())):
            raise ServiceUnavailable("no service that runs jobs answers")
        newest = sorted(jobs, key=lambda job: job["created_at"], reverse=True)[:limit]
        if unavailable:
            return json_response(newest, headers={"Vool-Unavailable": ", ".join(unavailable)})
        return newest

    @route("GET", "/api/v1/operator/jobs/<job_id>", access="operator", tag="operator",
           response_model=AnyJob,
           calls=(billing.get_job, metering.get_job),
           description="State `queued`, `running`, `done` or `failed`; `done` of `total` "
                       "is its progress (`total` null until known); `result` once done "
                       "(a billing run's `{invoices_issued, total, unpriceable}`, an "
                       "import's report), `error` if it failed. 404 for a job no service "
                       "has.",
           summary="A long job: its state, progress and result")
    def desk_job(self, request, job_id):
        owner = JOB_OWNERS.get(job_id.split("-", 1)[0])
        if owner is None or len(job_id) > 64:
            raise NotFound(f"no job {job_id}")
        return self.services.call(owner, "get_job", job_id)
