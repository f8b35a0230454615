"""Estimated readings trued up by the next actual one (issue #20), on both stores,
with the settable clock: metering's and billing's own databases (migrated), the
events metering writes handed to billing's charging as its handlers do.

A year of a consumption point whose customer reads on the 15th, forgets May, June
and July, then reads again: those months' invoices carry estimates; August's takes
them back and charges the actual consumption since April 15, so the year's billed
kWh are exactly what the meter shows, every span between two actual readings at the
prices of its days (a price change on June 10) and each line at the VAT of its days
(24 % from July 1; an estimate taken back at the rate it was taxed at). The payment book never stops at an estimate. Two replicas of metering
estimating at once estimate each point once."""
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from services.billing import issued, payment_book, payments, pricing, runs
from services.billing import models as billing_models
from services.common import migrate
from services.common.clock import Clock
from services.common.db import UnitOfWork, make_engine
from services.common.events import parse_event
from services.common.identifiers import make_reference_number
from services.common.validation import parse
from services.metering import api, estimates, readings
from services.metering import models as metering_models
from services.metering.plausibility import Thresholds
from tests.unit.fakes import PublishedEvents

pytestmark = pytest.mark.both_stores

THRESHOLDS = Thresholds(typical_daily_kwh={"BASIC": 10})
CUSTOMER = "c-estimates"
REFERENCE = make_reference_number("200001")


class Store:
    """One service's database with its clock and what its outbox published."""

    def __init__(self, url, models, name):
        self.engine = make_engine(url)
        migrate.upgrade(self.engine, Path(models.__file__).parent / "migrations")
        self.clock = Clock()
        self.published = PublishedEvents()
        self.outbox = _outbox(self.engine, models.metadata, self.published, self.clock)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.name = name
        self.seen = 0

    def unit_of_work(self):
        return UnitOfWork(self.sessions, self.outbox, self.name, self.clock)

    def new_events(self):
        events = self.published[self.seen:]
        self.seen = len(self.published)
        return [parse_event(e) for e in events]


def _outbox(engine, metadata, published, clock):
    from services.common.outbox import Outbox
    outbox = Outbox(engine, metadata.tables["outbox"], published, clock)
    outbox.handled_table = metadata.tables["handled_events"]
    return outbox


def at(day):
    return datetime.combine(day, datetime.min.time()).replace(hour=10, tzinfo=timezone.utc)


@pytest.fixture
def stores(database_urls):
    metering = Store(database_urls["metering"], metering_models, "metering")
    billing = Store(database_urls["billing"], billing_models, "billing")
    yield metering, billing
    metering.engine.dispose()
    billing.engine.dispose()


def sign(metering, billing, point, contract_no, start, initial):
    contract = {
        "consumption_point_id": point, "contract_no": contract_no, "customer_id": CUSTOMER,
        "eic": "38ZEE-00000001-1", "meter": {"serial": "M-" + contract_no, "registers": [
            {"code": "T1", "digits": 6}]},
        "tariff_plan": "BASIC", "reading_day": 15, "start_date": start.isoformat(),
        "initial_readings": {"T1": initial},
        "reference_no": REFERENCE if contract_no == "VL-200001" else make_reference_number(
            contract_no[3:])}
    metering.clock.set(at(start))
    billing.clock.set(at(start))
    with metering.unit_of_work() as uow:
        readings.register_meter(uow, contract, window_days=3)
    with billing.unit_of_work() as uow:
        runs.record_contract(uow, contract)


def deliver(metering, billing):
    """What metering published, charged by billing as its two handlers do."""
    for event in metering.new_events():
        if event.event_type in ("reading_submitted", "reading_estimated"):
            with billing.unit_of_work() as uow:
                pricing.charge_reading(uow, event.data)


def submit(metering, point, day, value):
    metering.clock.set(at(day))
    with metering.unit_of_work() as uow:
        return readings.submit_reading(uow, parse(api.SubmitReading, {
            "consumption_point_id": point, "reading_date": day.isoformat(),
            "registers": {"T1": value}, "submitted_by": "person:x"}), 3, THRESHOLDS)


def estimate(metering, day):
    metering.clock.set(at(day))
    return estimates.estimate_all(metering.unit_of_work, day, 3, THRESHOLDS)


def bill(billing, year, month):
    billing.clock.set(at(date(year + month // 12, month % 12 + 1, 1)))
    with billing.unit_of_work() as uow:
        runs.run(uow, f"{year}-{month:02d}", due_days=14)


#: the meter's actual use, kWh a day, by month the day falls in
DAILY = {1: 12, 2: 12, 3: 12, 4: 12, 5: 6, 6: 5, 7: 5, 8: 6, 9: 9, 10: 11, 11: 12, 12: 13}
FORGOTTEN = (5, 6, 7)


def meter_on(day, start=date(2025, 1, 1), initial=1000, daily=DAILY):
    value, d = initial, start
    while d < day:
        d += timedelta(days=1)
        value += daily[d.month]
    return value


def test_a_year_with_three_forgotten_months_bills_exactly_the_actual_consumption(stores):
    metering, billing = stores
    point = str(uuid.uuid4())
    sign(metering, billing, point, "VL-200001", date(2025, 1, 1), 1000)
    with billing.engine.begin() as conn:   # energy dearer from June 10
        conn.execute(sa.insert(billing_models.tariff_components).values(
            tariff_plan="BASIC", kind="energy", register=None, price=Decimal("0.151000"),
            valid_from=date(2025, 6, 10)))
        conn.execute(sa.update(billing_models.tariff_plans).where(
            billing_models.tariff_plans.c.code == "BASIC").values(prices_version="june"))
    for month in range(1, 13):
        day = date(2025, month, 15)
        if month not in FORGOTTEN:
            assert submit(metering, point, day, meter_on(day))["status"] == "accepted"
        assert estimate(metering, date(2025, month, 19)) == {
            "readings_estimated": 1 if month in FORGOTTEN else 0}
        deliver(metering, billing)
        bill(billing, 2025, month)
        if month == 7:   # paid through July while the estimates are pending
            with billing.unit_of_work() as uow:
                through_july = sum(Decimal(s["total"]) for s in runs.invoices_of(uow, CUSTOMER))
            pay(billing, "statement:EST:1", through_july, date(2025, 8, 5))
            with billing.unit_of_work() as uow:
                book = payment_book.payment_book(uow, REFERENCE, [CUSTOMER])
            # all that was billed is paid, the estimates too (to the cent: the
            # book's costs add up to the invoices), yet the book points at the last
            # actual reading
            assert book["covers_all_readings"] is True and book["credit"] == "0.00"
            assert book["paid_up_to_reading_date"] == "2025-04-15"
            assert book["paid_up_to_reading"] == {"T1": meter_on(date(2025, 4, 15))}

    with billing.unit_of_work() as uow:
        summaries = runs.invoices_of(uow, CUSTOMER)
        invoices = {s["period"]: runs.invoice(uow, s["invoice_no"], CUSTOMER)
                    for s in summaries}
    assert sorted(invoices) == [f"2025-{m:02d}" for m in range(1, 13)]

    def energy(invoice, **flags):
        return [line for line in invoice["lines"] if line["kind"] == "energy"
                and all(line.get(k, False) == v for k, v in flags.items())]

    # May-July: estimates from the recent daily average, marked so
    for month in FORGOTTEN:
        lines = [l for l in invoices[f"2025-{month:02d}"]["lines"] if l["kind"] != "monthly_fee"]
        assert lines and all(l["estimated"] and l["method"] == "recent_average"
                             and not l["corrects_estimate"] for l in lines)
    # August: the three estimates taken back, the actual since April 15 charged
    august = invoices["2025-08"]
    taken_back = energy(august, corrects_estimate=True)
    # May, June (split by the June 10 price), July (split by the July 1 VAT change)
    assert len(taken_back) == 5
    assert all(Decimal(str(l["kwh"])) < 0 and Decimal(l["net"]) < 0 for l in taken_back)
    actual_lines = energy(august, estimated=False)
    assert [(l["period_from"], l["period_to"], l["unit_price"], l["vat_rate"])
            for l in actual_lines] == [
        ("2025-04-16", "2025-06-09", "0.129000", "22.00"),
        ("2025-06-10", "2025-06-30", "0.151000", "22.00"),
        ("2025-07-01", "2025-08-15", "0.151000", "24.00")]
    # June's estimate, billed at 22 %, is taken back at 22 % on a 24 % invoice
    june_estimate = energy(invoices["2025-06"], estimated=True)
    assert {l["vat_rate"] for l in june_estimate} == {"22.00"}
    assert invoices["2025-08"]["vat_rate"] == "24.00"
    for line in june_estimate:
        [back] = [b for b in taken_back if (b["period_from"], b["period_to"]) ==
                  (line["period_from"], line["period_to"])]
        assert back["vat_rate"] == "22.00" and Decimal(back["net"]) == -Decimal(line["net"])
    actual_since_april = meter_on(date(2025, 8, 15)) - meter_on(date(2025, 4, 15))
    assert sum(Decimal(str(l["kwh"])) for l in actual_lines) == actual_since_april
    estimated_kwh = sum(Decimal(str(l["kwh"])) for m in FORGOTTEN
                        for l in energy(invoices[f"2025-{m:02d}"]))
    assert estimated_kwh > actual_since_april         # winter's average: too high
    assert sum(Decimal(str(l["kwh"])) for l in taken_back) == -estimated_kwh

    # the year's billed kWh: exactly what the meter shows
    billed = sum(Decimal(str(l["kwh"])) for inv in invoices.values() for l in energy(inv))
    assert billed == meter_on(date(2025, 12, 15)) - 1000

    # the span between the two actual readings: billed exactly its actual
    # consumption at the prices of its days, whatever the estimates were
    with billing.engine.connect() as conn:
        plan = [tuple(r) for r in conn.execute(pricing.PlanPrices._QUERY, {"plan": "BASIC"})]
        rates = [tuple(r) for r in conn.execute(pricing.PlanPrices._RATES)]
    components = pricing.valid_within(plan, date(2025, 4, 15), date(2025, 8, 15))
    expected = pricing.price_lines(components, {"T1": actual_since_april},
                                   date(2025, 4, 15), date(2025, 8, 15), rates)
    span = [l for period in ("2025-05", "2025-06", "2025-07", "2025-08")
            for l in invoices[period]["lines"] if l["kind"] != "monthly_fee"]
    assert sum(Decimal(l["net"]) for l in span) == sum(l["net"] for l in expected)
    for kind in pricing.PER_KWH_KINDS:
        assert sum(Decimal(str(l["kwh"])) for l in span if l["kind"] == kind) == \
            actual_since_april

    for rate in ("22.00", "24.00"):     # and so is each VAT rate's share of it
        assert sum(Decimal(l["net"]) for l in span if l["vat_rate"] == rate) == \
            sum(l["net"] for l in expected if l["vat_rate"] == Decimal(rate))

    # VAT: each line at the rate of its days, each invoice's VAT the sum over its
    # rate groups, each group's rounded once; the invoice's vat_rate that of its
    # period's last day
    assert invoices["2025-06"]["vat_rate"] == "22.00"
    assert invoices["2025-07"]["vat_rate"] == "24.00"
    assert {g["vat_rate"] for g in invoices["2025-07"]["vat_by_rate"]} == {"22.00", "24.00"}
    assert {g["vat_rate"] for g in invoices["2025-08"]["vat_by_rate"]} == {"22.00", "24.00"}
    for invoice in invoices.values():
        net = Decimal(invoice["net"])
        assert net == sum(Decimal(l["net"]) for l in invoice["lines"])
        groups = invoice["vat_by_rate"]
        for group in groups:
            group_net = sum(Decimal(l["net"]) for l in invoice["lines"]
                            if l["vat_rate"] == group["vat_rate"])
            assert Decimal(group["net"]) == group_net
            assert Decimal(group["vat"]) == (
                group_net * Decimal(group["vat_rate"]) / 100).quantize(
                Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert Decimal(invoice["vat"]) == sum(Decimal(g["vat"]) for g in groups)
        assert Decimal(invoice["total"]) == net + Decimal(invoice["vat"])

    # the year's gross, by rate: every actual reading's consumption at the prices
    # and VAT of the days it fell on (the monthly fees at their month's rate),
    # whatever was estimated in between
    actual_days = [date(2025, 1, 1)] + [date(2025, m, 15) for m in range(1, 13)
                                        if m not in FORGOTTEN]
    due = []
    for start, end in zip(actual_days, actual_days[1:]):
        due += pricing.price_lines(pricing.valid_within(plan, start, end),
                                   {"T1": meter_on(end) - meter_on(start)}, start, end, rates)
    fee = sum(Decimal(l["net"]) for l in invoices["2025-01"]["lines"]
              if l["kind"] == "monthly_fee")
    assert fee > 0 and all(sum(Decimal(l["net"]) for l in inv["lines"]
                               if l["kind"] == "monthly_fee") == fee
                           for inv in invoices.values())
    for rate, months in ((Decimal("22.00"), range(1, 7)), (Decimal("24.00"), range(7, 13))):
        text = f"{rate:.2f}"
        due_net = sum(l["net"] for l in due if l["vat_rate"] == rate) + fee * len(months)
        billed = [g for inv in invoices.values() for g in inv["vat_by_rate"]
                  if g["vat_rate"] == text]
        billed_net = sum(Decimal(g["net"]) for g in billed)
        billed_vat = sum(Decimal(g["vat"]) for g in billed)
        assert billed_net == due_net            # to the cent
        # the VAT of each invoice is rounded on its own (once per rate): the year's
        # differs from the VAT of the year's net by at most half a cent an invoice
        due_vat = due_net * rate / 100
        assert abs(billed_vat - due_vat) <= Decimal("0.005") * len(billed)

    # the payment book, all paid: at December's actual reading
    rest = sum(Decimal(i["total"]) for i in invoices.values()) - through_july
    pay(billing, "statement:EST:2", rest, date(2026, 1, 5))
    with billing.unit_of_work() as uow:
        book = payment_book.payment_book(uow, REFERENCE, [CUSTOMER])
    assert book["paid_up_to_reading_date"] == "2025-12-15"
    assert book["paid_up_to_reading"] == {"T1": meter_on(date(2025, 12, 15))}


def pay(billing, external_id, amount, on):
    with billing.unit_of_work() as uow:
        payments.receive(uow, [payments.Incoming(
            source="statement", external_id=external_id, amount=amount, currency="EUR",
            received_on=on, reference_no=REFERENCE)])


#: away from May to July: the winter's average overshoots what the meter turned
AWAY = {**{m: 12 for m in range(1, 13)}, 5: 2, 6: 2, 7: 2, 8: 2}


def test_estimates_that_overshot_become_credit_that_pays_the_next_invoices(stores):
    """The customer pays every invoice as it comes, the estimated ones too; the
    actual reading shows she used far less, so August's invoice is negative: a
    credit note, whose amount pays September's invoice and the next ones, oldest
    first, until it is spent. Over the year she pays exactly what was billed."""
    metering, billing = stores
    point = str(uuid.uuid4())
    sign(metering, billing, point, "VL-200001", date(2025, 1, 1), 1000)
    paid = Decimal("0")
    for month in range(1, 13):
        day = date(2025, month, 15)
        if month not in FORGOTTEN:
            assert submit(metering, point, day, meter_on(day, daily=AWAY))["status"] == \
                "accepted"
        estimate(metering, date(2025, month, 19))
        deliver(metering, billing)
        bill(billing, 2025, month)
        with billing.unit_of_work() as uow:
            [latest, *_] = runs.invoices_of(uow, CUSTOMER)
        if month <= 7:      # she pays each invoice in full, the estimated ones too
            pay(billing, f"statement:AWAY:{month}", Decimal(latest["total"]),
                date(2025, month + 1, 5))
            paid += Decimal(latest["total"])

    with billing.unit_of_work() as uow:
        invoices = {s["period"]: runs.invoice(uow, s["invoice_no"], CUSTOMER)
                    for s in runs.invoices_of(uow, CUSTOMER)}
        received = payments.payments_of(uow, CUSTOMER)
    august = invoices["2025-08"]
    assert Decimal(august["total"]) < 0 and august["status"] == "paid"
    credit = august["credit"]
    assert Decimal(credit["amount"]) == -Decimal(august["total"])
    # spent on the invoices after it, oldest first, all of them in full but the last
    later = [invoices[f"2025-{m:02d}"] for m in range(9, 13)]
    spent = {s["invoice_no"]: Decimal(s["amount"]) for s in credit["spent_on"]}
    paid_by_credit = [i for i in later if i["invoice_no"] in spent]
    assert paid_by_credit == later[:len(paid_by_credit)] and len(paid_by_credit) >= 2
    for invoice in paid_by_credit[:-1]:
        assert spent[invoice["invoice_no"]] == Decimal(invoice["total"])
        assert invoice["status"] == "paid" and invoice["paid"] == invoice["total"]
    assert credit["left"] == "0.00"           # spent by December
    assert sum(spent.values()) == Decimal(credit["amount"])
    for invoice in paid_by_credit:
        assert invoice["paid_from_credit"] == [{
            "invoice_no": august["invoice_no"], "amount": f"{spent[invoice['invoice_no']]:.2f}"}]
        assert Decimal(invoice["paid"]) == spent[invoice["invoice_no"]]
    assert all(i["paid_from_credit"] == [] and "credit" not in i
               for period, i in invoices.items() if period < "2025-08")
    # the credit note is no payment received: her payments are her bank's
    assert sorted(p["source"] for p in received) == ["statement"] * 7
    # she hears of it as a credit note, of the others as invoices to pay
    issued.publish_pending(billing.engine, billing.published, billing.clock)
    announced = billing.new_events()
    assert [(e.data["invoice_no"], e.data["amount"]) for e in announced
            if e.event_type == "credit_note_issued"] == [
        (august["invoice_no"], credit["amount"])]
    assert sorted(e.data["invoice_no"] for e in announced if e.event_type ==
                  "invoice_issued") == sorted(
        i["invoice_no"] for i in invoices.values() if i is not august)
    # and what the credit already paid of each, so she is not asked to pay it again
    assert {e.data["invoice_no"]: e.data["paid"] for e in announced
            if e.event_type == "invoice_issued" and e.data["invoice_no"] in spent} == {
        number: f"{amount:.2f}" for number, amount in spent.items()}

    # she pays what is left open; over the year: exactly what was billed
    open_amount = sum(Decimal(i["total"]) - Decimal(i["paid"]) for i in invoices.values()
                      if Decimal(i["total"]) > 0)
    assert open_amount > 0      # the credit ran out before December
    pay(billing, "statement:AWAY:rest", open_amount, date(2026, 1, 5))
    paid += open_amount
    with billing.unit_of_work() as uow:
        summaries = runs.invoices_of(uow, CUSTOMER)
        book = payment_book.payment_book(uow, REFERENCE, [CUSTOMER])
        left = runs.invoice(uow, august["invoice_no"], CUSTOMER)["credit"]["left"]
    assert all(s["status"] == "paid" for s in summaries)
    assert paid == sum(Decimal(s["total"]) for s in summaries)
    assert left == "0.00"
    assert book["paid_total"] == f"{paid:.2f}"
    assert book["covers_all_readings"] is True and book["credit"] == "0.00"
    assert book["paid_up_to_reading_date"] == "2025-12-15"
    assert book["paid_up_to_reading"] == {"T1": meter_on(date(2025, 12, 15), daily=AWAY)}


def test_the_reading_of_a_middle_estimates_day_settles_it_and_those_before(stores):
    """May, June and July forgotten and billed as estimates; on July 20 she enters
    June 15's reading (from a photo): July's invoice takes May's and June's estimates
    back, August's July's; every span between actual readings is billed exactly."""
    metering, billing = stores
    point = str(uuid.uuid4())
    sign(metering, billing, point, "VL-200001", date(2025, 1, 1), 1000)
    actual_days = []
    for month in range(1, 13):
        day = date(2025, month, 15)
        if month not in FORGOTTEN:
            assert submit(metering, point, day, meter_on(day))["status"] == "accepted"
            actual_days.append(day)
        estimate(metering, date(2025, month, 19))
        if month == 7:
            june = date(2025, 6, 15)
            metering.clock.set(at(date(2025, 7, 20)))
            with metering.unit_of_work() as uow:
                receipt = readings.submit_reading(uow, parse(api.SubmitReading, {
                    "consumption_point_id": point, "reading_date": june.isoformat(),
                    "registers": {"T1": meter_on(june)}, "submitted_by": "person:x"}),
                    3, THRESHOLDS)
            assert receipt["status"] == "accepted"
            actual_days.append(june)
        deliver(metering, billing)
        bill(billing, 2025, month)

    with billing.unit_of_work() as uow:
        invoices = {s["period"]: runs.invoice(uow, s["invoice_no"], CUSTOMER)
                    for s in runs.invoices_of(uow, CUSTOMER)}

    def energy(invoice, **flags):
        return [line for line in invoice["lines"] if line["kind"] == "energy"
                and all(line.get(k, False) == v for k, v in flags.items())]

    def kwh(lines):
        return sum(Decimal(str(l["kwh"])) for l in lines)

    july, august = invoices["2025-07"], invoices["2025-08"]
    may_and_june = kwh(energy(invoices["2025-05"])) + kwh(energy(invoices["2025-06"]))
    assert kwh(energy(july, corrects_estimate=True)) == -may_and_june
    assert kwh(energy(july, estimated=False)) == meter_on(date(2025, 6, 15)) - \
        meter_on(date(2025, 4, 15))
    july_estimate = kwh(energy(july, estimated=True, corrects_estimate=False))
    assert july_estimate > 0                         # July's estimate is still billed
    assert kwh(energy(august, corrects_estimate=True)) == -july_estimate
    assert kwh(energy(august, estimated=False)) == meter_on(date(2025, 8, 15)) - \
        meter_on(date(2025, 6, 15))
    assert [(l["period_from"], l["period_to"]) for l in energy(august, estimated=False)] == [
        ("2025-06-16", "2025-06-30"), ("2025-07-01", "2025-08-15")]   # the VAT change
    billed = sum(kwh(energy(inv)) for inv in invoices.values())
    assert billed == meter_on(date(2025, 12, 15)) - 1000

    # each span between two actual readings: its actual consumption at its prices
    with billing.engine.connect() as conn:
        plan = [tuple(r) for r in conn.execute(pricing.PlanPrices._QUERY, {"plan": "BASIC"})]
        rates = [tuple(r) for r in conn.execute(pricing.PlanPrices._RATES)]
    lines = [l for inv in invoices.values() for l in inv["lines"]
             if l["kind"] != "monthly_fee"]
    due = []
    days = [date(2025, 1, 1)] + sorted(actual_days)
    for start, end in zip(days, days[1:]):
        due += pricing.price_lines(pricing.valid_within(plan, start, end),
                                   {"T1": meter_on(end) - meter_on(start)}, start, end, rates)
    for rate in ("22.00", "24.00"):
        assert sum(Decimal(l["net"]) for l in lines if l["vat_rate"] == rate) == \
            sum(l["net"] for l in due if l["vat_rate"] == Decimal(rate))


def test_a_credit_note_paying_an_open_estimated_invoice_leaves_the_book_even(stores):
    """January's estimate is not paid when her February reading shows far less:
    February's invoice is a credit note that pays part of January's; she pays the
    rest, and the payment book reaches her reading with nothing owed or over (the
    take-back comes after January's fee, and must not come too late)."""
    metering, billing = stores
    point = str(uuid.uuid4())
    sign(metering, billing, point, "VL-200001", date(2025, 1, 1), 1000)
    assert estimate(metering, date(2025, 1, 19)) == {"readings_estimated": 1}
    deliver(metering, billing)
    bill(billing, 2025, 1)
    assert submit(metering, point, date(2025, 2, 15), 1010)["status"] == "accepted"
    deliver(metering, billing)
    bill(billing, 2025, 2)
    with billing.unit_of_work() as uow:
        january, february = sorted(runs.invoices_of(uow, CUSTOMER), key=lambda i: i["period"])
    assert Decimal(february["total"]) < 0 and january["status"] == "unpaid"
    assert Decimal(january["paid"]) == -Decimal(february["total"])
    left = Decimal(january["total"]) - Decimal(january["paid"])
    pay(billing, "statement:OPEN:1", left, date(2025, 3, 5))
    with billing.unit_of_work() as uow:
        book = payment_book.payment_book(uow, REFERENCE, [CUSTOMER])
        assert {i["status"] for i in runs.invoices_of(uow, CUSTOMER)} == {"paid"}
    assert (book["covers_all_readings"], book["credit"]) == (True, "0.00")
    assert (book["paid_up_to_reading"], book["paid_up_to_reading_date"]) == (
        {"T1": 1010}, "2025-02-15")
    assert book["paid_total"] == f"{left:.2f}"
    pay(billing, "statement:OPEN:2", Decimal("10.00"), date(2025, 3, 6))
    with billing.unit_of_work() as uow:
        assert payment_book.payment_book(uow, REFERENCE, [CUSTOMER])["credit"] == "10.00"


def test_a_credit_note_issued_before_credits_were_recorded_is_credited_by_migration(
        database_urls):
    """Migration 0013: a negative invoice issued before the run recorded its credit
    gets it, once, and the credit then pays the contract's open invoice."""
    from alembic import command
    from alembic.config import Config
    engine = make_engine(database_urls["billing"])
    config = Config()
    config.set_main_option("script_location",
                           str(Path(billing_models.__file__).parent / "migrations"))
    invoice = {"contract_no": "VL-200001", "customer_id": CUSTOMER, "reference_no": REFERENCE,
               "issued_on": date(2025, 3, 1), "due_on": date(2025, 3, 15), "net": 0,
               "vat_rate": Decimal("22.00"), "vat": 0, "paid": 0}
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0012")
            conn.execute(sa.insert(billing_models.invoices), [
                {**invoice, "invoice_no": "2025-0000001", "period": "2025-01",
                 "total": Decimal("30.00"), "status": "unpaid"},
                {**invoice, "invoice_no": "2025-0000002", "period": "2025-02",
                 "total": Decimal("-12.34"), "status": "paid"}])
        migrate.upgrade(engine, Path(billing_models.__file__).parent / "migrations")
        migrate.upgrade(engine, Path(billing_models.__file__).parent / "migrations")
        with engine.connect() as conn:
            credits = conn.execute(sa.select(
                billing_models.payments.c.payment_id, billing_models.payments.c.unallocated)
                .where(billing_models.payments.c.source == "credit")).all()
        assert [(p, f"{u:.2f}") for p, u in credits] == [("credit-2025-0000002", "12.34")]
        sessions = sessionmaker(engine, expire_on_commit=False)
        with UnitOfWork(sessions, None, "billing", Clock()) as uow:
            payments.spend(uow)
        with UnitOfWork(sessions, None, "billing", Clock()) as uow:
            january = runs.invoice(uow, "2025-0000001", CUSTOMER)
        assert (january["paid"], january["paid_from_credit"]) == (
            "12.34", [{"invoice_no": "2025-0000002", "amount": "12.34"}])
    finally:
        engine.dispose()


#: a cottage on Saaremaa: 2 kWh a day in winter, 15 in summer
COTTAGE = {1: 2, 2: 2, 3: 2, 4: 2, 5: 15, 6: 15, 7: 15, 8: 15, 9: 2, 10: 2, 11: 2, 12: 2}


def test_the_summer_cottage_is_estimated_and_billed_from_its_own_last_summer(stores):
    """Read every month of 2024 and up to June 2025, its July reading forgotten:
    July is estimated and billed at last July's use, not at the year-round average;
    August's actual reading settles it exactly."""
    metering, billing = stores
    point = str(uuid.uuid4())
    start = date(2024, 1, 1)
    sign(metering, billing, point, "VL-200001", start, 5000)

    def cottage_on(day):
        return meter_on(day, start=start, initial=5000, daily=COTTAGE)

    for year, months in ((2024, range(1, 13)), (2025, range(1, 7))):
        for month in months:
            day = date(year, month, 15)
            assert submit(metering, point, day, cottage_on(day))["status"] == "accepted"
    deliver(metering, billing)
    assert estimate(metering, date(2025, 7, 19)) == {"readings_estimated": 1}
    deliver(metering, billing)
    bill(billing, 2025, 7)
    submit(metering, point, date(2025, 8, 15), cottage_on(date(2025, 8, 15)))
    deliver(metering, billing)
    bill(billing, 2025, 8)

    with billing.unit_of_work() as uow:
        invoices = {s["period"]: runs.invoice(uow, s["invoice_no"], CUSTOMER)
                    for s in runs.invoices_of(uow, CUSTOMER)}
    # (the first run bills the year and a half before it, too) split at July 1's VAT
    july_estimate = [l for l in invoices["2025-07"]["lines"]
                     if l["kind"] == "energy" and l.get("estimated")]
    assert {l["method"] for l in july_estimate} == {"same_season_last_year"}
    assert [l["vat_rate"] for l in july_estimate] == ["22.00", "24.00"]
    assert sum(Decimal(str(l["kwh"])) for l in july_estimate) == 15 * 30  # last summer's
    year_round = (cottage_on(date(2025, 6, 15)) - 5000) / (date(2025, 6, 15) - start).days
    assert year_round * 30 < Decimal("0.6") * 15 * 30
    august = [l for l in invoices["2025-08"]["lines"] if l["kind"] == "energy"]
    assert sum(Decimal(str(l["kwh"])) for l in august) + 15 * 30 == \
        cottage_on(date(2025, 8, 15)) - cottage_on(date(2025, 6, 15))


def test_an_estimate_replaced_before_it_was_charged_is_never_charged(stores):
    """The customer enters the reading of the estimated day; billing hears of the
    actual reading first: the estimate, arriving later, is not charged."""
    metering, billing = stores
    point = str(uuid.uuid4())
    sign(metering, billing, point, "VL-200002", date(2025, 1, 1), 1000)
    submit(metering, point, date(2025, 1, 15), meter_on(date(2025, 1, 15)))
    deliver(metering, billing)
    estimate(metering, date(2025, 2, 19))
    [estimated] = metering.new_events()
    submit(metering, point, date(2025, 2, 15), meter_on(date(2025, 2, 15)))
    [actual] = [e for e in metering.new_events() if e.event_type == "reading_submitted"]
    assert actual.data["settles_estimates"] == [estimated.data["reading_id"]]
    for event in (actual, estimated):            # the actual one first
        with billing.unit_of_work() as uow:
            pricing.charge_reading(uow, event.data)
    with billing.unit_of_work() as uow:
        assert pricing.charge_for_reading(uow, estimated.data["reading_id"]) is None
        charge = pricing.charge_for_reading(uow, actual.data["reading_id"])
    assert [l["kwh"] for l in charge["lines"] if l["kind"] == "energy"] == [31 * 12]


def test_two_replicas_estimate_each_point_once(stores):
    metering, billing = stores
    points = [str(uuid.uuid4()) for _ in range(40)]
    for n, point in enumerate(points):
        sign(metering, billing, point, f"VL-3{n:05d}", date(2025, 1, 1), 1000)
    other = Store(str(metering.engine.url.render_as_string(hide_password=False)),
                  metering_models, "metering")
    try:
        for replica in (metering, other):
            replica.clock.set(at(date(2025, 1, 19)))
        pool = eventlet.GreenPool()
        answers = [pool.spawn(estimates.estimate_all, replica.unit_of_work, date(2025, 1, 19),
                              3, THRESHOLDS, batch_size=3)
                   for replica in (metering, other)]
        made = [a.wait()["readings_estimated"] for a in answers]
    finally:
        other.engine.dispose()
    assert sum(made) == len(points)
    events = [e for e in metering.new_events() + other.new_events()
              if e.event_type == "reading_estimated"]
    assert sorted(e.data["consumption_point_id"] for e in events) == sorted(points)
    with metering.engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(metering_models.readings)
                              .where(metering_models.readings.c.status == "estimated")).scalar()
    assert stored == len(points)
