"""Payments on SQLite: matching by reference number, oldest invoice first, credit,
once per bank identifier, the overdue sweep. PostgreSQL runs the same code in
tests/integration/test_payments_api.py."""
from datetime import date, datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from services.billing import issued, overdue, payments, runs
from services.billing.models import invoices, metadata, tariff_components, tariff_plans, vat_rates
from services.common.identifiers import make_reference_number
from tests.unit.fakes import FakeDatabase

REFERENCE = make_reference_number("1000123")
OTHER_REFERENCE = make_reference_number("1000456")


def billing_db():
    db = FakeDatabase(metadata, "billing")
    db.clock.set(datetime(2026, 5, 3, 9, tzinfo=timezone.utc))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(tariff_plans).values(code="BASIC", name="Basic"))
        conn.execute(sa.insert(tariff_components).values(
            tariff_plan="BASIC", kind="monthly_fee", register=None, price=Decimal("10.00"),
            valid_from=date(2024, 1, 1)))
        conn.execute(sa.insert(vat_rates).values(valid_from=date(2025, 7, 1),
                                                 rate=Decimal("24.00")))
    with db.unit_of_work() as uow:
        runs.record_contract(uow, {"contract_no": "VL-1", "customer_id": "c-1",
                                   "reference_no": REFERENCE, "tariff_plan": "BASIC",
                                   "start_date": "2026-01-01"})
    return db


def bill(db, *periods):
    """Invoices of 12.40 each (10.00 fee + 24 % VAT), one per period."""
    for period in periods:
        with db.unit_of_work() as uow:
            runs.run(uow, period, due_days=14)
    with db.unit_of_work() as uow:
        return sorted(runs.invoices_of(uow, "c-1"), key=lambda i: i["invoice_no"])


def pay(db, amount, entry="E1", reference=REFERENCE, currency="EUR"):
    with db.unit_of_work() as uow:
        return payments.receive(uow, [payments.Incoming(
            source="statement", external_id=f"statement:EE00:{entry}", amount=Decimal(amount),
            currency=currency, received_on=date(2026, 5, 2), reference_no=reference,
            payer_name="Õie Mäger")])


def statuses(db):
    with db.unit_of_work() as uow:
        return [(i["paid"], i["status"]) for i in
                sorted(runs.invoices_of(uow, "c-1"), key=lambda i: i["invoice_no"])]


def test_one_payment_is_spread_over_three_invoices_oldest_first():
    db = billing_db()
    first, second, third = bill(db, "2026-01", "2026-02", "2026-03")
    assert [i["total"] for i in (first, second, third)] == ["12.40"] * 3

    [outcome] = pay(db, "30.00")
    assert outcome["matched"] and not outcome["duplicate"]

    assert statuses(db) == [("12.40", "paid"), ("12.40", "paid"), ("5.20", "unpaid")]
    paid_events = db.events("invoice_paid")
    assert [e["data"]["invoice_no"] for e in paid_events] == [
        first["invoice_no"], second["invoice_no"]]
    [received] = db.events("payment_received")
    assert received["data"]["invoice_nos"] == [
        first["invoice_no"], second["invoice_no"], third["invoice_no"]]
    assert received["data"]["amount"] == "30.00" and received["data"]["credit"] == "0.00"
    with db.unit_of_work() as uow:
        [listed] = payments.payments_of(uow, "c-1")
    assert (listed["amount"], listed["source"], listed["reference_no"]) == (
        "30.00", "statement", REFERENCE)


def test_an_overpayment_stays_as_credit_and_pays_the_next_invoice():
    db = billing_db()
    bill(db, "2026-01")
    pay(db, "20.00")
    with db.unit_of_work() as uow:
        [listed] = payments.payments_of(uow, "c-1")
    assert listed["credit"] == "7.60"

    bill(db, "2026-02")                 # 12.40, of which the credit pays 7.60
    assert statuses(db) == [("12.40", "paid"), ("7.60", "unpaid")]
    pay(db, "4.80", entry="E2")
    assert statuses(db) == [("12.40", "paid"), ("12.40", "paid")]
    db.outbox.relay(grace_seconds=0)    # the run's events travel through the relay
    assert len(db.events("invoice_paid")) == 2


def test_credit_pays_a_whole_new_invoice_in_the_billing_run():
    db = billing_db()
    pay(db, "50.00")                    # before any invoice: all of it is credit
    bill(db, "2026-01")
    assert statuses(db) == [("12.40", "paid")]
    db.outbox.relay(grace_seconds=0)
    [paid] = db.events("invoice_paid")
    assert (paid["data"]["total"], paid["data"]["paid"]) == ("12.40", "12.40")
    issued.publish_pending(db.engine, db.published, db.clock)
    assert [e["data"]["total"] for e in db.events("invoice_issued")] == ["12.40"]
    with db.unit_of_work() as uow:
        assert payments.payments_of(uow, "c-1")[0]["credit"] == "37.60"


def test_the_same_payment_twice_changes_nothing():
    db = billing_db()
    bill(db, "2026-01", "2026-02")
    pay(db, "12.40")
    [again] = pay(db, "12.40")
    assert again["duplicate"]
    assert statuses(db) == [("12.40", "paid"), ("0.00", "unpaid")]
    assert len(db.events("payment_received")) == 1


def test_a_payment_that_matches_nothing_is_kept_unmatched_never_guessed():
    db = billing_db()
    bill(db, "2026-01")
    wrong_digit = REFERENCE[:-1] + str((int(REFERENCE[-1]) + 1) % 10)
    outcomes = [pay(db, "12.40", entry="A", reference=wrong_digit)[0],
                pay(db, "12.40", entry="B", reference=OTHER_REFERENCE)[0],
                pay(db, "12.40", entry="C", reference=None)[0],
                pay(db, "12.40", entry="D", currency="USD")[0]]
    assert [o["matched"] for o in outcomes] == [False] * 4
    assert [o["reason"] for o in outcomes] == [
        "the reference number's check digit is wrong", "no contract has this reference number",
        "no reference number", "paid in USD, not EUR"]
    assert statuses(db) == [("0.00", "unpaid")]
    with db.unit_of_work() as uow:
        unmatched = payments.unmatched_payments(uow)
        assert payments.payments_of(uow, "c-1") == []
    assert sorted(p["external_id"][-1] for p in unmatched) == ["A", "B", "C", "D"]
    assert db.events("payment_received") == []


def test_the_overdue_sweep_marks_each_late_invoice_once():
    db = billing_db()
    first, second = bill(db, "2026-03", "2026-04")     # both due 2026-05-17
    pay(db, "12.40")                                     # pays the older one
    with db.unit_of_work() as uow:
        assert overdue.sweep(uow, date(2026, 5, 17)) == {"invoices_overdue": 0}  # due today
        assert overdue.sweep(uow, date(2026, 5, 18)) == {"invoices_overdue": 1}
    with db.unit_of_work() as uow:
        assert overdue.sweep(uow, date(2026, 5, 19)) == {"invoices_overdue": 0}
    assert statuses(db) == [("12.40", "paid"), ("0.00", "overdue")]
    db.outbox.relay(grace_seconds=0)
    [late] = db.events("invoice_overdue")
    assert late["data"] == {"invoice_no": second["invoice_no"], "customer_id": "c-1",
                            "contract_no": "VL-1", "reference_no": REFERENCE,
                            "due_on": "2026-05-17", "total": "12.40", "paid": "0.00",
                            "as_of": "2026-05-18"}
    pay(db, "12.40", entry="E2")                         # paid late is still paid
    assert statuses(db) == [("12.40", "paid"), ("12.40", "paid")]
    with db.unit_of_work() as uow:
        assert [i["status"] for i in runs.invoices_of(uow, "c-1", "overdue")] == []


def test_an_invoice_with_nothing_to_pay_is_paid_at_once():
    db = billing_db()
    with db.engine.begin() as conn:   # a plan priced at nothing (no prices at all is unpriceable)
        conn.execute(sa.update(tariff_components).values(price=0))
    [empty] = bill(db, "2026-01")
    assert (empty["total"], empty["status"]) == ("0.00", "paid")
    assert issued.publish_pending(db.engine, db.published, db.clock) == 0
    assert db.events("invoice_issued") == []
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(invoices)).scalar() == 1
