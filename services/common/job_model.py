"""What a long job looks like to those who start and follow it, and the arguments of
every owner's get_job and recent_jobs (pydantic and the RPC models only, so that a
service's api.py may build its own job models on it)."""
from datetime import datetime
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, Field

from services.common.rpc_methods import Arguments

JobState = Literal["queued", "running", "done", "failed"]

#: a job's id names the service that owns it: ``billing-<uuid>``, ``metering-<uuid>``
JobId = Annotated[str, Field(min_length=1, max_length=64,
                             examples=["billing-0b7e2a55-5b1c-4f57-9a39-5d2f3c1e8a10"])]


class Job(BaseModel):
    """A long job, run by the service that owns it. ``done`` of ``total`` is its
    progress (``total`` is null until known); ``result`` once it is done, ``error``
    if it failed."""
    job_id: str
    kind: str
    state: JobState
    done: int
    total: Optional[int] = None
    created_at: datetime
    started_at: Optional[datetime] = None
    finished_at: Optional[datetime] = None
    #: who asked: ``operator:<username>``
    requested_by: str
    error: Optional[str] = None


class GetJobArguments(Arguments):
    job_id: JobId


class RecentJobsArguments(Arguments):
    limit: int = Field(default=20, ge=1, le=100)
