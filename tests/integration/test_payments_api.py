"""Payments through the gateway, on PostgreSQL and on SQLite: a camt.053 statement
imported (twice), what the customer sees of it, the payment book, the overdue sweep,
invoices paid through the bank (banklink 1012 and the test bank's reply)."""
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from services.billing.service import BillingService
from services.common.events import parse_event
from services.common.identifiers import make_reference_number
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import customer_token, make_banks
from tests.camt053 import camt, ntry, tx
from tests.conftest import wait_for
from tests.jobs import billing_run
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command


@pytest.fixture
def desk(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(datetime(2026, 4, 3, 9, tzinfo=timezone.utc))
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, VOOL_BANKS_FILE=str(banks.banks_file))
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    return base, desk_login(base), banks


def desk_login(base):
    token = requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": "correct-horse-battery"}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def invoiced(base, headers, rpc, customer_id, periods):
    """Bill each period until billing has heard of the contract (events)."""
    def billed():
        for period in periods:
            billing_run(base, headers, period)
        found = rpc.billing.invoices_of(customer_id)
        return found if len(found) == len(periods) else None
    return sorted(wait_for(billed), key=lambda i: i["invoice_no"])


def credit(amount, entry_id, reference):
    ref = (f"<RmtInf><Strd><CdtrRefInf><Ref>{reference}</Ref></CdtrRefInf></Strd></RmtInf>"
           if reference else "")
    return ntry(amount, booked="<BookgDt><Dt>2026-04-02</Dt></BookgDt>",
                ids=f"<AcctSvcrRef>{entry_id}</AcctSvcrRef>",
                details=f"<NtryDtls>{tx(debtor='<Dbtr><Nm>Õie Mäger</Nm></Dbtr>', rmt=ref)}"
                        "</NtryDtls>")


@pytest.mark.both_stores
def test_a_statement_pays_invoices_once_and_lists_what_it_cannot_match(desk, rpc, bus,
                                                                       real_time_clock):
    base, operator, banks = desk
    tap = bus.bind_tap("billing.events")
    signed = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    cid, reference = signed["customer_id"], signed["reference_no"]
    january, february, march = invoiced(base, operator, rpc, cid,
                                        ["2026-01", "2026-02", "2026-03"])
    totals = [Decimal(i["total"]) for i in (january, february, march)]
    amount = totals[0] + totals[1] + Decimal("1.00")      # two paid, one a euro towards
    wrong_digit = reference[:-1] + str((int(reference[-1]) + 1) % 10)
    statement = camt(credit(f"{amount:.2f}", "E-1", reference),
                     credit("5.00", "E-2", wrong_digit),
                     credit("7.00", "E-3", make_reference_number("99999")),
                     credit("9.00", "E-4", None))
    xml = {**operator, "Content-Type": "application/xml"}

    first = requests.post(f"{base}/api/v1/operator/bank-statements", headers=xml,
                          data=statement, timeout=30)
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["entries"], report["matched"], report["already_imported"]) == (4, 1, 0)
    assert [(u["entry_id"], u["reason"]) for u in report["unmatched"]] == [
        ("E-2", "the reference number's check digit is wrong"),
        ("E-3", "no contract has this reference number"),
        ("E-4", "no reference number")]

    again = requests.post(f"{base}/api/v1/operator/bank-statements", headers=xml,
                          data=statement, timeout=30).json()
    assert (again["matched"], again["already_imported"], again["unmatched"]) == (0, 4, [])

    def events():   # invoice_issued comes through the outbox relay, the rest at once
        seen.extend(parse_event(json.loads(body)) for _, body in bus.drain(tap))
        kinds = [e.event_type for e in seen]
        return (kinds.count("invoice_issued") == 3 and "payment_received" in kinds
                and kinds.count("invoice_paid") == 2)
    seen = []
    wait_for(events, timeout=15)
    issued = {e.data["invoice_no"]: e.data for e in seen if e.event_type == "invoice_issued"}
    # what was paid of it when it went out: nothing if the relay sent it before the
    # statement came, else all of it (the statement paid January in full)
    paid_when_sent = issued[january["invoice_no"]].pop("paid")
    assert paid_when_sent in ("0.00", january["total"])
    assert issued[january["invoice_no"]] == {
        "invoice_no": january["invoice_no"], "customer_id": cid,
        "contract_no": signed["contract_no"], "period": "2026-01", "issued_on": "2026-04-03",
        "due_on": january["due_on"], "reference_no": reference, "total": january["total"]}
    [received] = [e.data for e in seen if e.event_type == "payment_received"]
    assert (received["amount"], received["customer_id"]) == (f"{amount:.2f}", cid)
    assert sorted(e.data["invoice_no"] for e in seen if e.event_type == "invoice_paid") == [
        january["invoice_no"], february["invoice_no"]]

    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    customer = {"Authorization": f"Bearer {token}"}
    [payment] = requests.get(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                             timeout=10).json()
    assert payment["amount"] == f"{amount:.2f}" and payment["source"] == "statement"
    assert payment["reference_no"] == reference and payment["received_on"] == "2026-04-02"
    assert payment["invoice_nos"] == [i["invoice_no"] for i in (january, february, march)]
    assert "payment_id" in payment

    listed = {i["invoice_no"]: i for i in requests.get(
        f"{base}/api/v1/customers/{cid}/invoices?status=all", headers=customer,
        timeout=10).json()}
    assert [listed[i["invoice_no"]]["status"] for i in (january, february, march)] == [
        "paid", "paid", "unpaid"]
    assert listed[march["invoice_no"]]["paid"] == "1.00"

    unmatched = requests.get(f"{base}/api/v1/operator/payments?status=unmatched",
                             headers=operator, timeout=10).json()
    assert sorted(p["amount"] for p in unmatched) == ["5.00", "7.00", "9.00"]

    book = requests.get(f"{base}/api/v1/payment-books/{reference}", headers=customer,
                        timeout=10)
    assert book.status_code == 200, book.text
    book = book.json()
    assert (book["reference_no"], book["contract_no"]) == (reference, signed["contract_no"])
    assert book["consumption_point"]["id"] == signed["consumption_point_id"]
    assert (book["paid_total"], book["last_payment_on"]) == (f"{amount:.2f}", "2026-04-02")
    assert book["paid_up_to_reading"] == {"T1": 1000}    # no reading since the first one

    assert requests.get(f"{base}/api/v1/payment-books/{wrong_digit}", headers=customer,
                        timeout=10).status_code == 422

    # the overdue sweep: March's invoice was due 14 days after it was issued; a sweep
    # looks at most a day ahead, so the desk runs these on the days themselves
    due = datetime.fromisoformat(march["due_on"]).date()
    real_time_clock.set(datetime(due.year, due.month, due.day, 9, tzinfo=timezone.utc))
    operator = desk_login(base)      # two weeks on: yesterday's sessions have ended
    customer = {"Authorization": "Bearer " + customer_token(
        base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())}
    sweep = requests.post(f"{base}/api/v1/operator/jobs/overdue-sweep", headers=operator,
                          timeout=30, json={"as_of": due.isoformat()})
    assert sweep.json() == {"invoices_overdue": 0}
    after = due + timedelta(days=1)
    assert requests.post(f"{base}/api/v1/operator/jobs/overdue-sweep", headers=operator,
                         timeout=30, json={"as_of": (after + timedelta(days=1)).isoformat()}
                         ).status_code == 422          # the day after tomorrow: not yet
    sweep = requests.post(f"{base}/api/v1/operator/jobs/overdue-sweep", headers=operator,
                          timeout=30, json={"as_of": after.isoformat()})
    assert sweep.json() == {"invoices_overdue": 1}
    assert requests.post(f"{base}/api/v1/operator/jobs/overdue-sweep", headers=operator,
                         timeout=30, json={"as_of": after.isoformat()}).json() == {
        "invoices_overdue": 0}
    [late] = requests.get(f"{base}/api/v1/customers/{cid}/invoices?status=overdue",
                          headers=customer, timeout=10).json()
    assert late["invoice_no"] == march["invoice_no"]


@pytest.mark.both_stores
def test_a_payment_book_is_only_its_owners(desk, rpc, real_time_clock):
    base, operator, banks = desk
    hers = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD, name="Mari Mäger",
                                                 start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    invoiced(base, operator, rpc, hers["customer_id"], ["2026-01"])
    token = customer_token(base, banks, GRANDCHILD, "Mari Mäger", real_time_clock.now())
    stranger = {"Authorization": f"Bearer {token}"}
    answer = requests.get(f"{base}/api/v1/payment-books/{hers['reference_no']}",
                          headers=stranger, timeout=10)
    assert answer.status_code == 404
    assert requests.get(f"{base}/api/v1/payment-books/{hers['reference_no']}",
                        timeout=10).status_code == 401
    assert requests.get(f"{base}/api/v1/payment-books/{hers['reference_no']}",
                        headers=operator, timeout=10).status_code == 403


@pytest.mark.parametrize("body, status, field", [
    (b"<Document/>", 422, "statement"),
    (b"not xml at all", 422, "statement"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
     422, "statement"),
])
def test_a_statement_that_cannot_be_read_is_refused_whole(desk, body, status, field):
    base, operator, _ = desk
    answer = requests.post(f"{base}/api/v1/operator/bank-statements", data=body, timeout=30,
                           headers={**operator, "Content-Type": "application/xml"})
    assert answer.status_code == status, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert requests.post(f"{base}/api/v1/operator/bank-statements", data=body, timeout=30,
                         headers={**operator, "Content-Type": "text/csv"}).status_code == 415


@pytest.mark.both_stores
def test_paying_through_the_bank_records_the_payment_once_and_a_cancel_records_nothing(
        desk, rpc, real_time_clock):
    base, operator, banks = desk
    signed = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    cid = signed["customer_id"]
    january, february = invoiced(base, operator, rpc, cid, ["2026-01", "2026-02"])
    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    customer = {"Authorization": f"Bearer {token}"}

    def start(invoice_nos, bank="testbank"):
        return requests.post(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                             timeout=10, json={"bank": bank, "invoice_nos": invoice_nos})

    # she cancels at the bank: nothing is paid
    cancelled = start([february["invoice_no"]]).json()
    bank_reply = banks.bank.payment_reply(cancelled["fields"], banks.bank.check_request(
        cancelled["fields"]), paid=False, now=real_time_clock.now())
    back = requests.post(f"{base}/api/v1/payments/banklink/testbank/return", data=bank_reply,
                         timeout=10)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "cancelled"
    assert requests.get(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                        timeout=10).json() == []

    # she pays February's invoice only, though January's is older and open too
    form = start([february["invoice_no"]])
    assert form.status_code == 200, form.text
    form = form.json()
    fields = form["fields"]
    assert form["action"] == "http://127.0.0.1:8100/banklink" and form["method"] == "POST"
    assert (fields["VK_SERVICE"], fields["VK_AMOUNT"], fields["VK_REF"]) == (
        "1012", february["total"], signed["reference_no"])
    assert fields["VK_RETURN"].endswith("/api/v1/payments/banklink/testbank/return")
    merchant = banks.bank.check_request(fields)          # the bank accepts our signature
    paid = banks.bank.payment_reply(fields, merchant, paid=True, now=real_time_clock.now())
    back = requests.post(f"{base}/api/v1/payments/banklink/testbank/return", data=paid,
                         timeout=10)
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["invoice_nos"]) == (
        "paid", [february["invoice_no"]])
    # the bank's own call with the same reply (VK_AUTO=Y) records nothing more
    again = requests.post(f"{base}/api/v1/payments/banklink/testbank/return",
                          data={**paid, "VK_AUTO": "Y"}, timeout=10)
    assert again.json()["payment_id"] == back.json()["payment_id"]

    [payment] = requests.get(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                             timeout=10).json()
    assert (payment["source"], payment["amount"], payment["invoice_nos"]) == (
        "banklink", february["total"], [february["invoice_no"]])
    statuses = {i["invoice_no"]: i["status"] for i in requests.get(
        f"{base}/api/v1/customers/{cid}/invoices", headers=customer, timeout=10).json()}
    assert statuses == {january["invoice_no"]: "unpaid", february["invoice_no"]: "paid"}

    # a forged reply is refused, and a paid invoice cannot be paid again
    forged = {**paid, "VK_AMOUNT": "0.01"}
    assert requests.post(f"{base}/api/v1/payments/banklink/testbank/return", data=forged,
                         timeout=10).status_code == 401
    assert start([february["invoice_no"]]).status_code == 422
    assert start([january["invoice_no"]], bank="nobank").json()["errors"][0]["field"] == "bank"
    assert start([]).json()["errors"][0]["field"] == "invoice_nos"


@pytest.mark.both_stores
def test_two_invoices_paid_at_once_through_the_bank_are_one_payment_recorded_once(
        desk, rpc, real_time_clock):
    # the finding of issue #14: on SQLite this was a 500 after the bank took the money
    base, operator, banks = desk
    signed = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    cid = signed["customer_id"]
    january, february, march = invoiced(base, operator, rpc, cid,
                                        ["2026-01", "2026-02", "2026-03"])
    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    customer = {"Authorization": f"Bearer {token}"}
    chosen = [january["invoice_no"], march["invoice_no"]]
    total = Decimal(january["total"]) + Decimal(march["total"])
    form = requests.post(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                         timeout=10, json={"bank": "testbank", "invoice_nos": chosen})
    assert form.status_code == 200, form.text
    fields = form.json()["fields"]
    assert (fields["VK_SERVICE"], fields["VK_AMOUNT"]) == ("1012", f"{total:.2f}")
    paid = banks.bank.payment_reply(fields, banks.bank.check_request(fields), paid=True,
                                    now=real_time_clock.now())
    returns = f"{base}/api/v1/payments/banklink/testbank/return"
    back = requests.post(returns, data=paid, timeout=10)
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["invoice_nos"], back.json()["amount"]) == (
        "paid", chosen, f"{total:.2f}")
    for auto in ("Y", "N"):    # the bank's own call, and the browser's again
        again = requests.post(returns, data={**paid, "VK_AUTO": auto}, timeout=10)
        assert again.status_code == 200, again.text
        assert again.json()["payment_id"] == back.json()["payment_id"]

    [payment] = requests.get(f"{base}/api/v1/customers/{cid}/payments", headers=customer,
                             timeout=10).json()
    assert (payment["source"], payment["amount"], payment["invoice_nos"], payment["credit"]) == (
        "banklink", f"{total:.2f}", chosen, "0.00")
    listed = {i["invoice_no"]: (i["status"], i["paid"]) for i in requests.get(
        f"{base}/api/v1/customers/{cid}/invoices", headers=customer, timeout=10).json()}
    assert listed == {january["invoice_no"]: ("paid", january["total"]),
                      february["invoice_no"]: ("unpaid", "0.00"),
                      march["invoice_no"]: ("paid", march["total"])}


@pytest.mark.both_stores
def test_a_customer_cannot_pay_someone_elses_invoice(desk, rpc, real_time_clock):
    base, operator, banks = desk
    hers = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    mine = rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD,
                                                        name="Mari Mäger",
                                                        start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    [her_invoice] = invoiced(base, operator, rpc, hers["customer_id"], ["2026-01"])
    token = customer_token(base, banks, GRANDCHILD, "Mari Mäger", real_time_clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.post(f"{base}/api/v1/customers/{mine['customer_id']}/payments",
                           headers=headers, timeout=10,
                           json={"bank": "testbank", "invoice_nos": [her_invoice["invoice_no"]]})
    assert answer.status_code == 404
    assert requests.post(f"{base}/api/v1/customers/{hers['customer_id']}/payments",
                         headers=headers, timeout=10, json={
                             "bank": "testbank", "invoice_nos": [her_invoice["invoice_no"]]}
                         ).status_code == 404
