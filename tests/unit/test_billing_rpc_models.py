"""billing's and notifications' published RPC models (services/<service>/api.py):
what a caller may send, the field a refusal names, money as text on the wire, and
that the domain's answers fit the published result models."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from services.billing import api as billing
from services.billing import bank_payments, payments, runs, tariffs
from services.common.errors import ValidationFailed
from services.common.rpc_methods import ResultCheckFailed, methods_of
from services.notifications import api as notifications
from tests.unit.test_payments import REFERENCE, bill, billing_db


@pytest.fixture(autouse=True)
def checked(monkeypatch):
    monkeypatch.setenv("VOOL_CHECK_RPC_RESULTS", "1")


def refused_field(method, *args, **kwargs):
    with pytest.raises(ValidationFailed) as refused:
        method.bind(args, kwargs)
    return refused.value.errors[0]["field"]


def test_every_method_of_both_services_is_published():
    assert len(methods_of(billing)) == 24 and len(methods_of(notifications)) == 11
    assert {m.service for m in methods_of(billing)} == {"billing"}
    assert {m.service for m in methods_of(notifications)} == {"notifications"}


def test_a_refusal_names_the_field_as_the_callers_know_it():
    assert refused_field(billing.billing_run, "2026-13") == "period"
    assert refused_field(billing.add_tariff, {"code": "X", "components": [
        {"kind": "energy", "price": "0.1234567", "valid_from": "2026-01-01"}]}) == (
        "components.0.price")
    assert refused_field(billing.add_vat_rate, {"rate": "120", "valid_from": "2027-01-01"}) == (
        "rate")
    assert refused_field(billing.invoices_of, "c-1", "late") == "status"
    assert refused_field(billing.overdue_sweep, "tomorrow") == "as_of"
    assert refused_field(notifications.open_case, "c-1", {
        "kind": "praise", "subject": "s", "body": "b"}, "38001010000") == "kind"
    assert refused_field(notifications.deliveries, "lost") == "status"


def test_money_travels_as_text_with_two_decimals():
    reply = {"status": "paid", "stamp": "7", "reference_no": REFERENCE, "message": "Arve",
             "amount": "12.40", "currency": "EUR", "transaction_no": "1",
             "paid_at": "2026-05-03T12:00:00+03:00", "payer_name": "Õie Mäger",
             "payer_account": "EE382200221020145685", "auto": False}
    wire = billing.finish_bank_payment.wire_kwargs("testbank", reply)
    assert wire["reply"]["amount"] == "12.40"
    assert billing.finish_bank_payment.bind((), wire).reply.amount == Decimal("12.40")
    assert refused_field(billing.finish_bank_payment, "testbank",
                         {**reply, "amount": 12.4}) == "amount"      # a float is no amount
    with pytest.raises(ResultCheckFailed):
        billing.overdue_sweep.check_result({"invoices_overdue": "many"})
    with pytest.raises(ResultCheckFailed):
        billing.billing_run.check_result({"invoices_issued": 1, "total": 12.4,
                                          "unpriceable": []})


def test_the_domains_answers_fit_the_published_results():
    db = billing_db()
    [invoice] = bill(db, "2026-01")
    billing.invoices_of.check_result([invoice])
    with db.unit_of_work() as uow:
        billing.get_invoice.check_result(runs.invoice(uow, invoice["invoice_no"], "c-1"))
        billing.list_tariffs.check_result(tariffs.tariffs(uow))
        billing.list_vat_rates.check_result(tariffs.list_vat_rates(uow))
        order = bank_payments.start(uow, "c-1", [invoice["invoice_no"]], "testbank", "me")
    billing.start_bank_payment.check_result(order)
    reply = billing.BankReply(status="paid", stamp=order["stamp"], reference_no=REFERENCE,
                              amount=order["amount"], currency="EUR",
                              paid_at=datetime(2026, 5, 3, 9, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        paid = bank_payments.finish(uow, "testbank", reply)
    assert billing.finish_bank_payment.result_of(paid).amount == Decimal("12.40")
    with db.unit_of_work() as uow:
        [payment] = payments.payments_of(uow, "c-1")
    assert billing.payments_of.result_of([payment])[0].received_on == date(2026, 5, 3)
