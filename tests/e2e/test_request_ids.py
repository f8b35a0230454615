"""One reading followed by its X-Request-ID through the JSON logs of the gateway,
metering, billing and notifications, and by its traceparent through the spans they
export over OTLP/HTTP (to a tiny receiver here); then a short load run's logs, at
DEBUG, hold none of the personal codes, session tokens, bank MACs and passwords it
used. `vool run` as `make run` starts it, on SQLite and a fresh virtual host."""
import gzip
import http.server
import json
import re
import secrets
import subprocess
import sys
import threading
import uuid
from datetime import date, timedelta

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)

from services.common.config import PROJECT_ROOT
from tests.browser import forms
from tests.conftest import wait_for
from tests.e2e.system import output, running_vool
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

OPERATOR = "desk-tracing"
OPERATOR_PASSWORD = "Correct-Horse-" + secrets.token_hex(8)
GRANDMOTHER_NAME = "Õie Mäger"
GRANDCHILD_NAME = "Mari Mäger"


class Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: every span it is sent, with its service's name."""
    spans = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = {a.key: a.value.string_value
                       for a in resource_spans.resource.attributes}.get("service.name")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append({"service": service, "name": span.name,
                                       "trace_id": span.trace_id.hex(),
                                       "span_id": span.span_id.hex(),
                                       "parent_span_id": span.parent_span_id.hex(),
                                       "kind": span.kind})
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def otlp():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def add_operator(env):
    subprocess.run([sys.executable, "-m", "services.cli", "operator", "add", OPERATOR,
                    "--role", "admin"], cwd=PROJECT_ROOT, check=True, timeout=60,
                   env={**env, "VOOL_OPERATOR_PASSWORD": OPERATOR_PASSWORD},
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def system(broker, tmp_path_factory, otlp):
    env = {"VOOL_LOG_FORMAT": "json", "VOOL_LOG_LEVEL": "DEBUG",
           "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with running_vool(broker, tmp_path_factory.mktemp("request-ids"), args=["--no-demo"],
                      env_extra=env, before_start=add_operator) as run:
        wait_for(lambda: "gateway on http" in output(run), timeout=60,
                 message=f"vool run to start; it said {output(run)[-2000:]}")
        wait_for(lambda: answers(run), timeout=90, interval=0.5,
                 message=f"every service to answer; vool said {output(run)[-3000:]}")
        yield run


def answers(run):
    try:
        return requests.get(f"{run['gateway']}/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def json_lines(run):
    """The services' JSON log lines (vool's own lines are text)."""
    lines = []
    for line in output(run).splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:   # two processes' lines can meet in one shared file
                pass
    return lines


def operator_session(gateway):
    response = requests.post(f"{gateway}/api/v1/operator/login", timeout=10, json={
        "username": OPERATOR, "password": OPERATOR_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def bank_login(gateway, person_code, name):
    """Through the test bank's own pages, typing the person in; the session's token
    and the MACs of the bank's request and reply."""
    browser = requests.Session()
    start = browser.post(f"{gateway}/api/v1/auth/banklink/testbank/start", timeout=10).json()
    bank_page = browser.post(start["action"], data=start["fields"], timeout=10)
    [login] = forms(bank_page.text, start["action"])
    reply_page = browser.post(login["action"], data={
        **login["fields"], "typed_code": person_code, "typed_name": name}, timeout=10)
    [reply] = forms(reply_page.text, login["action"])
    session = browser.post(reply["action"], data=reply["fields"], timeout=10)
    assert session.status_code == 200, session.text
    return session.json(), [start["fields"]["VK_MAC"], reply["fields"]["VK_MAC"]]


def sign_contract(gateway, operator, person_code, name, n):
    command = contract_command(n=n, person_code=person_code, name=name,
                               start_date=str(date.today() - timedelta(days=45)))
    signed = requests.post(f"{gateway}/api/v1/operator/contracts", json=command,
                           headers=operator, timeout=10)
    assert signed.status_code == 201, signed.text
    return signed.json()


@pytest.fixture(scope="module")
def customer(system):
    """The grandmother with a contract, logged in through the test bank."""
    gateway = system["gateway"]
    operator = operator_session(gateway)
    signed = sign_contract(gateway, operator, GRANDMOTHER, GRANDMOTHER_NAME, 9101)
    session, macs = wait_for(lambda: _login_once_known(gateway, GRANDMOTHER, GRANDMOTHER_NAME),
                             timeout=30, interval=0.5,
                             message="identity to learn the grandmother's contract")
    return {"signed": signed, "session": session, "macs": macs, "operator": operator,
            "headers": {"Authorization": f"Bearer {session['token']}"}}


def _login_once_known(gateway, person_code, name):
    try:
        return bank_login(gateway, person_code, name)
    except AssertionError:   # 403 until identity has the contract
        return None


def submit_reading(system, customer, registers, request_id=None, traceparent=None,
                   days_ago=0):
    signed = customer["signed"]
    headers = {**customer["headers"], "Idempotency-Key": uuid.uuid4().hex}
    if request_id:
        headers["X-Request-ID"] = request_id
    if traceparent:
        headers["traceparent"] = traceparent
    response = requests.post(
        f"{system['gateway']}/api/v1/customers/{signed['customer_id']}/consumption-points/"
        f"{signed['consumption_point_id']}/readings", headers=headers, timeout=10,
        json={"reading_date": str(date.today() - timedelta(days=days_ago)),
              "registers": registers})
    assert response.status_code == 201, response.text
    return response


def test_one_reading_is_followed_through_the_logs_and_one_trace(system, customer, otlp):
    request_id = f"reading-{uuid.uuid4().hex[:12]}"
    trace_id, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    response = submit_reading(system, customer, {"T1": 1200}, request_id,
                              f"00-{trace_id}-{parent_span}-01", days_ago=20)
    assert response.headers["X-Request-ID"] == request_id
    reading_id = response.json()["reading_id"]
    with ClusterRpcProxy({"AMQP_URI": system["amqp_uri"]}, timeout=10) as rpc:
        wait_for(lambda: rpc.billing.get_charge(reading_id), timeout=30,
                 message="billing to charge the reading")

    def services_with_the_id():
        return {line.get("service") for line in json_lines(system)
                if line.get("request_id") == request_id}
    wanted = {"gateway", "metering", "billing", "notifications"}
    wait_for(lambda: wanted <= services_with_the_id(), timeout=30,
             message=f"lines with {request_id} from each of {wanted}")
    ours = [line for line in json_lines(system) if line.get("request_id") == request_id]
    # each says what it handled, in one INFO line; the trace's ids are on the lines too
    handled = {(line["service"], line["message"].split(" in ")[0]) for line in ours
               if line["level"] == "INFO" and line["message"].startswith("handled ")}
    assert ("metering", "handled rpc submit_reading") in handled
    assert ("billing", "handled metering.reading_submitted by on_reading_submitted") in handled
    assert any(s == "notifications" and m.startswith("handled metering.reading_submitted")
               for s, m in handled), handled
    assert any(line["service"] == "gateway" and line["level"] == "INFO"
               and line["message"].startswith("POST /api/v1/customers/<cid>/") for line in ours)
    assert {line.get("trace_id") for line in ours} == {trace_id}

    # the spans: one trace, continuing the client's traceparent
    def spans_of_trace():
        return [s for s in Receiver.spans if s["trace_id"] == trace_id]
    wait_for(lambda: {"gateway", "metering", "billing", "notifications"} <= {
        s["service"] for s in spans_of_trace()}, timeout=30,
        message=f"spans of every service; got {Receiver.spans[-20:]}")
    spans = spans_of_trace()
    names = {(s["service"], s["name"]) for s in spans}
    assert ("gateway", "POST /api/v1/customers/<cid>/consumption-points/<cp>/readings") in names
    assert ("gateway", "metering.submit_reading") in names           # the RPC's client span
    assert ("metering", "metering.submit_reading") in names          # and its server span
    assert ("billing", "process metering.reading_submitted") in names
    [http_span] = [s for s in spans if s["name"].startswith("POST ")]
    assert http_span["parent_span_id"] == parent_span
    by_id = {s["span_id"]: s for s in spans}
    [server] = [s for s in spans if s["service"] == "metering" and s["name"] == "metering.submit_reading"]
    assert by_id[server["parent_span_id"]]["service"] == "gateway"   # gateway → metering
    [billed] = [s for s in spans if s["service"] == "billing"
                and s["name"] == "process metering.reading_submitted"]
    assert by_id[billed["parent_span_id"]]["service"] == "metering"  # metering → billing


def test_a_request_without_an_id_gets_one_and_errors_answer_with_theirs(system):
    gateway = system["gateway"]
    made = requests.get(f"{gateway}/api/v1/nothing-here", timeout=10)
    assert made.status_code == 404
    assert re.fullmatch(r"[0-9a-f-]{36}", made.headers["X-Request-ID"])
    kept = requests.get(f"{gateway}/api/v1/me", headers={"X-Request-ID": "abc.DEF_1-2"},
                        timeout=10)
    assert kept.status_code == 401 and kept.headers["X-Request-ID"] == "abc.DEF_1-2"
    refused = requests.get(f"{gateway}/api/v1/me", headers={"X-Request-ID": "a b\"c"},
                           timeout=10)
    assert refused.headers["X-Request-ID"] != "a b\"c"
    assert re.fullmatch(r"[0-9a-f-]{36}", refused.headers["X-Request-ID"])


def test_a_load_run_logs_no_personal_code_token_mac_or_password(system, customer):
    gateway = system["gateway"]
    secrets_used = {GRANDMOTHER, GRANDCHILD, OPERATOR_PASSWORD, *customer["macs"],
                    customer["session"]["token"], customer["operator"]["Authorization"][7:]}
    operator = customer["operator"]
    signed = customer["signed"]
    cid = signed["customer_id"]
    # a second customer, her grandchild, and logins of both
    sign_contract(gateway, operator, GRANDCHILD, GRANDCHILD_NAME, 9102)
    grandchild, macs = wait_for(lambda: _login_once_known(gateway, GRANDCHILD, GRANDCHILD_NAME),
                                timeout=30, interval=0.5, message="the grandchild's login")
    secrets_used |= {grandchild["token"], *macs}
    again, macs = bank_login(gateway, GRANDMOTHER, GRANDMOTHER_NAME)
    secrets_used |= {again["token"], *macs}
    headers = {"Authorization": f"Bearer {again['token']}"}

    # and one through the portal's pages, with its session cookie
    browser = requests.Session()
    [to_bank] = forms(browser.post(f"{gateway}/login/testbank", timeout=10).text)
    bank_page = browser.post(to_bank["action"], data=to_bank["fields"], timeout=10)
    [login] = forms(bank_page.text, to_bank["action"])
    reply_page = browser.post(login["action"], data={
        **login["fields"], "typed_code": GRANDMOTHER, "typed_name": GRANDMOTHER_NAME},
        timeout=10)
    [reply] = forms(reply_page.text, login["action"])
    home = browser.post(reply["action"], data=reply["fields"], timeout=10)
    assert GRANDMOTHER_NAME in home.text, home.text[:500]
    secrets_used |= {browser.cookies["vool_session"], to_bank["fields"]["VK_MAC"],
                     reply["fields"]["VK_MAC"]}
    assert browser.get(f"{gateway}/", timeout=10).status_code == 200

    submit_reading(system, customer, {"T1": 1300}, days_ago=10)
    submit_reading(system, customer, {"T1": 1350}, days_ago=5)
    # a refused reading, a refused token and a refused password are logged too
    bad = requests.post(
        f"{gateway}/api/v1/customers/{cid}/consumption-points/{signed['consumption_point_id']}"
        "/readings", headers={**headers, "Idempotency-Key": "k-1"}, timeout=10,
        json={"reading_date": str(date.today()), "registers": {"T1": 10}})
    assert bad.status_code == 422, bad.text
    forged = "vs_" + secrets.token_urlsafe(24)
    secrets_used.add(forged)
    assert requests.get(f"{gateway}/api/v1/me", headers={"Authorization": f"Bearer {forged}"},
                        timeout=10).status_code == 401
    wrong_password = "Wrong-" + secrets.token_hex(8)
    secrets_used.add(wrong_password)
    assert requests.post(f"{gateway}/api/v1/operator/login", timeout=10, json={
        "username": OPERATOR, "password": wrong_password}).status_code == 401
    contact = requests.put(f"{gateway}/api/v1/customers/{cid}/contact", headers=headers,
                           json={"phone": "+37255500011", "email": "oie.uus@example.ee"},
                           timeout=10)
    assert contact.status_code == 200, contact.text
    mandate = requests.post(f"{gateway}/api/v1/customers/{cid}/mandates", headers=headers,
                            json={"grantee_person_code": GRANDCHILD,
                                  "scopes": ["invoices:read", "readings:write"]}, timeout=10)
    assert mandate.status_code == 201, mandate.text
    # an invoice, and paying it through the test bank
    period = date.today().strftime("%Y-%m")
    run_id = f"billing-run-{uuid.uuid4().hex[:8]}"
    run = requests.post(f"{gateway}/api/v1/operator/jobs/billing-run", timeout=60,
                        headers={**operator, "X-Request-ID": run_id}, json={"period": period})
    assert run.status_code == 202, run.text
    # its invoice_issued events, published later by a timer, still carry the run's id
    wait_for(lambda: any(
        line.get("service") == "notifications" and line.get("request_id") == run_id
        and line["message"].startswith("handled billing.invoice_issued")
        for line in json_lines(system)), timeout=30,
        message="notifications to handle the run's invoice_issued under its id")
    invoices = wait_for(lambda: requests.get(f"{gateway}/api/v1/customers/{cid}/invoices",
                                             headers=headers, timeout=10).json() or None,
                        timeout=60, message="the invoice")
    pay = requests.post(f"{gateway}/api/v1/customers/{cid}/payments", headers=headers,
                        json={"bank": "testbank",
                              "invoice_nos": [invoices[0]["invoice_no"]]}, timeout=10)
    assert pay.status_code == 200, pay.text
    form = pay.json()
    secrets_used.add(form["fields"]["VK_MAC"])
    bank_page = requests.post(form["action"], data=form["fields"], timeout=10)
    [paid, *_] = forms(bank_page.text, form["action"])
    reply_page = requests.post(paid["action"], data=paid["fields"], timeout=10)
    [reply, *_] = forms(reply_page.text, paid["action"])
    secrets_used.add(reply["fields"]["VK_MAC"])
    back = requests.post(reply["action"], data=reply["fields"], timeout=10)
    assert back.status_code < 400, back.text
    requests.post(f"{gateway}/api/v1/auth/logout", headers=headers, timeout=10)
    wait_for(lambda: any("handled rpc" in line.get("message", "") and
                         line.get("service") == "notifications" for line in json_lines(system)),
             timeout=10, message="notifications to have handled something")

    text = output(system)
    assert len(text.splitlines()) > 200, "a DEBUG run logs more than this"
    leaks = {secret: [line[:400] for line in text.splitlines() if secret in line][:3]
             for secret in secrets_used if secret in text}
    assert not leaks, leaks
    # and not because the safety net (services/common/logs.py RedactSecrets) hid them:
    # no module logged them in the first place
    caught = [line[:400] for line in text.splitlines()
              if "<personal code>" in line or "Bearer <token>" in line]
    assert not caught, caught
