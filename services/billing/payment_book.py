"""The payment book: up to which meter reading have the customer's payments reached?

Everything paid under a contract's reference number is spent, in the order it was
incurred, on what the contract costs: each accepted reading's interval at its price
(the charge's lines plus VAT) and each invoiced monthly fee in its month (an
interval and a fee ending on the same day: the interval first). VAT is the rate of
the invoice that billed it, or for what is not billed yet the rate valid on the
interval's last day; each item's gross is rounded to the cent, and the items an
invoice billed add up to its total (it rounds VAT once per rate: the cent that
makes the difference goes on its last item), so paying every invoice pays all.

Where the money runs out inside an interval, it has paid the same share of every
register's consumption in that interval — that is, it reaches the reading the
interval's price per kWh buys — counted down to whole kWh (a reading is paid up to
a kWh only once that kWh is paid), past a register's rollover where it rolled.
"""
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

import sqlalchemy as sa

from services.billing.models import (billing_contracts, charge_lines, charges, estimate_claims,
                                     invoice_lines, invoices,
                                     payments, vat_rates)
from services.billing.money import exact, money_text, to_cents
from services.billing.payments import CREDIT
from services.common.errors import NotFound, ValidationFailed
from services.common.identifiers import is_valid_reference_number

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Cost:
    """One thing the contract's money is spent on, in order."""
    ends_on: date
    gross: Decimal
    reading: dict | None = None        # {"registers", "consumption", "register_digits"}
    invoice_no: str | None = None   # None: not billed yet
    reading_id: str | None = None   # an actual reading's
    settled_by: str | None = None   # a settled estimate's: the actual reading that did

    @property
    def order(self):
        return (self.ends_on, 0 if self.reading else 1)


def gross(net, vat_rate):
    return to_cents(exact(net) * (100 + exact(vat_rate)) / 100)


def reading_reached(reading, share):
    """The reading a ``share`` (0..1) of an interval's consumption reaches."""
    reached = {}
    for code, value in reading["registers"].items():
        consumed = exact(reading["consumption"][code])
        paid_kwh = int((consumed * share).to_integral_value(rounding=ROUND_FLOOR))
        value = int(value) - int(consumed) + paid_kwh
        digits = (reading.get("register_digits") or {}).get(code)
        reached[code] = value % 10 ** digits if digits else value
    return reached


def as_invoiced(costs, invoice_totals):
    """The costs, each invoice's adding up to its total: the difference its own
    rounding of VAT makes goes on its last item."""
    last, billed = {}, {}
    for number, cost in enumerate(costs):
        if cost.invoice_no is not None:
            billed[cost.invoice_no] = billed.get(cost.invoice_no, ZERO) + cost.gross
            if cost.invoice_no not in last or cost.order >= costs[last[cost.invoice_no]].order:
                last[cost.invoice_no] = number
    costs = list(costs)
    for invoice_no, number in last.items():
        if invoice_no not in invoice_totals:
            continue
        difference = exact(invoice_totals[invoice_no]) - billed[invoice_no]
        if difference:
            costs[number] = replace(costs[number], gross=costs[number].gross + difference)
    return costs


def settled_into_readings(costs):
    """Each settled estimate's cost moved into the actual reading that settled it,
    whose own charge took the estimates back: that reading then costs its span's
    actual consumption, so money spent in order stops only where it runs out (a
    take-back later on would otherwise come too late). The fees of the months in
    between come first: money that runs out reaches a little less of the reading."""
    at = {cost.reading_id: number for number, cost in enumerate(costs) if cost.reading_id}
    merged, moved = list(costs), set()
    for number, cost in enumerate(costs):
        if cost.settled_by in at:
            reading = at[cost.settled_by]
            merged[reading] = replace(merged[reading], gross=merged[reading].gross + cost.gross)
            moved.add(number)
    return [cost for number, cost in enumerate(merged) if number not in moved]


def spend(money, costs, initial_readings):
    """``(paid_up_to_reading, paid_up_to_date, covers_all, credit)`` of ``money`` spent on
    ``costs`` in order. Before any reading is paid, the contract's initial readings."""
    # a cost below nothing (a take-back of estimates that are not among these costs)
    # is money to spend from the start, the cost itself nothing: paying what is owed
    # must always cover all
    money -= sum((c.gross for c in costs if c.gross < 0), ZERO)
    costs = sorted(costs, key=lambda c: c.order)
    position = dict(initial_readings)
    paid_to = None
    for cost in costs:
        owed = max(cost.gross, ZERO)
        if money < owed:
            if cost.reading:
                position = reading_reached(cost.reading, money / owed)
            return position, paid_to, False, ZERO
        money -= owed
        if cost.reading:
            position, paid_to = dict(cost.reading["registers"]), cost.ends_on
    return position, paid_to, True, money


def payment_book(uow, reference_no, customer_ids):
    """The book of the contract with ``reference_no`` if it belongs to one of
    ``customer_ids`` (whom the caller may see invoices of); NotFound otherwise."""
    reference_no = "".join(str(reference_no).split())
    if not reference_no.isdigit() or not is_valid_reference_number(reference_no):
        raise ValidationFailed.field("reference_no", "is not a reference number: "
                                                     "its check digit is wrong")
    session = uow.session
    contract = session.execute(sa.select(billing_contracts).where(
        billing_contracts.c.reference_no == reference_no)).mappings().first()
    if contract is None or contract["customer_id"] not in customer_ids:
        raise NotFound(f"no payment book {reference_no}")
    contract_no = contract["contract_no"]

    # a credit note's credit is not money paid: its negative lines are among the costs
    paid_total, last_payment_on = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0),
                  sa.func.max(payments.c.received_on))
        .where(payments.c.contract_no == contract_no,
               payments.c.source != CREDIT)).one()

    rates = session.execute(sa.select(vat_rates.c.valid_from, vat_rates.c.rate)
                            .order_by(vat_rates.c.valid_from)).all()

    def rate_on(day):
        valid = [rate for since, rate in rates if since <= day]
        return valid[-1] if valid else ZERO

    invoiced = {row.invoice_no: row for row in session.execute(
        sa.select(invoices.c.invoice_no, invoices.c.period, invoices.c.vat_rate,
                  invoices.c.total).where(invoices.c.contract_no == contract_no))}
    costs = []
    # "paid up to reading" never points at an estimate: a pending estimate's charge
    # is a cost without a reading; a settled one's is part of the cost of the actual
    # reading that settled it (settled_into_readings), each line at its VAT rate as
    # the invoices have it
    settled_by = dict(session.execute(
        sa.select(estimate_claims.c.estimate_reading_id, estimate_claims.c.settled_by)
        .where(estimate_claims.c.state == "settled",
               estimate_claims.c.estimate_reading_id.in_(
                   sa.select(charges.c.reading_id)
                   .where(charges.c.contract_no == contract_no)))).all())
    rows = session.execute(sa.select(charges).where(charges.c.contract_no == contract_no)
                           .order_by(charges.c.period_to, charges.c.created_at)).mappings().all()
    # each charge's net by the VAT rate of its lines (a line without one, from
    # before rates were per line, at its invoice's rate, or the rate of its day)
    line_nets = {}
    for charge_id, rate, net in session.execute(
            sa.select(charge_lines.c.charge_id, charge_lines.c.vat_rate, charge_lines.c.net)
            .join(charges, charges.c.charge_id == charge_lines.c.charge_id)
            .where(charges.c.contract_no == contract_no)):
        by_rate = line_nets.setdefault(charge_id, {})
        by_rate[rate] = by_rate.get(rate, ZERO) + net
    for charge in rows:
        billed = invoiced.get(charge["invoice_no"])
        rate = rate_on(charge["period_to"]) if billed is None else billed.vat_rate
        nets = line_nets.get(charge["charge_id"]) or {None: charge["net"]}
        amount = sum((gross(net, rate if line_rate is None else line_rate)
                      for line_rate, net in nets.items()), ZERO)
        if charge["estimate_method"]:
            costs.append(Cost(charge["period_to"], amount, invoice_no=charge["invoice_no"],
                              settled_by=settled_by.get(charge["reading_id"])))
            continue
        reading = None
        if charge["registers"] and charge["consumption"]:
            reading = {"registers": charge["registers"], "consumption": charge["consumption"],
                       "register_digits": charge["register_digits"]}
        costs.append(Cost(charge["period_to"], amount, reading, invoice_no=charge["invoice_no"],
                          reading_id=charge["reading_id"]))
    for invoice_no, period_to, net, line_rate, rate in session.execute(
            sa.select(invoice_lines.c.invoice_no, invoice_lines.c.period_to, invoice_lines.c.net,
                      invoice_lines.c.vat_rate, invoices.c.vat_rate)
            .join(invoices, invoices.c.invoice_no == invoice_lines.c.invoice_no)
            .where(invoices.c.contract_no == contract_no,
                   invoice_lines.c.kind == "monthly_fee")):
        costs.append(Cost(period_to, gross(net, rate if line_rate is None else line_rate),
                          invoice_no=invoice_no))

    costs = settled_into_readings(
        as_invoiced(costs, {no: row.total for no, row in invoiced.items()}))
    reached, paid_to, covers_all, credit = spend(paid_total, costs,
                                                 contract["initial_readings"] or {})
    return {"reference_no": reference_no, "contract_no": contract_no,
            "customer_id": contract["customer_id"], "consumption_point_id": contract["consumption_point_id"],
            "paid_total": money_text(paid_total),
            "paid_up_to_reading": reached,
            "paid_up_to_reading_date": paid_to.isoformat() if paid_to else None,
            "covers_all_readings": covers_all, "credit": money_text(credit),
            "last_payment_on": last_payment_on.isoformat() if last_payment_on else None,
            "contract_end_date": (contract["end_date"].isoformat()
                                  if contract["end_date"] else None),
            "credit_to_pay_back": bool(credit) and _invoiced_to_its_end(
                contract["end_date"], uow.clock.today(),
                [row.period for row in invoiced.values()],
                any(charge["invoice_no"] is None for charge in rows))}


def _invoiced_to_its_end(end_date, today, periods, unbilled):
    """The contract is out of force, its last month invoiced and nothing charged
    left to invoice: its credit pays nothing more and is the customer's."""
    if end_date is None or end_date > today or unbilled or not periods:
        return False
    return max(periods) >= f"{end_date - timedelta(days=1):%Y-%m}"
