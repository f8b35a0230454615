"""Long jobs' plumbing: one job per kind and key while it is queued or running, its
view, and the gateway's reading of RFC 7240's Prefer."""
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.common import jobs
from services.gateway.http import prefers_async

NOW = datetime(2026, 3, 5, 9, tzinfo=timezone.utc)


@pytest.fixture
def table():
    metadata = sa.MetaData()
    table = jobs.jobs_table(metadata)
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    table.engine = engine
    return table


def start(table, key, kind="billing_run"):
    with table.engine.begin() as conn:
        return jobs.start(conn, table, "billing", kind, key, {"period": key},
                          "operator:desk", NOW)


def test_the_same_job_asked_again_while_active_is_that_job(table):
    first, created = start(table, "2026-02")
    assert created and first.job_id.startswith("billing-") and first.state == "queued"
    again, created = start(table, "2026-02")
    assert (again.job_id, created) == (first.job_id, False)
    other, created = start(table, "2026-02", kind="statement_import")
    assert created and other.job_id != first.job_id
    with table.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.job_id == first.job_id)
                     .values(state="running"))
    assert start(table, "2026-02")[0].job_id == first.job_id
    with table.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.job_id == first.job_id)
                     .values(state="done", result={"invoices_issued": 2}))
    later, created = start(table, "2026-02")          # done: a new run of the month
    assert created and later.job_id != first.job_id


def test_the_index_refuses_a_second_active_job_of_one_key(table):
    start(table, "2026-02")
    with pytest.raises(sa.exc.IntegrityError), table.engine.begin() as conn:
        conn.execute(sa.insert(table).values(
            job_id="billing-x", kind="billing_run", idempotency_key="2026-02", state="queued",
            arguments={}, done=0, requested_by="operator:desk", attempts=0, created_at=NOW))


def test_a_view_shows_the_result_once_done_and_live_progress_while_running(table):
    row, _ = start(table, "2026-02")
    view = jobs.view(row)
    assert (view["state"], view["done"], view["total"], view["started_at"]) == (
        "queued", 0, None, None)
    assert "result" not in view and view["created_at"] == NOW.isoformat()
    assert jobs.view(row, live=(5, 9))["done"] == 5
    with table.engine.begin() as conn:
        conn.execute(sa.update(table).values(state="done", result={"invoices_issued": 2},
                                             done=9, total=9, finished_at=NOW))
        row = conn.execute(sa.select(table)).first()
    assert jobs.view(row)["result"] == {"invoices_issued": 2}
    assert jobs.view(row)["finished_at"] == NOW.isoformat()   # SQLite's naive is UTC


@pytest.mark.parametrize("headers, wanted", [
    ([], False), (["respond-async"], True), (["respond-async, wait=10"], True),
    (["wait=10, Respond-Async"], True), (["return=minimal"], False),
    (["return=minimal", "respond-async; x=1"], True), (["respond-asynchronously"], False)])
def test_prefer_respond_async_is_read_as_rfc_7240_has_it(headers, wanted):
    request = Request(EnvironBuilder(headers=[("Prefer", h) for h in headers]).get_environ())
    assert prefers_async(request) is wanted


def test_vool_jobs_says_when_it_cannot_reach_the_gateway_or_knows_no_operator(
        monkeypatch, capsys):
    from services import cli
    monkeypatch.setenv("VOOL_OPERATOR_PASSWORD", "not-to-be-printed")
    monkeypatch.delenv("VOOL_OPERATOR", raising=False)
    assert cli.main(["jobs", "--url", "http://127.0.0.1:9", "billing-run", "2026-01"]) == 2
    assert "VOOL_OPERATOR" in capsys.readouterr().err
    assert cli.main(["jobs", "--url", "http://127.0.0.1:9", "--operator", "desk",
                     "status", "billing-x"]) == 2
    captured = capsys.readouterr()
    assert "did not answer" in captured.err
    assert "not-to-be-printed" not in captured.err + captured.out


def claimed(table, job_id, attempts):
    with table.engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c.job_id == job_id)
                     .values(state="running", attempts=attempts))
        return conn.execute(sa.select(table).where(table.c.job_id == job_id)).one()


def test_only_the_current_claim_of_a_job_can_record_it_done(table):
    """The lock's connection lost mid-run, another replica claimed the job again:
    the first claim's work must not commit beside the second's."""
    row, _ = start(table, "2026-02")
    runner = SimpleNamespace(table=table, live={}, db=None,
                             container=SimpleNamespace(config={}))
    first = jobs.Job(runner, claimed(table, row.job_id, attempts=1))
    second = jobs.Job(runner, claimed(table, row.job_id, attempts=2))   # claimed again

    with table.engine.connect() as conn:
        with pytest.raises(jobs.JobTakenOver):
            first.finished(conn, {"invoices_issued": 3})
        conn.rollback()
        assert conn.execute(sa.select(table.c.state)).scalar_one() == "running"
        second.finished(conn, {"invoices_issued": 3})
        conn.commit()
        done = conn.execute(sa.select(table)).one()
    assert (done.state, done.result, done.arguments) == ("done", {"invoices_issued": 3}, {})


class Answer:
    def __init__(self, status_code, problem):
        self.status_code, self.problem, self.reason = status_code, problem, "Unprocessable"

    def json(self):
        return self.problem


@pytest.mark.parametrize("problem, told", [
    ({"detail": "statement: not well-formed XML",
      "errors": [{"field": "statement", "message": "not well-formed XML"}]},
     "422 statement: not well-formed XML"),
    ({"detail": "2 fields are invalid",
      "errors": [{"field": "period", "message": "not a month"},
                 {"field": "as_of", "message": "not a date"}]},
     "422 2 fields are invalid (period: not a month; as_of: not a date)"),
])
def test_vool_jobs_tells_a_refusal_once(problem, told):
    from services import operator_jobs
    session = SimpleNamespace(request=lambda *args, **kwargs: Answer(422, problem))
    with pytest.raises(operator_jobs.Refused) as refused:
        operator_jobs._call(session, "POST", "http://gateway/api/v1/operator/bank-statements")
    assert str(refused.value) == told and refused.value.status == 1
