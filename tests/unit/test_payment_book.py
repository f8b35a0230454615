"""The payment book against a computation by hand: which reading the money reaches."""
from datetime import date, datetime, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pytest
import sqlalchemy as sa

from services.billing import payment_book, payments, pricing, runs
from services.billing.models import metadata, tariff_components, tariff_plans, vat_rates
from services.common.errors import NotFound, ValidationFailed
from services.common.identifiers import make_reference_number
from tests.unit.fakes import FakeDatabase

REFERENCE = make_reference_number("2000017")


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "billing")
    db.clock.set(datetime(2026, 3, 3, 9, tzinfo=timezone.utc))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(tariff_plans).values(code="DAYNIGHT", name="Day and night"))
        conn.execute(sa.insert(tariff_components), [
            {"tariff_plan": "DAYNIGHT", "kind": "energy", "register": "T1",
             "price": Decimal("0.10"), "valid_from": date(2024, 1, 1)},
            {"tariff_plan": "DAYNIGHT", "kind": "energy", "register": "T2",
             "price": Decimal("0.05"), "valid_from": date(2024, 1, 1)},
            {"tariff_plan": "DAYNIGHT", "kind": "monthly_fee", "register": None,
             "price": Decimal("10.00"), "valid_from": date(2024, 1, 1)}])
        conn.execute(sa.insert(vat_rates).values(valid_from=date(2025, 7, 1),
                                                 rate=Decimal("24.00")))
    with db.unit_of_work() as uow:
        runs.record_contract(uow, {"contract_no": "VL-7", "customer_id": "c-7",
                                   "reference_no": REFERENCE, "tariff_plan": "DAYNIGHT",
                                   "start_date": "2026-01-01", "consumption_point_id": "cp-7",
                                   "initial_readings": {"T1": 99900, "T2": 500}})
    # initial readings on 2026-01-01: T1 99900 on a 5-digit register, T2 500
    reading(db, "r1", "2026-01-01", "2026-01-31", {"T1": 99990, "T2": 530}, {"T1": 90, "T2": 30})
    reading(db, "r2", "2026-01-31", "2026-02-28", {"T1": 190, "T2": 590}, {"T1": 200, "T2": 60})
    with db.unit_of_work() as uow:
        runs.run(uow, "2026-01", due_days=14)     # bills r1 and January's fee
    return db


def reading(db, reading_id, previous, on, registers, consumption):
    with db.unit_of_work() as uow:
        pricing.charge_reading(uow, {
            "reading_id": reading_id, "consumption_point_id": "cp-7", "contract_no": "VL-7",
            "customer_id": "c-7", "tariff_plan": "DAYNIGHT", "reading_date": on,
            "previous_reading_date": previous, "registers": registers,
            "register_digits": {"T1": 5, "T2": 6}, "consumption": consumption})


def paid(db, amount):
    with db.unit_of_work() as uow:
        payments.receive(uow, [payments.Incoming(
            source="statement", external_id=f"statement:EE00:{amount}", amount=Decimal(amount),
            currency="EUR", received_on=date(2026, 3, 2), reference_no=REFERENCE)])


def book(db, customers=("c-7",)):
    with db.unit_of_work() as uow:
        return payment_book.payment_book(uow, REFERENCE, list(customers))


def cents(x):
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_money_runs_out_inside_the_second_interval(db):
    paid(db, "40.00")
    # by hand: what each thing costs with 24 % VAT, in the order it was incurred
    first = cents((90 * Decimal("0.10") + 30 * Decimal("0.05")) * Decimal("1.24"))   # 13.02
    january_fee = cents(Decimal("10.00") * Decimal("1.24"))                           # 12.40
    second = cents((200 * Decimal("0.10") + 60 * Decimal("0.05")) * Decimal("1.24"))  # 28.52
    left = Decimal("40.00") - first - january_fee                                     # 14.58
    share = left / second                                                             # 0.5112..
    t1 = (99990 + int((200 * share).to_integral_value(ROUND_FLOOR))) % 10**5         # rolls over
    t2 = 530 + int((60 * share).to_integral_value(ROUND_FLOOR))
    assert (first, january_fee, second, left) == (
        Decimal("13.02"), Decimal("12.40"), Decimal("28.52"), Decimal("14.58"))
    assert (t1, t2) == (92, 560)

    result = book(db)
    assert result["paid_up_to_reading"] == {"T1": t1, "T2": t2}
    assert result["paid_up_to_reading_date"] == "2026-01-31"
    assert (result["paid_total"], result["last_payment_on"]) == ("40.00", "2026-03-02")
    assert (result["covers_all_readings"], result["credit"]) == (False, "0.00")
    assert (result["reference_no"], result["contract_no"]) == (REFERENCE, "VL-7")


def test_enough_money_reaches_the_last_reading_and_the_rest_is_credit(db):
    paid(db, "100.00")
    result = book(db)
    assert result["paid_up_to_reading"] == {"T1": 190, "T2": 590}
    assert result["paid_up_to_reading_date"] == "2026-02-28"
    assert result["covers_all_readings"] is True
    assert result["credit"] == f"{Decimal('100.00') - Decimal('13.02') - Decimal('12.40') - Decimal('28.52'):.2f}"


def test_without_payments_the_book_stands_at_the_initial_reading(db):
    result = book(db)
    assert result["paid_up_to_reading"] == {"T1": 99900, "T2": 500}
    assert (result["paid_total"], result["last_payment_on"]) == ("0.00", None)
    assert result["paid_up_to_reading_date"] is None


def test_a_wrong_check_digit_is_invalid_and_someone_elses_book_does_not_exist(db):
    wrong = REFERENCE[:-1] + str((int(REFERENCE[-1]) + 1) % 10)
    with db.unit_of_work() as uow, pytest.raises(ValidationFailed) as invalid:
        payment_book.payment_book(uow, wrong, ["c-7"])
    assert invalid.value.errors[0]["field"] == "reference_no"
    with pytest.raises(NotFound):
        book(db, customers=("c-8",))
    with db.unit_of_work() as uow, pytest.raises(NotFound):
        payment_book.payment_book(uow, make_reference_number("2000020"), ["c-7"])


def test_the_items_an_invoice_billed_add_up_to_its_total():
    """Each item's gross rounded on its own may miss the invoice's total by a cent
    (it rounds VAT once per rate): the cent goes on the invoice's last item, so a
    customer who paid every invoice has paid all."""
    # 0.03 + 0.03 net at 24 %: 0.0372 gross each, 0.04 rounded, 0.08 together; the
    # invoice: 0.06 + 0.01 VAT = 0.07
    reading_cost = payment_book.Cost(date(2026, 1, 31), Decimal("0.04"), reading={
        "registers": {"T1": 10}, "consumption": {"T1": 1}}, invoice_no="A")
    fee = payment_book.Cost(date(2026, 1, 31), Decimal("0.04"), invoice_no="A")
    later = payment_book.Cost(date(2026, 2, 28), Decimal("5.00"), invoice_no="B")
    costs = payment_book.as_invoiced([fee, reading_cost, later],
                                     {"A": Decimal("0.07"), "B": Decimal("5.00")})
    assert [c.gross for c in costs] == [Decimal("0.03"), Decimal("0.04"), Decimal("5.00")]
    assert payment_book.spend(Decimal("5.07"), costs, {"T1": 9}) == (
        {"T1": 10}, date(2026, 1, 31), True, Decimal("0.00"))
    # item by item, 5.07 would not have covered all
    assert payment_book.spend(Decimal("5.07"), [fee, reading_cost, later], {"T1": 9})[2] is False


def test_a_settled_estimate_costs_as_part_of_the_reading_that_settled_it():
    """January's estimate (50.00) taken back by February's actual reading (-30.00 on
    its charge: the actual 20.00): paying what the invoices ask reaches the actual
    reading, though the take-back comes after the estimate's fee."""
    estimate = payment_book.Cost(date(2026, 1, 15), Decimal("50.00"), invoice_no="A",
                                 settled_by="r-actual")
    january_fee = payment_book.Cost(date(2026, 1, 31), Decimal("10.00"), invoice_no="A")
    actual = payment_book.Cost(date(2026, 1, 15), Decimal("-30.00"), reading={
        "registers": {"T1": 1200}, "consumption": {"T1": 200}}, invoice_no="B",
        reading_id="r-actual")
    february_fee = payment_book.Cost(date(2026, 2, 28), Decimal("10.00"), invoice_no="B")
    costs = payment_book.settled_into_readings([estimate, january_fee, actual, february_fee])
    assert [c.gross for c in costs] == [Decimal("10.00"), Decimal("20.00"), Decimal("10.00")]
    assert [c.ends_on for c in sorted(costs, key=lambda c: c.order)] == [
        date(2026, 1, 15), date(2026, 1, 31), date(2026, 2, 28)]   # the reading first
    # invoices A 60.00 and B -20.00 (a credit note): 40.00 pays all
    assert payment_book.spend(Decimal("40.00"), costs, {"T1": 1000}) == (
        {"T1": 1200}, date(2026, 1, 15), True, Decimal("0.00"))
    assert payment_book.spend(Decimal("50.00"), costs, {"T1": 1000})[3] == Decimal("10.00")
    # half the actual reading's cost paid: half its consumption reached
    assert payment_book.spend(Decimal("10.00"), costs, {"T1": 1000})[:3] == (
        {"T1": 1100}, None, False)


def test_a_take_back_of_estimates_not_among_the_costs_is_money_from_the_start():
    """A negative cost (estimates of another contract taken back) never comes too
    late: paying what the invoices ask covers all."""
    fee = payment_book.Cost(date(2026, 1, 31), Decimal("10.00"), invoice_no="A")
    take_back = payment_book.Cost(date(2026, 2, 15), Decimal("-30.00"), reading={
        "registers": {"T1": 1010}, "consumption": {"T1": 10}}, invoice_no="B")
    february_fee = payment_book.Cost(date(2026, 2, 28), Decimal("10.00"), invoice_no="B")
    assert payment_book.spend(Decimal("0.00"), [fee, take_back, february_fee], {"T1": 1000}) \
        == ({"T1": 1010}, date(2026, 2, 15), True, Decimal("10.00"))


def test_credit_is_to_pay_back_once_the_contract_ended_and_is_invoiced_to_its_end(db):
    paid(db, "100.00")
    with db.unit_of_work() as uow:
        runs.record_termination(uow, {"contract_no": "VL-7", "end_date": "2026-03-01"})
    ended = book(db)
    assert ended["contract_end_date"] == "2026-03-01"
    assert ended["credit_to_pay_back"] is False        # February's reading not billed yet
    with db.unit_of_work() as uow:
        runs.run(uow, "2026-02", due_days=14)
    invoiced = book(db)
    assert Decimal(invoiced["credit"]) > 0 and invoiced["credit_to_pay_back"] is True
    assert book(db)["covers_all_readings"] is True
