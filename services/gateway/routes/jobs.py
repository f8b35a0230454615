"""The desk's long jobs (billing runs, statement and readings imports): each is run
by the service that owns it, and its id names that service."""
from typing import Union

from pydantic import Field

from services.billing import api as billing
from services.common.errors import NotFound
from services.common.validation import Shape
from services.gateway.http import route
from services.metering import api as metering

#: the prefix of a job's id -> the service that runs it
JOB_OWNERS = {"billing": "billing", "metering": "metering"}


AnyJob = Union[billing.BillingJob, metering.MeteringJob]


class JobsQuery(Shape):
    limit: int = Field(default=20, ge=1, le=100)


class JobRoutes:

    @route("GET", "/api/v1/operator/jobs", access="operator", tag="operator",
           query=JobsQuery, response_model=list[AnyJob],
           calls=(billing.recent_jobs, metering.recent_jobs),
           summary="The latest long jobs of every service, newest first (?limit=20)")
    def desk_jobs(self, request):
        limit = request.query.limit
        jobs = [job for owner in sorted(set(JOB_OWNERS.values()))
                for job in self.services.call(owner, "recent_jobs", limit)]
        return sorted(jobs, key=lambda job: job["created_at"], reverse=True)[:limit]

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
