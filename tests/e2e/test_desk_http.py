"""The service desk through the gateway: a customer's message, the desk's queue
with the customer's context, the reply, and the customer hearing back — in the
portal's inbox and by e-mail; and the outgoing messages operators watch."""
import pytest
import requests

from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.mail import mail_server, smtp_settings  # noqa: F401  (a fixture)
from tests.samples import GRANDMOTHER, contract_command

OIE = "oie@example.ee"


class Api:
    def __init__(self, base, token=None):
        self.base, self.token = base, token

    def __call__(self, method, path, **kwargs):
        return requests.request(method, f"{self.base}{path}", timeout=15,
                                headers={"Authorization": f"Bearer {self.token}"}, **kwargs)


def operator_api(base, rpc):
    rpc.identity.add_operator("desk", "desk", "correct-horse-battery")
    return Api(base, requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": "correct-horse-battery"}).json()["token"])


@pytest.fixture
def desk(run_services, config, rpc, tmp_path, real_time_clock, mail_server):
    """The gateway and the services the desk needs; an operator and a customer
    who reads her messages in English."""
    mail_server.start()
    banks = make_banks(tmp_path)
    containers = run_services(GatewayService, IdentityService, ContractsService,
                              NotificationsService, VOOL_BANKS_FILE=str(banks.banks_file),
                              **smtp_settings(mail_server))
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    operator = operator_api(base, rpc)
    command = contract_command(n=41)
    command["contact"].update(email=OIE, language="en")
    signed = operator("POST", "/api/v1/operator/contracts", json=command).json()
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER), message="identity's copy")
    customer = Api(base, customer_token(base, banks, GRANDMOTHER, "Õie Mäger",
                                        real_time_clock.now()))
    return {"operator": operator, "customer": customer, "cid": signed["customer_id"],
            "signed": signed, "containers": dict(zip(
                ("gateway", "identity", "contracts", "notifications"), containers))}


def test_a_question_to_the_desk_and_its_answer_back(desk, mail_server):
    customer, operator, cid = desk["customer"], desk["operator"], desk["cid"]
    feedback = f"/api/v1/customers/{cid}/feedback"

    bad = customer("POST", feedback, json={"kind": "praise", "subject": "", "body": "x"})
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in bad.json()["errors"]} == {"kind", "subject"}

    sent = customer("POST", feedback, json={
        "kind": "question", "subject": "Why is my invoice so high?",
        "body": "February's invoice is twice January's."})
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]

    queue = operator("GET", "/api/v1/operator/cases?status=open")
    assert queue.status_code == 200, queue.text
    [case] = [c for c in queue.json() if c["case_id"] == case_id]
    assert (case["kind"], case["status"], case["customer_id"]) == ("question", "open", cid)
    assert case["opened_by"] == GRANDMOTHER
    context = case["customer"]
    assert context["name"] == "Õie Mäger" and context["person_code"] == GRANDMOTHER
    assert context["contact"]["email"] == OIE
    assert [c["contract_no"] for c in context["contracts"]] == [desk["signed"]["contract_no"]]

    replied = operator("POST", f"/api/v1/operator/cases/{case_id}/reply", json={
        "body": "February had 28 cold days; the reading of 28 February was right."})
    assert replied.status_code == 200, replied.text
    assert replied.json()["status"] == "answered"
    assert all(c["case_id"] != case_id
               for c in operator("GET", "/api/v1/operator/cases?status=open").json())

    [mine] = customer("GET", feedback).json()
    assert (mine["case_id"], mine["status"], mine["subject"]) == (
        case_id, "answered", "Why is my invoice so high?")
    [answer] = mine["replies"]
    assert answer["body"].startswith("February had 28 cold days") and answer["at"]
    assert set(answer) == {"body", "at"}             # not which operator

    inbox = customer("GET", f"/api/v1/customers/{cid}/notifications").json()
    assert inbox[0]["kind"] == "case_answered" and not inbox[0]["read"]
    assert inbox[0]["subject"] == "Re: Why is my invoice so high?"
    assert "28 cold days" in inbox[0]["body"]
    marked = customer("POST", f"/api/v1/customers/{cid}/notifications/"
                              f"{inbox[0]['notification_id']}/read")
    assert marked.status_code == 204
    assert customer("GET", f"/api/v1/customers/{cid}/notifications").json()[0]["read"]

    [mail] = [m for m in mail_server.wait_for_messages(OIE, 2)
              if m["Subject"] == "Re: Why is my invoice so high?"]
    assert "The service desk has answered" in mail.get_content()
    assert "28 cold days" in mail.get_content()


def test_the_queue_comes_without_contracts_and_says_what_is_missing(desk):
    customer, operator, cid = desk["customer"], desk["operator"], desk["cid"]
    customer("POST", f"/api/v1/customers/{cid}/feedback", json={
        "kind": "proposal", "subject": "Paper invoices", "body": "Please stop them."})
    desk["containers"]["contracts"].kill()
    queue = operator("GET", "/api/v1/operator/cases")
    assert queue.status_code == 200, queue.text
    assert queue.headers["Vool-Unavailable"] == "contracts"
    [case] = [c for c in queue.json() if c["kind"] == "proposal"]
    assert case["customer"]["name"] == "Õie Mäger"             # notifications' own copy
    assert case["customer"]["contact"]["email"] == OIE
    assert case["customer"]["unavailable"] == ["person_code", "contracts"]


def test_a_reply_to_an_unknown_case_is_404_and_an_empty_one_422(desk):
    operator = desk["operator"]
    missing = operator("POST", "/api/v1/operator/cases/no-such-case/reply", json={"body": "Hi"})
    assert missing.status_code == 404
    empty = operator("POST", "/api/v1/operator/cases/no-such-case/reply", json={"body": ""})
    assert empty.status_code == 422
    customer = desk["customer"]
    assert customer("GET", "/api/v1/operator/cases").status_code == 403


def test_operators_see_the_messages_that_could_not_be_sent(run_services, config, rpc,
                                                           mail_server):
    run_services(GatewayService, IdentityService, ContractsService, NotificationsService,
                 **smtp_settings(mail_server, VOOL_DELIVERY_ATTEMPTS=1))   # nobody listens
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    operator = operator_api(base, rpc)
    signed = operator("POST", "/api/v1/operator/contracts", json=contract_command(n=42)).json()

    def failed():
        response = operator("GET", "/api/v1/operator/notifications?status=failed")
        assert response.status_code == 200, response.text
        return response.json()
    [delivery] = wait_for(failed, message="the delivery given up")
    assert (delivery["kind"], delivery["channel"], delivery["customer_id"]) == (
        "contract_signed", "email", signed["customer_id"])
    assert delivery["attempts"] == 1 and delivery["last_error"]
    assert operator("GET", "/api/v1/operator/notifications?status=lost").status_code == 422
