"""The desk's long jobs (billing runs, statement and readings imports): each is run
by the service that owns it, and its id names that service."""
from typing import Union

from services.billing import api as billing
from services.common.errors import NotFound
from services.gateway.http import route
from services.metering import api as metering

#: the prefix of a job's id -> the service that runs it
JOB_OWNERS = {"billing": "billing", "metering": "metering"}


class JobRoutes:

    @route("GET", "/api/v1/operator/jobs/<job_id>", access="operator", tag="operator",
           response_model=Union[billing.BillingJob, metering.MeteringJob],
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
