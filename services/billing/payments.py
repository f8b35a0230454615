"""Payments: what came in, matched by reference number, spent on invoices.

A payment is matched to the contract whose reference number it carries; one with
no reference number, a wrong check digit or an unknown reference is kept as
unmatched for the desk — never guessed. A matched payment pays the contract's
open invoices oldest first; what is left over stays as credit (``unallocated``)
and pays the next invoice the billing run issues. Each payment is recorded once:
``external_id`` is the bank's identifier of it (statement entry, banklink stamp).

An invoice issued with a negative total (estimates taken back that exceed the
month's charges) is a credit note: its amount is recorded as a credit (source
``credit``, one per invoice) that is spent like a payment's leftover. It is not a
payment received: the customer's payment list and the payment book's paid total
leave it out (the book counts the negative lines themselves).

Spending is set-based (the billing run applies credit to 700,000 invoices at
once): the payments' unspent amounts and the invoices' open amounts are laid end
to end per contract, in order, and each payment pays the overlap of its stretch
with each invoice's. All spending takes one lock, so two imports, a banklink reply
and a billing run never spend the same euro twice.
"""
import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from services.billing import sqltext, statements
from services.billing.api import InvoicePaid, PaymentReceived
from services.billing.models import billing_contracts, invoices, payment_allocations, payments
from services.billing.money import MONEY, exact_select, money_text
from services.common.errors import ValidationFailed
from services.common.identifiers import is_valid_reference_number

CURRENCY = "EUR"
SPENDING_LOCK = 7301003


@dataclass(frozen=True)
class Incoming:
    """A payment as it arrives, before it is matched."""
    source: str              # statement | banklink | operator (credit: record_credits)
    external_id: str
    amount: Decimal
    currency: str
    received_on: date
    reference_no: str | None
    payer_name: str | None = None
    remittance: str | None = None


def unmatched_reason(session, payment: Incoming):
    """Why a payment cannot be matched, or None with its contract row."""
    if payment.currency != CURRENCY:
        return f"paid in {payment.currency}, not {CURRENCY}", None
    if not payment.reference_no:
        return "no reference number", None
    if not is_valid_reference_number(payment.reference_no):
        return "the reference number's check digit is wrong", None
    contract = session.execute(
        sa.select(billing_contracts.c.contract_no, billing_contracts.c.customer_id)
        .where(billing_contracts.c.reference_no == payment.reference_no)).first()
    if contract is None:
        return "no contract has this reference number", None
    return None, contract


def receive(uow, incoming, pay_first=None, progress=None):
    """Record each new payment, match it, spend it; returns one outcome per payment:
    ``{payment_id, matched, reason, duplicate}``. A payment recorded before (same
    external_id) changes nothing. ``pay_first`` maps an external_id to the invoices
    the payer chose (a banklink payment): those are paid before older ones.
    ``progress(done, total)`` hears of each payment recorded."""
    session = uow.session
    lock(session)
    outcomes, matched = [], []
    incoming = list(incoming)
    for number, payment in enumerate(incoming, 1):
        if progress:
            progress(number - 1, len(incoming))
        existing = session.execute(sa.select(payments.c.payment_id, payments.c.contract_no)
                                   .where(payments.c.external_id == payment.external_id)).first()
        if existing is not None:
            outcomes.append({"payment_id": existing.payment_id, "duplicate": True,
                             "matched": existing.contract_no is not None, "reason": None})
            continue
        reason, contract = unmatched_reason(session, payment)
        payment_id = str(uuid.uuid4())
        session.execute(sa.insert(payments).values(
            payment_id=payment_id, source=payment.source, external_id=payment.external_id,
            amount=payment.amount, currency=payment.currency,
            received_on=payment.received_on, reference_no=payment.reference_no,
            contract_no=contract.contract_no if contract else None,
            customer_id=contract.customer_id if contract else None,
            unallocated=payment.amount if contract else 0,
            payer_name=(payment.payer_name or "")[:140] or None,
            remittance=(payment.remittance or "")[:500] or None,
            unmatched_reason=reason, created_at=uow.now))
        outcomes.append({"payment_id": payment_id, "duplicate": False,
                         "matched": contract is not None, "reason": reason})
        if contract is not None:
            matched.append((payment_id, contract.contract_no, payment))
    if matched:
        contract_nos = sorted({contract_no for _, contract_no, _ in matched})
        for payment_id, contract_no, payment in matched:
            chosen = (pay_first or {}).get(payment.external_id)
            if chosen:
                _pay_chosen(session, payment_id, contract_no, chosen)
        settle(uow, contract_nos)
        spend(uow, contract_nos)
        for payment_id, _, _ in matched:
            uow.emit_event(PaymentReceived(**payment_view(session, payment_id)))
    if progress:
        progress(len(incoming), len(incoming))
    return outcomes


def read_statement(statement_base64):
    """``(xml, entries)`` of a camt.053 statement (its XML, base64); ValidationFailed
    (field statement) when it cannot be read."""
    try:
        xml = base64.b64decode(statement_base64, validate=True)
        parsed = statements.parse_statements(xml)
    except (binascii.Error, ValueError) as exc:   # StatementError is a ValueError
        raise ValidationFailed.field("statement", str(exc)) from None
    return xml, [(statement, entry) for statement in parsed for entry in statement.entries]


def import_statement(uow, statement_base64, progress=None):
    """The payments of a camt.053 statement (its XML, base64) received: ``{entries,
    matched, already_imported, unmatched: [...]}``. A statement that cannot be read
    is refused whole, before anything is recorded. ``progress(done, total)`` hears
    of each entry recorded."""
    _, entries = read_statement(statement_base64)
    outcomes = receive(uow, [Incoming(
        source="statement", external_id=statements.payment_id(statement, entry),
        amount=entry.amount, currency=entry.currency, received_on=entry.booked_on,
        reference_no=entry.reference_no, payer_name=entry.debtor_name,
        remittance=entry.remittance) for statement, entry in entries], progress=progress)
    report = {"entries": len(entries), "matched": 0, "already_imported": 0, "unmatched": []}
    for (_, entry), outcome in zip(entries, outcomes):
        if outcome["duplicate"]:
            report["already_imported"] += 1
        elif outcome["matched"]:
            report["matched"] += 1
        else:
            report["unmatched"].append({
                "entry_id": entry.entry_id, "amount": f"{entry.amount:.2f}",
                "currency": entry.currency, "booked_on": entry.booked_on.isoformat(),
                "reference_no": entry.reference_no, "payer_name": entry.debtor_name,
                "remittance": entry.remittance, "reason": outcome["reason"]})
    return report


CREDIT = "credit"


def record_credits(session, now):
    """In the billing run, before credit is spent: each invoice with a negative
    total and no credit yet (this run's, or one an older release issued) becomes a
    credit of that amount. Returns how many."""
    # one set-based statement over the credit notes' partial index; the payment and
    # external ids derive from the invoice number: unique, at most 27 characters
    return session.execute(sa.text("""
        INSERT INTO payments (payment_id, source, external_id, amount, currency,
                              received_on, reference_no, contract_no, customer_id,
                              unallocated, remittance, created_at)
        SELECT 'credit-' || invoice_no, :source, 'credit:' || invoice_no, ROUND(-total, 2),
               :currency, issued_on, reference_no, contract_no, customer_id,
               ROUND(-total, 2), 'credit of invoice ' || invoice_no, :now
        FROM invoices
        WHERE total < 0 AND NOT EXISTS (SELECT 1 FROM payments p
                                        WHERE p.payment_id = 'credit-' || invoice_no)
    """).bindparams(sa.bindparam("now", type_=payments.c.created_at.type)),
        {"source": CREDIT, "currency": CURRENCY, "now": now}).rowcount


def credit_notes_view(session, invoice_no):
    """What an invoice has to do with credit notes: ``credit`` when it is one (its
    amount, what is ``left`` of it and the invoices it paid) and ``paid_from_credit``,
    the credit notes that paid it."""
    a, p = payment_allocations.c, payments.c
    view = {"paid_from_credit": [
        {"invoice_no": payment_id.removeprefix("credit-"), "amount": money_text(amount)}
        for payment_id, amount in session.execute(
            sa.select(a.payment_id, a.amount).join(payments, p.payment_id == a.payment_id)
            .where(a.invoice_no == invoice_no, p.source == CREDIT).order_by(a.payment_id))]}
    credit = session.execute(sa.select(p.payment_id, p.amount, p.unallocated).where(
        p.payment_id == f"credit-{invoice_no}")).first()
    if credit is not None:
        view["credit"] = {
            "amount": money_text(credit.amount), "left": money_text(credit.unallocated),
            "spent_on": [{"invoice_no": paid_no, "amount": money_text(amount)}
                         for paid_no, amount in session.execute(
                sa.select(a.invoice_no, a.amount).where(a.payment_id == credit.payment_id)
                .order_by(a.invoice_no))]}
    return view


def lock(session):
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SPENDING_LOCK})


def _pay_chosen(session, payment_id, contract_no, invoice_nos):
    """A banklink payment pays the invoices the payer chose, in their order of issue."""
    left = session.execute(sa.select(payments.c.unallocated)
                           .where(payments.c.payment_id == payment_id)).scalar()
    i = invoices.c
    rows = session.execute(   # total - paid is an exact MONEY expression (money.py)
        sa.select(i.invoice_no, (i.total - i.paid).label("open"))
        .where(i.contract_no == contract_no, i.paid < i.total,
               i.invoice_no.in_(list(invoice_nos)))
        .order_by(i.issued_on, i.invoice_no)).all()
    for invoice_no, open_amount in rows:
        amount = min(left, open_amount)
        if amount <= 0:
            break
        session.execute(sa.insert(payment_allocations).values(
            payment_id=payment_id, invoice_no=invoice_no, amount=amount))
        left -= amount


def _scope(contract_nos):
    """The contracts a spending step looks at: the given ones, or all with credit."""
    if contract_nos is None:
        return "(SELECT contract_no FROM payments WHERE unallocated > 0)", {}, []
    return ":contract_nos", {"contract_nos": list(contract_nos)}, [
        sa.bindparam("contract_nos", expanding=True)]


def spend(uow, contract_nos=None):
    """Spend the unspent payments of these contracts (None: of every contract with
    credit) on their open invoices, oldest payment on oldest invoice first."""
    session = uow.session
    lock(session)
    scope, params, binds = _scope(contract_nos)
    dialect = session.get_bind().dialect.name
    least, greatest = ("LEAST", "GREATEST") if dialect == "postgresql" else ("MIN", "MAX")
    # in cents: on SQLite the running sums are binary doubles, and an overlap of
    # 1e-15 must not become an allocation of 0.00
    overlap = (f"ROUND({least}(credit.upto, owed.upto) - {greatest}(credit.upto - credit.amount, "
               "owed.upto - owed.amount), 2)")
    allocated = session.execute(sa.text(f"""
        WITH credit AS (
            SELECT payment_id, contract_no, unallocated AS amount,
                   SUM(unallocated) OVER (PARTITION BY contract_no
                       ORDER BY received_on, created_at, payment_id) AS upto
            FROM payments
            WHERE unallocated > 0 AND contract_no IN {scope}),
        owed AS (
            SELECT invoice_no, contract_no, total - paid AS amount,
                   SUM(total - paid) OVER (PARTITION BY contract_no
                       ORDER BY issued_on, invoice_no) AS upto
            FROM invoices
            WHERE paid < total AND contract_no IN (SELECT contract_no FROM credit))
        INSERT INTO payment_allocations (payment_id, invoice_no, amount)
        SELECT credit.payment_id, owed.invoice_no, {overlap}
        FROM credit JOIN owed ON owed.contract_no = credit.contract_no
        WHERE {overlap} > 0
        ON CONFLICT (payment_id, invoice_no)
        DO UPDATE SET amount = ROUND(payment_allocations.amount + excluded.amount, 2)
    """).bindparams(*binds), params).rowcount
    settle(uow, contract_nos)
    return allocated


def settle(uow, contract_nos=None):
    """Bring invoices' ``paid`` and payments' ``unallocated`` in line with the
    allocations; an invoice paid in full becomes paid (invoice_paid)."""
    session = uow.session
    scope, params, binds = _scope(contract_nos)

    def execute(sql):
        return session.execute(sa.text(sql).bindparams(*binds), params).rowcount

    execute(f"""
        UPDATE invoices SET paid = COALESCE((SELECT ROUND(SUM(a.amount), 2) FROM payment_allocations a
                                             WHERE a.invoice_no = invoices.invoice_no), 0)
        WHERE contract_no IN {scope}""")
    if contract_nos is None:  # the billing run: one statement, the relay publishes
        dialect = session.get_bind().dialect.name
        uow.emit_each("invoice_paid", {
            "invoice_no": "invoice_no", "customer_id": "customer_id",
            "contract_no": "contract_no", "reference_no": "reference_no",
            "total": sqltext.money_text(dialect, "total"),
            "paid": sqltext.money_text(dialect, "paid")},
            f"FROM invoices WHERE contract_no IN {scope} AND paid >= total "
            "AND status <> 'paid'", params)
    else:
        _emit_paid(uow, scope, params, binds)
    execute(f"""
        UPDATE invoices SET status = 'paid'
        WHERE contract_no IN {scope} AND paid >= total AND status <> 'paid'""")
    # the payments' update comes last: {scope} may be "the contracts with credit"
    execute(f"""
        UPDATE payments SET unallocated = ROUND(amount - COALESCE(
            (SELECT SUM(a.amount) FROM payment_allocations a
             WHERE a.payment_id = payments.payment_id), 0), 2)
        WHERE contract_no IN {scope}""")


def _emit_paid(uow, scope, params, binds):
    rows = uow.session.execute(exact_select(sa.text(f"""
        SELECT invoice_no, customer_id, contract_no, reference_no, total, paid
        FROM invoices WHERE contract_no IN {scope} AND paid >= total AND status <> 'paid'
        """).bindparams(*binds), "invoice_no", "customer_id", "contract_no", "reference_no",
        total=MONEY, paid=MONEY).order_by(sa.text("invoice_no")), params).mappings().all()
    for row in rows:
        uow.emit_event(InvoicePaid(**{**row, "total": money_text(row["total"]),
                                      "paid": money_text(row["paid"])}))
    return len(rows)


def payment_view(session, payment_id):
    row = session.execute(sa.select(payments).where(payments.c.payment_id == payment_id)
                          ).mappings().one()
    return _view(row, _invoices_paid_by(session, [payment_id]).get(payment_id, []))


def _invoices_paid_by(session, payment_ids):
    paid_by = {}
    if payment_ids:
        for payment_id, invoice_no in session.execute(
                sa.select(payment_allocations.c.payment_id, payment_allocations.c.invoice_no)
                .where(payment_allocations.c.payment_id.in_(payment_ids))
                .order_by(payment_allocations.c.invoice_no)):
            paid_by.setdefault(payment_id, []).append(invoice_no)
    return paid_by


def _view(row, invoice_nos):
    return {"payment_id": row["payment_id"], "amount": money_text(row["amount"]),
            "currency": row["currency"], "received_on": row["received_on"].isoformat(),
            "reference_no": row["reference_no"], "source": row["source"],
            "invoice_nos": invoice_nos, "contract_no": row["contract_no"],
            "customer_id": row["customer_id"], "credit": money_text(row["unallocated"]),
            "payer_name": row["payer_name"]}


def payments_of(uow, customer_id, consumption_point_ids=None):
    """The customer's payments, newest first, with the invoices each paid (credit
    notes are not payments: the invoices show them)."""
    query = sa.select(payments).where(payments.c.customer_id == customer_id,
                                      payments.c.source != CREDIT)
    if consumption_point_ids is not None:
        query = query.where(payments.c.contract_no.in_(sa.select(
            billing_contracts.c.contract_no).where(
            billing_contracts.c.consumption_point_id.in_(list(consumption_point_ids)))))
    rows = uow.session.execute(query.order_by(payments.c.received_on.desc(),
                                              payments.c.created_at.desc())).mappings().all()
    paid_by = _invoices_paid_by(uow.session, [r["payment_id"] for r in rows])
    return [_view(r, paid_by.get(r["payment_id"], [])) for r in rows]


def unmatched_payments(uow):
    """What the desk must look at: payments that matched no contract."""
    rows = uow.session.execute(
        sa.select(payments).where(payments.c.contract_no.is_(None))
        .order_by(payments.c.received_on.desc(), payments.c.created_at.desc())
    ).mappings().all()
    return [{**_view(r, []), "reason": r["unmatched_reason"], "remittance": r["remittance"],
             "external_id": r["external_id"]} for r in rows]
