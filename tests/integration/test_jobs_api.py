"""Long jobs through the gateway: a billing run answers 202 with a job that billing
runs in the background, with its progress; asked twice it is one job; it survives a
gateway restart and a billing process that died; the imports become jobs when the
client prefers (RFC 7240); and the operators' `vool jobs` follows one with a
progress bar."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone

import eventlet
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from services.billing.service import BillingService
from services.common.config import PROJECT_ROOT
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import customer_token, make_banks
from tests.camt053 import camt, ntry, tx
from tests.conftest import wait_for
from tests.jobs import billing_run, follow, start_billing_run
from tests.samples import GRANDMOTHER, contract_command

PASSWORD = "correct-horse-battery"


@pytest.fixture
def desk(run_services, config, rpc, tmp_path, real_time_clock):
    """The system but billing (each test starts its billing replicas): base URL and
    an operator's headers."""
    real_time_clock.set(datetime(2026, 3, 5, 9, tzinfo=timezone.utc))
    banks = make_banks(tmp_path)
    gateway, _, _, metering = run_services(GatewayService, IdentityService, ContractsService,
                                           MeteringService,
                                           VOOL_BANKS_FILE=str(banks.banks_file))
    rpc.identity.add_operator("desk", "admin", PASSWORD)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    token = requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": PASSWORD}).json()["token"]
    return {"base": base, "headers": {"Authorization": f"Bearer {token}"}, "banks": banks,
            "gateway": gateway, "metering": metering}


def sign(rpc, count):
    """``count`` contracts from January (of one customer), known to metering."""
    made = [rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
            for _ in range(count)]
    wait_for(lambda: all(_readings(rpc, c) for c in made), message="metering's copies")
    return made


def _readings(rpc, signed):
    try:
        return rpc.metering.list_readings(signed["consumption_point_id"])
    except Exception:
        return None


def invoices_of(rpc, customers, period):
    return [i for cid in {c["customer_id"] for c in customers}
            for i in rpc.billing.invoices_of(cid) if i["period"] == period]


def billing_knows(rpc, customers):
    wait_for(lambda: all(_known(rpc, c) for c in customers), message="billing knows them")


def _known(rpc, signed):
    try:
        rpc.billing.payment_book(signed["reference_no"], [signed["customer_id"]])
        return True
    except Exception:
        return False


def jobs_table(config):
    # unpooled: closing a connection ends its session, and so its advisory locks
    engine = sa.create_engine(config["VOOL_BILLING_DATABASE_URL"], poolclass=NullPool)
    return engine, sa.Table("jobs", sa.MetaData(), autoload_with=engine)


@pytest.mark.both_stores
def test_a_billing_run_is_a_job_with_progress_to_its_result(desk, run_services, rpc):
    run_services(BillingService, VOOL_BILLING_RUN_CHUNK="1")
    base, headers = desk["base"], desk["headers"]
    customers = sign(rpc, 3)
    billing_knows(rpc, customers)

    started = start_billing_run(base, headers, "2026-02")
    assert started["kind"] == "billing_run" and started["job_id"].startswith("billing-")
    assert started["state"] in ("queued", "running")
    assert started["requested_by"] == "operator:desk"
    seen = []
    job = follow(base, headers, started, seen=seen)
    assert job["state"] == "done", job
    assert (job["done"], job["total"]) == (3, 3)
    assert job["result"]["invoices_issued"] == 3 and job["error"] is None
    assert job["started_at"] and job["finished_at"] >= job["started_at"]
    states = [state for state, _, _ in seen]
    assert states[-1] == "done" and set(states) <= {"queued", "running", "done"}
    invoices = invoices_of(rpc, customers, "2026-02")
    assert len(invoices) == 3
    assert job["result"]["total"] == f"{sum(float(i['total']) for i in invoices):.2f}"
    # a later run of the month is a new job, and issues nothing twice
    assert billing_run(base, headers, "2026-02")["invoices_issued"] == 0
    listed = requests.get(f"{base}/api/v1/operator/jobs", headers=headers, timeout=10)
    assert listed.status_code == 200, listed.text
    assert job["job_id"] in [j["job_id"] for j in listed.json()] and len(listed.json()) == 2


def test_asked_twice_it_is_one_job_that_survives_the_gateway_and_runs_once(
        desk, run_services, rpc, config):
    # two billing replicas that claim no job: what is asked stays queued meanwhile
    idle = run_services(BillingService, BillingService, VOOL_JOB_CONCURRENCY="0")
    base, headers = desk["base"], desk["headers"]
    customers = sign(rpc, 2)
    billing_knows(rpc, customers)

    # asked at once, through both replicas: one job
    asked = list(eventlet.GreenPool(6).imap(
        lambda _: start_billing_run(base, headers, "2026-02"), range(6)))
    first = asked[0]
    assert {job["job_id"] for job in asked} == {first["job_id"]}
    again = start_billing_run(base, headers, "2026-02")
    assert again["job_id"] == first["job_id"] and again["state"] == "queued"
    other_month = start_billing_run(base, headers, "2026-01")
    assert other_month["job_id"] != first["job_id"]

    # the gateway goes and another takes its place: the job is billing's
    desk["gateway"].kill()
    assert _get(base, headers, first["job_id"]) is None      # nobody answers there
    address = f"127.0.0.1:{free_port()}"
    run_services(GatewayService, WEB_SERVER_ADDRESS=address,
                 VOOL_BANKS_FILE=str(desk["banks"].banks_file))
    base = f"http://{address}"
    answer = wait_for(lambda: _get(base, headers, first["job_id"]), message="new gateway")
    assert answer["state"] == "queued" and answer["done"] == 0

    # a replica that runs jobs picks both up; the billing run of February runs once
    run_services(BillingService)
    done = follow(base, headers, answer)
    assert done["state"] == "done" and done["result"]["invoices_issued"] == 2
    assert follow(base, headers, other_month)["state"] == "done"
    assert len(invoices_of(rpc, customers, "2026-02")) == 2
    engine, jobs = jobs_table(config)
    with engine.connect() as conn:
        attempts = conn.execute(sa.select(jobs.c.attempts)
                                .where(jobs.c.job_id == first["job_id"])).scalar()
    engine.dispose()
    assert attempts == 1


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(base, headers, job_id):
    try:
        answer = requests.get(f"{base}/api/v1/operator/jobs/{job_id}", headers=headers,
                              timeout=2)
    except requests.RequestException:   # refused, or accepted by a socket nobody serves
        return None
    return answer.json() if answer.status_code == 200 else None


def test_a_job_left_running_by_a_dead_process_is_resumed_but_never_run_twice_at_once(
        desk, run_services, rpc, config):
    first = run_services(BillingService, VOOL_JOB_CONCURRENCY="0")
    base, headers = desk["base"], desk["headers"]
    customers = sign(rpc, 2)
    billing_knows(rpc, customers)
    job = start_billing_run(base, headers, "2026-02")
    engine, jobs = jobs_table(config)
    with engine.begin() as conn:   # as a process that claimed it and died leaves it
        conn.execute(sa.update(jobs).where(jobs.c.job_id == job["job_id"])
                     .values(state="running", attempts=1, started_at=sa.func.now()))
    first.kill()

    # while a live process holds the job's lock, another replica leaves it alone
    holder = engine.connect()
    holder.execute(sa.text("SELECT pg_advisory_lock(7301100, hashtext(:id))"),
                   {"id": job["job_id"]})
    holder.commit()
    run_services(BillingService, VOOL_JOB_POLL_INTERVAL="0.1")
    eventlet.sleep(1.0)
    assert _get(base, headers, job["job_id"])["state"] == "running"
    assert invoices_of(rpc, customers, "2026-02") == []

    holder.close()   # the holder dies: its lock goes with its connection
    resumed = follow(base, headers, job)
    assert resumed["state"] == "done" and resumed["result"]["invoices_issued"] == 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(jobs.c.attempts)
                            .where(jobs.c.job_id == job["job_id"])).scalar() == 2
    engine.dispose()


def test_an_unknown_job_is_not_found_and_jobs_are_for_operators(desk, run_services, rpc,
                                                                 real_time_clock):
    run_services(BillingService)
    base, headers = desk["base"], desk["headers"]
    sign(rpc, 1)
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    for job_id in ("billing-00000000-0000-0000-0000-000000000000",
                   "metering-00000000-0000-0000-0000-000000000000",
                   "payroll-00000000-0000-0000-0000-000000000000", "nonsense"):
        answer = requests.get(f"{base}/api/v1/operator/jobs/{job_id}", headers=headers,
                              timeout=10)
        assert answer.status_code == 404, (job_id, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert job_id in answer.json()["detail"]
    # a job that cannot be done fails with why (no VAT rate is known before 2009)
    failed = follow(base, headers, start_billing_run(base, headers, "2000-01"))
    assert failed["state"] == "failed" and "result" not in failed
    assert failed["error"] == "no VAT rate is valid on 2000-01-31"
    assert failed["finished_at"] is not None

    job = start_billing_run(base, headers, "2026-02")
    token = customer_token(base, desk["banks"], GRANDMOTHER, "Õie Mäger",
                           real_time_clock.now())
    as_customer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/api/v1/operator/jobs/{job['job_id']}", headers=as_customer,
                        timeout=10).status_code == 403
    assert requests.post(f"{base}/api/v1/operator/jobs/billing-run", headers=as_customer,
                         json={"period": "2026-02"}, timeout=10).status_code == 403
    assert requests.get(f"{base}/api/v1/operator/jobs/{job['job_id']}",
                        timeout=10).status_code == 401

    # metering down: the list has billing's jobs and says whose are missing
    desk["metering"].stop()
    listed = requests.get(f"{base}/api/v1/operator/jobs", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert listed.headers["Vool-Unavailable"] == "metering"
    assert {j["job_id"] for j in listed.json()} == {failed["job_id"], job["job_id"]}


@pytest.mark.both_stores
def test_the_imports_answer_as_before_or_as_jobs_when_preferred(desk, run_services, rpc,
                                                                config):
    run_services(BillingService)
    base, headers = desk["base"], desk["headers"]
    [customer] = sign(rpc, 1)
    billing_knows(rpc, [customer])
    statement = camt(*(ntry("5.00", ids=f"<AcctSvcrRef>J-{n}</AcctSvcrRef>",
                            booked="<BookgDt><Dt>2026-03-02</Dt></BookgDt>",
                            details=f"<NtryDtls>{tx(rmt=rmt)}</NtryDtls>")
                       for n, rmt in enumerate([
                           f"<RmtInf><Strd><CdtrRefInf><Ref>{customer['reference_no']}"
                           "</Ref></CdtrRefInf></Strd></RmtInf>", "", ""])))
    xml = {**headers, "Content-Type": "application/xml"}
    started = requests.post(f"{base}/api/v1/operator/bank-statements", data=statement,
                            headers={**xml, "Prefer": "respond-async, wait=5"}, timeout=30)
    assert started.status_code == 202, started.text
    assert started.headers["Preference-Applied"] == "respond-async"
    assert started.headers["Location"].endswith(started.json()["job_id"])
    assert started.json()["kind"] == "statement_import" and started.json()["total"] == 3
    job = follow(base, headers, started.json())
    assert job["state"] == "done" and (job["done"], job["total"]) == (3, 3)
    assert (job["result"]["entries"], job["result"]["matched"],
            len(job["result"]["unmatched"])) == (3, 1, 2)
    # once done, the statement (payers' names and accounts) is not kept with the job
    engine, jobs = jobs_table(config)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(jobs.c.arguments)
                            .where(jobs.c.job_id == job["job_id"])).scalar_one()
    engine.dispose()
    assert kept == {}
    # without the preference: the report, as outside clients have it (imported already)
    again = requests.post(f"{base}/api/v1/operator/bank-statements", data=statement,
                          headers=xml, timeout=30)
    assert again.status_code == 200 and again.json()["already_imported"] == 3

    lines = ["eic,reading_date,T1"] + [f"{customer_eic(customer, rpc)},2026-02-{d:02d},{1000 + d}"
                                       for d in (10, 20)] + ["unknown-eic,2026-02-10,5"]
    csv = {**headers, "Content-Type": "text/csv", "Prefer": "respond-async"}
    started = requests.post(f"{base}/api/v1/operator/readings/import",
                            data="\n".join(lines).encode(), headers=csv, timeout=30)
    assert started.status_code == 202, started.text
    assert started.json()["job_id"].startswith("metering-")
    job = follow(base, headers, started.json())
    assert job["state"] == "done" and (job["done"], job["total"]) == (3, 3)
    assert (job["result"]["accepted"], job["result"]["held"]) == (2, 0)
    assert [r["line"] for r in job["result"]["rejected"]] == [4]
    refused = requests.post(f"{base}/api/v1/operator/readings/import", data=b"a,b\n1,2",
                            headers=csv, timeout=30)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file"


def customer_eic(signed, rpc):
    return rpc.contracts.get_contract(signed["contract_no"])["consumption_point"]["eic"]


def test_vool_jobs_shows_the_progress_bar_and_the_result(desk, run_services, rpc, config):
    run_services(BillingService, VOOL_BILLING_RUN_CHUNK="1")
    base = desk["base"]
    customers = charged(rpc, sign(rpc, 3))
    env = {**os.environ, "VOOL_URL": base, "VOOL_OPERATOR": "desk",
           "VOOL_OPERATOR_PASSWORD": PASSWORD}
    with second_chunk_held(config, customers):
        cli = subprocess.Popen([sys.executable, "-m", "services.cli", "jobs", "--interval",
                                "0.05", "billing-run", "2026-02"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        job = wait_for(lambda: rpc.billing.recent_jobs(), timeout=30)[0]
        wait_for(lambda: _midway(base, desk["headers"], job["job_id"]))
        eventlet.sleep(0.5)    # the bar shows 1 of 3 meanwhile
    stdout, stderr = cli.communicate(timeout=60)
    done = subprocess.CompletedProcess(cli.args, cli.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr
    assert "billing_run billing-" in done.stderr
    assert "1/3" in done.stderr and "3/3" in done.stderr
    assert done.stderr.index("1/3") < done.stderr.index("3/3")
    assert "100%" in done.stderr and "done" in done.stderr
    assert '"invoices_issued": 3' in done.stdout
    assert PASSWORD not in done.stdout + done.stderr and "Bearer" not in done.stderr

    job_id = rpc.billing.recent_jobs()[0]["job_id"]
    status = subprocess.run([sys.executable, "-m", "services.cli", "jobs", "status", job_id],
                            env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "3/3" in status.stderr
    assert '"invoices_issued": 3' in status.stdout

    refused = subprocess.run([sys.executable, "-m", "services.cli", "jobs", "billing-run",
                              "2027-01"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "period" in refused.stderr
    unknown = subprocess.run([sys.executable, "-m", "services.cli", "jobs", "status",
                              "billing-00000000-0000-0000-0000-000000000000"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "404" in unknown.stderr


def test_the_progress_moves_while_the_run_is_under_way(desk, run_services, rpc, config):
    run_services(BillingService, VOOL_BILLING_RUN_CHUNK="1")
    base, headers = desk["base"], desk["headers"]
    customers = charged(rpc, sign(rpc, 3))
    with second_chunk_held(config, customers):
        job = start_billing_run(base, headers, "2026-02")
        midway = wait_for(lambda: _midway(base, headers, job["job_id"]),
                          message="the first chunk reported")
        assert midway["state"] == "running" and midway["total"] == 3
        assert "result" not in midway and midway["finished_at"] is None
    done = follow(base, headers, midway)
    assert done["state"] == "done" and (done["done"], done["total"]) == (3, 3)
    assert done["result"]["invoices_issued"] == 3


def charged(rpc, customers):
    """A reading each, priced: a charge for the run to bill."""
    for signed in customers:
        reading = rpc.metering.submit_reading({
            "consumption_point_id": signed["consumption_point_id"],
            "reading_date": "2026-02-15", "registers": {"T1": 1100}})
        wait_for(lambda: rpc.billing.get_charge(reading["reading_id"]), message="priced")
    return customers


@contextlib.contextmanager
def second_chunk_held(config, customers):
    """Hold the second contract's charge (PostgreSQL): a run in chunks of one reports
    the first chunk, then waits until this lets go."""
    second = sorted(c["contract_no"] for c in customers)[1]
    engine, _ = jobs_table(config)
    with engine.connect() as blocker:
        blocker.execute(sa.text("SELECT charge_id FROM charges WHERE contract_no = :no "
                                "FOR UPDATE"), {"no": second})
        yield
        blocker.rollback()
    engine.dispose()


def _midway(base, headers, job_id):
    job = _get(base, headers, job_id)
    return job if job and job["done"] == 1 else None


def test_a_billing_process_killed_mid_run_leaves_a_job_the_next_one_finishes(
        desk, run_services, rpc, config, tmp_path):
    base, headers = desk["base"], desk["headers"]
    env = {**os.environ, "AMQP_URI": config["AMQP_URI"], "VOOL_LOG_LEVEL": "WARNING",
           "VOOL_BILLING_DATABASE_URL": config["VOOL_BILLING_DATABASE_URL"],
           "VOOL_BILLING_RUN_CHUNK": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    with open(tmp_path / "billing.log", "wb") as log:
        billing = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config",
             str(PROJECT_ROOT / "deploy" / "config" / "nameko.yaml"),
             "services.billing.service"], cwd=PROJECT_ROOT, env=env, stdout=log,
            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _healthy(rpc), timeout=60, message="billing in its own process")
        customers = charged(rpc, sign(rpc, 3))
        with second_chunk_held(config, customers):
            job = start_billing_run(base, headers, "2026-02")
            midway = wait_for(lambda: _midway(base, headers, job["job_id"]),
                              message="the first chunk reported")
            wait_for(lambda: _state(config, job["job_id"])[1] == 1, message="progress stored")
            billing.send_signal(signal.SIGKILL)       # dies mid-run, nothing cleaned up
            billing.wait(timeout=10)
            assert _state(config, job["job_id"]) == ("running", 1, 1)   # as it was left
            run_services(BillingService, VOOL_JOB_POLL_INTERVAL="0.1")
        # the dead run's transaction is rolled back once its lock wait ends; the
        # next process runs the job again from the start, and bills each contract once
        done = follow(base, headers, midway)
    finally:
        if billing.poll() is None:
            billing.kill()
    assert done["state"] == "done" and (done["done"], done["total"]) == (3, 3)
    assert done["result"]["invoices_issued"] == 3
    assert len(invoices_of(rpc, customers, "2026-02")) == 3
    assert _state(config, job["job_id"]) == ("done", 3, 2)


def _state(config, job_id):
    """``(state, done, attempts)`` of a job in billing's database."""
    engine, jobs = jobs_table(config)
    with engine.connect() as conn:
        found = conn.execute(sa.select(jobs.c.state, jobs.c.done, jobs.c.attempts)
                             .where(jobs.c.job_id == job_id)).one()
    engine.dispose()
    return tuple(found)


def _healthy(rpc):
    try:
        return rpc.billing.health()["status"] == "ok"
    except Exception:   # not serving yet
        return False
