"""The whole OpenAPI document fuzzed by schemathesis against the running system:
anonymous, and as a customer, a delegate (a mandate holder) and an operator.
Every answer must be no server error, a status the document lists for the
operation, and a body that fits the schema it declares.

Bounded: a fixed seed, deterministic generation, a few examples per operation.
The run's figures (operations, test cases, failures) are printed, and kept in
``var/schemathesis/`` for a look at what failed."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import eventlet
import pytest
import requests

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from services.testbank.service import TestBankService
from tests import oidc_provider
from tests.banking import customer_token, make_banks
from tests.conftest import free_port, wait_for

GRANDMOTHER, GRANDCHILD = "44903136520", "60507120130"   # the demo's people
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
SEED = 20261203
EXAMPLES = int(os.environ.get("VOOL_FUZZ_EXAMPLES", "8"))
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
REPORTS = Path(__file__).resolve().parents[2] / "var" / "schemathesis"


@pytest.fixture
def system(run_services, config, rpc, tmp_path):
    """Every service and the gateway, the demo loaded, and a session for each kind
    of caller, with the ids their routes take."""
    banks = make_banks(tmp_path)
    # the OpenID Connect provider of a test bank of its own: a login can start
    bank_address = f"127.0.0.1:{free_port()}"
    bank_file, providers_file = oidc_provider.configure(
        tmp_path, bank_address, [], tmp_path / "bank.key.pem")
    run_services(TestBankService, WEB_SERVER_ADDRESS=bank_address,
                 VOOL_TESTBANK_ADDRESS=bank_address, VOOL_TESTBANK_CONFIG=str(bank_file))
    # a 503 is a service that did not answer in time: on a busy 2-core machine that
    # says nothing about the API, so the services get longer than in production
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, NotificationsService, VOOL_BANKS_FILE=str(banks.banks_file),
                 VOOL_OIDC_FILE=str(providers_file), VOOL_RPC_TIMEOUT=30)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    signed = rpc.contracts.load_demo()
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD) and rpc.identity.is_eligible(
        GRANDMOTHER), message="identity's copy of the demo")
    now = datetime.now(timezone.utc)
    grandmother = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", now)
    grandchild = customer_token(base, banks, GRANDCHILD, "Mari Mäger", now)
    rpc.identity.add_operator("fuzz", "admin", "correct-horse-battery-staple")
    operator = requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "fuzz", "password": "correct-horse-battery-staple"}).json()["token"]

    home = signed[0]        # her apartment in Tallinn
    cid, point = home["customer_id"], home["consumption_point_id"]
    her = {"Authorization": f"Bearer {grandmother}"}
    granted = requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=her, timeout=10,
                            json={"grantee_person_code": GRANDCHILD,
                                  "scopes": ["readings:write", "invoices:read", "contract:read",
                                             "feedback:write"],
                                  "consumption_point_ids": [point]})
    assert granted.status_code == 201, granted.text
    # something in each list, so that 2xx bodies are checked with content
    reading = requests.post(f"{base}/api/v1/customers/{cid}/consumption-points/{point}/readings",
                            headers=her, timeout=10, json={
                                "reading_date": now.date().isoformat(),
                                "registers": {"T1": 12100, "T2": 8050}})
    assert reading.status_code == 201, reading.text
    case = requests.post(f"{base}/api/v1/customers/{cid}/feedback", headers=her, timeout=10,
                         json={"kind": "question", "subject": "Meter", "body": "Where is it?"})
    assert case.status_code == 201, case.text
    ids = {"cid": cid, "cp": point, "contract_no": home["contract_no"],
           "reference_no": home["reference_no"], "reading_id": reading.json()["reading_id"],
           "case_id": case.json()["case_id"], "bank": "testbank"}
    # the desk works on the late husband's contract: what it does there (terminate
    # it, say) leaves the customers' runs alone, which go on beside it
    desk = {**ids, "contract_no": signed[2]["contract_no"]}
    return {"base": base, "callers": {
        "anonymous": (None, ids), "delegate": (grandchild, ids),
        "customer": (grandmother, ids), "operator": (operator, desk)}}


def fuzz(base, name, token, ids, folder):
    """Start one schemathesis run as one caller: the process and its log."""
    config = [f'base-url = "{base}"', f"seed = {SEED}",
              "[generation]", f"max-examples = {EXAMPLES}", "deterministic = true",
              'database = "none"',
              "[parameters]"] + [f'"path.{key}" = "{value}"' for key, value in ids.items()]
    if token:
        config.insert(2, f'headers = {{ Authorization = "Bearer {token}" }}')
    (folder / f"{name}.toml").write_text("\n".join(config) + "\n", encoding="utf-8")
    command = [str(SCHEMATHESIS), "--config-file", str(folder / f"{name}.toml"), "run",
               f"{base}/api/v1/openapi.json", "--checks", CHECKS,
               "--phases", "examples,coverage,fuzzing", "--workers", "1",
               "--request-timeout", "60", "--no-color", "--report", "json",
               "--report-json-path", str(folder / f"{name}.json")]
    if token:   # a logout would end the session the rest of the run uses
        command += ["--exclude-operation-id", "logout"]
    log = folder / f"{name}.log"
    with open(log, "w", encoding="utf-8") as output:
        # in its folder, where it keeps its cache
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   cwd=folder, env={**os.environ,
                                                    "SCHEMATHESIS_TELEMETRY": "false"})
    return process, log


def figures(report):
    """A run's JSON report: operations, test cases, failures."""
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.timeout(600)
def test_the_whole_api_fuzzed_as_every_kind_of_caller(system):
    REPORTS.mkdir(parents=True, exist_ok=True)
    runs = {name: fuzz(system["base"], name, token, ids, REPORTS)
            for name, (token, ids) in system["callers"].items()}
    deadline = time.monotonic() + 420
    while any(process.poll() is None for process, _ in runs.values()):
        eventlet.sleep(0.2)          # the gateway runs in this process: let it answer
        if time.monotonic() > deadline:
            for process, _ in runs.values():
                process.kill()
            raise AssertionError("schemathesis took more than 420 s")
    failed = {}
    for name, (process, log) in runs.items():
        output = log.read_text(encoding="utf-8")
        if process.returncode != 0:
            failed[name] = output[-8000:]
            continue
        report = figures(REPORTS / f"{name}.json")
        print(f"schemathesis as {name}: {report['operations']['tested']} operations, "
              f"{report['test_cases']['generated']} test cases, "
              f"{report['test_cases']['unique_failures']} failures, "
              f"{len(report['errors'])} errors, {report['running_time']:.0f} s")
        assert report["complete"] and report["operations"]["errored"] == 0, name
        assert report["test_cases"]["with_failures"] == 0 and not report["errors"], name
    assert not failed, "\n\n".join(f"== {name} ==\n{text}" for name, text in failed.items())
