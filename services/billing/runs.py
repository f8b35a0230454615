"""The billing run: one invoice per contract per period, set-based.

Every step is one SQL statement over all contracts of the period — never a loop
over contracts, RPC calls or ORM objects — so that 700,000 contracts are
invoiced in seconds. Running it twice for a period issues nothing twice: a
contract that has an invoice for the period is not a candidate again, and a
charge is billed once (``charges.invoice_no``).

Rounding (the rule of services/billing/money.py): lines are rounded when they are
priced; an invoice's net is the exact sum of its lines. Each line carries the VAT
rate of the days it charges (pricing.py; a line taking an estimate back, the rate
the estimate was taxed at; the monthly fee and lines from before rates were per
line, the rate valid on the period's last day). An invoice's VAT is the sum over
its rate groups, each group's VAT computed once in integer cents from the group's
net, half away from zero (money.vat_by_rate is the same rule); its ``vat_rate`` is
the rate valid on the period's last day.
"""
import logging
import time
from calendar import monthrange
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from services.billing import issued as issued_events
from services.billing import payments
from services.billing.api import PERIOD
from services.billing.models import (billing_contracts, invoice_lines, invoices,
                                     number_sequences, tariff_components, tariff_plans,
                                     vat_rates)
from services.billing.money import VAT_RATE, money_text, vat_by_rate
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.metrics import measured_job
from services.common.sequences import next_number

log = logging.getLogger(__name__)



def period_bounds(period):
    match = PERIOD.match(period or "")
    if not match:
        raise ValidationFailed.field("period", "a month from 2000 on, YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, monthrange(year, month)[1])



INVOICE_DIGITS = 8   # invoice numbers YYYY-NNNNNNNN from one sequence per year


def _invoice_number_sql(dialect, year, n):
    """The SQL of invoice number ``:base + n`` of ``year``."""
    if dialect == "postgresql":
        return f"'{year}-' || LPAD(CAST(:base + {n} AS TEXT), {INVOICE_DIGITS}, '0')"
    return f"'{year}-' || printf('%0{INVOICE_DIGITS}d', :base + {n})"


def invoice_number(year, n):
    return f"{year}-{n:0{INVOICE_DIGITS}d}"


class _Steps:
    """Runs the run's statements one by one and reports each: a long run shows its
    progress in the log and to ``progress(step, rows, seconds)`` if given."""

    def __init__(self, session, period, progress):
        self.session, self.period, self.progress = session, period, progress

    def __call__(self, step, sql, params):
        started = time.perf_counter()
        rows = self.session.execute(sql, params).rowcount
        self.report(step, rows, time.perf_counter() - started)
        return rows

    def report(self, step, rows, seconds):
        log.info("billing run %s: %s, %d rows in %.1f s", self.period, step, rows, seconds)
        if self.progress:
            self.progress(step, rows, seconds)


# A contract is invoiced for a period once: when it was in force in the period, or
# when it has charges up to the period's end not billed yet (a late reading after
# its end).
IN_FORCE = "bc.start_date <= :last AND (bc.end_date IS NULL OR bc.end_date >= :first)"
DUE = f"""NOT EXISTS (SELECT 1 FROM invoices i
                      WHERE i.contract_no = bc.contract_no AND i.period = :period)
      AND (({IN_FORCE})
           OR EXISTS (SELECT 1 FROM charges c WHERE c.contract_no = bc.contract_no
                      AND c.invoice_no IS NULL AND c.period_to <= :last))"""
UNPRICED = """EXISTS (SELECT 1 FROM unpriced_readings u WHERE u.contract_no = bc.contract_no
                      AND u.reading_date <= :last)"""
# Priceable: its plan is billing's, has a price in the period if the contract was in
# force (else it is only its charges, priced already), and none of its readings up
# to the period's end waits unpriced. The others are left out, not billed 0.00, and
# come again in a later run once a tariff covers them (they have no invoice yet).
PRICEABLE = f"""bc.tariff_plan IN :known_plans
      AND (NOT ({IN_FORCE}) OR bc.tariff_plan IN :priced_plans)
      AND NOT {UNPRICED}"""
# ``n`` numbers this run's invoices in contract order.
CANDIDATES = f"""
    SELECT bc.contract_no, bc.customer_id, bc.reference_no, bc.tariff_plan,
           CASE WHEN {IN_FORCE} THEN 1 ELSE 0 END AS in_force,
           ROW_NUMBER() OVER (ORDER BY bc.contract_no) AS n
    FROM billing_contracts bc
    WHERE {DUE} AND {PRICEABLE}"""
UNPRICEABLE = f"""
    SELECT bc.contract_no, bc.tariff_plan, CASE WHEN {UNPRICED} THEN 1 ELSE 0 END AS unpriced
    FROM billing_contracts bc
    WHERE {DUE} AND NOT ({PRICEABLE})
    ORDER BY bc.contract_no"""
ANY_UNPRICEABLE = f"""
    SELECT 1 FROM billing_contracts bc WHERE NOT ({PRICEABLE}) LIMIT 1"""
PLAN_SETS = ("known_plans", "priced_plans")


def _with_plans(sql):
    return sa.text(sql).bindparams(*(sa.bindparam(name, expanding=True) for name in PLAN_SETS))


def plans_for(session, first, last):
    """The plans billing has, and those with some price valid in the period."""
    c = tariff_components.c
    known = list(session.execute(sa.select(tariff_plans.c.code)).scalars())
    priced = list(session.execute(
        sa.select(c.tariff_plan).distinct()
        .where(c.valid_from <= last, sa.or_(c.valid_until.is_(None), c.valid_until >= first))
    ).scalars())
    return {"known_plans": known, "priced_plans": priced}


def unpriceable_contracts(session, params):
    """The contracts due for the period that cannot be priced, with why."""
    known = set(params["known_plans"])
    period = params["period"]
    # the usual answer is none: found by one scan of the contracts alone, without
    # comparing each with the period's invoices and charges
    if not session.execute(_with_plans(ANY_UNPRICEABLE), params).scalar():
        return []
    rows = session.execute(_with_plans(UNPRICEABLE), params).all()
    return [{"contract_no": row.contract_no, "tariff_plan": row.tariff_plan,
             "reason": (f"billing has no tariff plan {row.tariff_plan}"
                        if row.tariff_plan not in known else
                        "a reading of it could not be priced (GET /api/v1/operator/unpriceable)"
                        if row.unpriced else
                        f"tariff plan {row.tariff_plan} has no price valid in {period}")}
            for row in rows]


#: memory per sort or hash of the run's own transaction (VOOL_BILLING_WORK_MEM): the
#: lines' window sort of a 700,000-contract run needs about 500 MB to stay in memory
RUN_WORK_MEM = "512MB"
#: contracts per chunk of the run (VOOL_BILLING_RUN_CHUNK): its progress moves by that
RUN_CHUNK = 25_000


def bill_chunk(step, dialect, year, rate, params, low, high):
    """Invoice the candidates numbered ``low`` to ``high``: their lines, invoices,
    and charges marked billed."""
    params = {**params, "low": low, "high": high,
              "chunk_first_no": invoice_number(year, params["base"] + low),
              "chunk_last_no": invoice_number(year, params["base"] + high)}
    this_chunk = "invoice_no BETWEEN :chunk_first_no AND :chunk_last_no"
    # the chunk's contracts are a range of contract numbers too: the charges' index
    # finds theirs without a scan of every unbilled charge per chunk
    params["low_contract"], params["high_contract"] = step.session.execute(sa.text(
        "SELECT MIN(contract_no), MAX(contract_no) FROM run_candidates "
        "WHERE n BETWEEN :low AND :high"), params).one()
    in_chunk = "rc.n BETWEEN :low AND :high"
    charges_in_chunk = "{}.contract_no BETWEEN :low_contract AND :high_contract".format

    # the lines first: the charges' lines in the order of their readings, then the
    # fee; nothing refers to a line, so they may precede their invoice in the
    # transaction, and the invoices' nets are then a sum over rows just written
    # instead of a second join of every unbilled charge with its lines
    step("invoice lines", sa.text(f"""
        INSERT INTO invoice_lines (invoice_no, line_no, kind, register, kwh, unit_price,
                                   period_from, period_to, net, estimate_method,
                                   corrects_estimate, vat_rate)
        SELECT {_invoice_number_sql(dialect, year, "x.n")},
               ROW_NUMBER() OVER (PARTITION BY x.n
                                  ORDER BY x.fee, x.sort_to, x.charge_id, x.line_no),
               x.kind, x.register, x.kwh, x.unit_price, x.period_from, x.period_to, x.net,
               x.estimate_method, x.corrects_estimate, x.vat_rate
        FROM (SELECT rc.n, 0 AS fee, c.period_to AS sort_to, c.charge_id, cl.line_no,
                     cl.kind, cl.register, cl.kwh, cl.unit_price,
                     COALESCE(cl.period_from, c.period_from) AS period_from,
                     COALESCE(cl.period_to, c.period_to) AS period_to, cl.net,
                     cl.estimate_method, cl.corrects_estimate,
                     COALESCE(cl.vat_rate, :rate) AS vat_rate
              FROM run_candidates rc
              JOIN charges c ON c.contract_no = rc.contract_no
                            AND c.invoice_no IS NULL AND c.period_to <= :last
              JOIN charge_lines cl ON cl.charge_id = c.charge_id
              WHERE {in_chunk} AND {charges_in_chunk('c')}
              UNION ALL
              SELECT rc.n, 1, NULL, NULL, tc.component_id, 'monthly_fee', NULL, NULL,
                     tc.price, :first, :last, ROUND(tc.price, 2), NULL, FALSE, :rate
              FROM run_candidates rc
              JOIN tariff_components tc ON tc.tariff_plan = rc.tariff_plan
                   AND tc.kind = 'monthly_fee' AND tc.valid_from <= :first
                   AND (tc.valid_until IS NULL OR tc.valid_until >= :first)
              WHERE rc.in_force = 1 AND {in_chunk}) x
        ORDER BY x.n""").bindparams(sa.bindparam("rate", value=rate, type_=VAT_RATE)), params)

    # each invoice with its final amounts: net = the exact sum of its lines, VAT the
    # sum over its lines' rate groups of each group's VAT in integer cents, half away
    # from zero (a credit's too). ROUND(.., 2) changes nothing exact (PostgreSQL); on
    # SQLite, whose NUMERIC is a binary double, it keeps a sum the nearest double to
    # its cents, so that paid >= total holds when every cent is paid. An invoice of
    # 0 or less (estimates taken back exceeding the month's charges: a credit) has
    # nothing to pay: it is paid at issue, and a negative one's amount becomes credit
    # (payments.record_credits)
    number = _invoice_number_sql(dialect, year, "rc.n")
    step("invoices", sa.text(f"""
        INSERT INTO invoices (invoice_no, contract_no, customer_id, period, issued_on, due_on,
                              reference_no, net, vat_rate, vat, total, paid, status)
        SELECT a.invoice_no, a.contract_no, a.customer_id, :period, :issued_on, :due_on,
               a.reference_no, a.net, :rate, a.vat, ROUND(a.net + a.vat, 2), 0,
               CASE WHEN ROUND(a.net + a.vat, 2) <= 0 THEN 'paid' ELSE 'unpaid' END
        FROM (SELECT rc.n, {number} AS invoice_no, rc.contract_no, rc.customer_id,
                     rc.reference_no, COALESCE(l.net, 0) AS net,
                     COALESCE(l.vat_cents, 0) / 100.0 AS vat
              FROM run_candidates rc
              LEFT JOIN (SELECT g.invoice_no, ROUND(SUM(g.net), 2) AS net,
                                SUM(CASE WHEN g.net < 0
                                    THEN -((CAST(ROUND(-g.net * 100) AS BIGINT) * g.rate_bp
                                            + 5000) / 10000)
                                    ELSE (CAST(ROUND(g.net * 100) AS BIGINT) * g.rate_bp
                                          + 5000) / 10000 END) AS vat_cents
                         FROM (SELECT invoice_no,
                                      CAST(ROUND(vat_rate * 100) AS BIGINT) AS rate_bp,
                                      ROUND(SUM(net), 2) AS net
                               FROM invoice_lines WHERE {this_chunk}
                               GROUP BY invoice_no, vat_rate) g
                         GROUP BY g.invoice_no) l
                     ON l.invoice_no = {number}
              WHERE {in_chunk}) a
        ORDER BY a.n""").bindparams(sa.bindparam("rate", value=rate, type_=VAT_RATE)),
        params)

    step("charges billed", sa.text(f"""
        UPDATE charges SET invoice_no = {_invoice_number_sql(dialect, year, "rc.n")}
        FROM run_candidates rc
        WHERE charges.contract_no = rc.contract_no AND charges.invoice_no IS NULL
          AND charges.period_to <= :last AND {in_chunk}
          AND {charges_in_chunk('charges')}"""), params)


@measured_job("billing_run")
def run(uow, period, due_days, progress=None, work_mem=RUN_WORK_MEM, advance=None,
        chunk=RUN_CHUNK):
    """Invoice every contract for ``period``; returns ``{invoices_issued, total,
    unpriceable: [{contract_no, tariff_plan, reason}]}`` (those left out).
    ``progress(step, rows, seconds)`` hears of each step as it finishes, and
    ``advance(done, total)`` of the contracts invoiced so far, chunk by chunk."""
    first, last = period_bounds(period)
    today = uow.clock.today()
    if first > today:
        raise ValidationFailed.field("period", "must not be in the future")
    session = uow.session
    dialect = session.get_bind().dialect.name
    step = _Steps(session, period, progress)
    # One run at a time per database; a concurrent one waits, then finds nothing to do.
    if dialect == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(7301002)"))
        # the invoice and line steps sort and aggregate millions of rows: in memory,
        # not in external merges on disk (1-2 s of a 700,000-contract run); and
        # compiling these few statements to machine code costs more than it saves
        session.execute(sa.text("SELECT set_config('work_mem', :work_mem, true)"),
                        {"work_mem": work_mem})
        session.execute(sa.text("SET LOCAL jit = off"))
    rate = session.execute(sa.select(vat_rates.c.rate).where(vat_rates.c.valid_from <= last)
                           .order_by(vat_rates.c.valid_from.desc()).limit(1)).scalar()
    if rate is None:
        raise Conflict(f"no VAT rate is valid on {last}")
    started = time.perf_counter()
    params = {"period": period, "first": first, "last": last, "issued_on": today,
              "due_on": today + timedelta(days=due_days),
              **plans_for(session, first, last)}
    unpriceable = unpriceable_contracts(session, params)
    step.report("unpriceable left out", len(unpriceable), time.perf_counter() - started)
    if unpriceable:
        log.warning("billing run %s: %d contracts left out, they cannot be priced: %s",
                    period, len(unpriceable),
                    "; ".join(f"{u['contract_no']} ({u['reason']})" for u in unpriceable[:20]))

    # the candidates once, numbered, in a table of this transaction's own
    session.execute(sa.text("DROP TABLE IF EXISTS run_candidates"))
    keep = " ON COMMIT DROP" if dialect == "postgresql" else ""
    count = step("candidates", _with_plans(
        f"CREATE TEMPORARY TABLE run_candidates{keep} AS {CANDIDATES}"), params)
    if dialect != "postgresql":   # SQLite's CREATE TABLE AS counts no rows
        count = session.execute(sa.text("SELECT COUNT(*) FROM run_candidates")).scalar()
    if not count:
        if advance:
            advance(0, 0)
        return {"invoices_issued": 0, "total": "0.00", "unpriceable": unpriceable}
    # in chunks of contracts (in number order, so contract order): progress moves,
    # and each chunk's statements are the whole run's on a slice of it
    if dialect == "postgresql" or count > chunk:
        session.execute(sa.text("CREATE INDEX run_candidates_n ON run_candidates (n)"))
    if dialect == "postgresql":
        session.execute(sa.text("ANALYZE run_candidates"))
    last_number = next_number(session, number_sequences, f"invoice-{first.year}", count)
    params.update(base=last_number - count,
                  first_no=invoice_number(first.year, last_number - count + 1),
                  last_no=invoice_number(first.year, last_number))
    if advance:
        advance(0, count)
    for low in range(1, count + 1, chunk):
        high = min(low + chunk - 1, count)
        bill_chunk(step, dialect, first.year, rate, params, low, high)
        if advance:
            advance(high, count)

    # its invoice_issued events are published from the invoices after commit
    started = time.perf_counter()
    issued, total = issued_events.record_run(session, period, params["first_no"],
                                             params["last_no"], uow.clock.now())
    step.report("run recorded", 1, time.perf_counter() - started)

    started = time.perf_counter()
    credits = payments.record_credits(session, uow.clock.now())
    step.report("credit notes recorded", credits, time.perf_counter() - started)

    started = time.perf_counter()
    # credit left from earlier payments and this run's credit notes pay open invoices
    allocated = payments.spend(uow)
    step.report("credit spent", allocated, time.perf_counter() - started)
    session.execute(sa.text("DROP TABLE IF EXISTS run_candidates"))
    if dialect == "postgresql":
        # the planner must know this period's invoices now: with the statistics of
        # before the run, the next run's NOT EXISTS compares every contract with
        # every new invoice (minutes at 100,000) until autovacuum catches up
        session.execute(sa.text("ANALYZE invoices"))

    return {"invoices_issued": issued, "total": money_text(total), "unpriceable": unpriceable}


def contracts_on_unknown_plans(uow):
    """Contracts not ended whose tariff plan billing does not have:
    ``[{contract_no, tariff_plan, reason}]``."""
    bc = billing_contracts.c
    rows = uow.session.execute(
        sa.select(bc.contract_no, bc.tariff_plan)
        .where(sa.or_(bc.end_date.is_(None), bc.end_date >= uow.clock.today()),
               bc.tariff_plan.not_in(sa.select(tariff_plans.c.code)))
        .order_by(bc.contract_no)).all()
    return [{"contract_no": r.contract_no, "tariff_plan": r.tariff_plan,
             "reason": f"billing has no tariff plan {r.tariff_plan}"} for r in rows]


def record_contract(uow, data):
    """From contract_signed: billing's own copy of the contract."""
    session = uow.session
    session.execute(sa.delete(billing_contracts)
                    .where(billing_contracts.c.contract_no == data["contract_no"]))
    session.execute(sa.insert(billing_contracts).values(
        contract_no=data["contract_no"], customer_id=data["customer_id"],
        reference_no=data["reference_no"], tariff_plan=data["tariff_plan"],
        start_date=date.fromisoformat(data["start_date"]),
        consumption_point_id=data.get("consumption_point_id"),
        initial_readings=data.get("initial_readings")))


def record_termination(uow, data):
    uow.session.execute(sa.update(billing_contracts)
                        .where(billing_contracts.c.contract_no == data["contract_no"])
                        .values(end_date=date.fromisoformat(data["end_date"])))


def record_relink(uow, data):
    uow.session.execute(sa.update(billing_contracts)
                        .where(billing_contracts.c.contract_no == data["contract_no"])
                        .values(customer_id=data["customer_id"]))


INVOICE_STATUSES = ("unpaid", "paid", "overdue", "all")


def invoice_summary(row):
    return {"invoice_no": row["invoice_no"], "contract_no": row["contract_no"],
            "period": row["period"], "issued_on": row["issued_on"].isoformat(),
            "due_on": row["due_on"].isoformat(), "net": money_text(row["net"]),
            "vat_rate": money_text(row["vat_rate"]), "vat": money_text(row["vat"]),
            "total": money_text(row["total"]), "paid": money_text(row["paid"]),
            "status": row["status"], "reference_no": row["reference_no"]}


def contracts_at(consumption_point_ids):
    """The contracts of these consumption points, for a mandate limited to them."""
    return sa.select(billing_contracts.c.contract_no).where(
        billing_contracts.c.consumption_point_id.in_(list(consumption_point_ids)))


def invoices_of(uow, customer_id, status="all", consumption_point_ids=None):
    if status not in INVOICE_STATUSES:
        raise ValidationFailed.field("status", "unpaid, paid, overdue or all")
    query = sa.select(invoices).where(invoices.c.customer_id == customer_id)
    if consumption_point_ids is not None:
        query = query.where(invoices.c.contract_no.in_(contracts_at(consumption_point_ids)))
    if status != "all":
        query = query.where(invoices.c.status == status)
    rows = uow.session.execute(query.order_by(invoices.c.issued_on.desc(),
                                              invoices.c.invoice_no.desc())).mappings().all()
    return [invoice_summary(r) for r in rows]


def open_to_pay(uow, customer_id, consumption_point_ids=None):
    """How many of her invoices are not paid and what is left to pay of them (each
    one's total less what was paid of it). Summed here, not in SQL: SQLite keeps
    money as text and would sum it as floats."""
    query = sa.select(invoices.c.total, invoices.c.paid).where(
        invoices.c.customer_id == customer_id, invoices.c.status != "paid")
    if consumption_point_ids is not None:
        query = query.where(invoices.c.contract_no.in_(contracts_at(consumption_point_ids)))
    rows = uow.session.execute(query).all()
    return {"invoices": len(rows),
            "amount": money_text(sum((total - paid for total, paid in rows), Decimal("0")))}


def invoice(uow, invoice_no, customer_id=None, consumption_point_ids=None):
    query = sa.select(invoices).where(invoices.c.invoice_no == invoice_no)
    if consumption_point_ids is not None:
        query = query.where(invoices.c.contract_no.in_(contracts_at(consumption_point_ids)))
    row = uow.session.execute(query).mappings().first()
    if row is None or (customer_id and row["customer_id"] != customer_id):
        raise NotFound(f"no invoice {invoice_no}")
    lines = uow.session.execute(sa.select(invoice_lines)
                                .where(invoice_lines.c.invoice_no == invoice_no)
                                .order_by(invoice_lines.c.line_no)).mappings().all()
    rate = row["vat_rate"]
    return {**invoice_summary(row), **payments.credit_notes_view(uow.session, invoice_no),
            "vat_by_rate": [
        {"vat_rate": money_text(r), "net": money_text(net), "vat": money_text(vat)}
        for r, net, vat in vat_by_rate(lines, rate)], "lines": [{
        "kind": l["kind"], "register": l["register"],
        "kwh": None if l["kwh"] is None else f"{l['kwh'].normalize():f}",
        "unit_price": None if l["unit_price"] is None else f"{l['unit_price']:.6f}",
        "period_from": l["period_from"].isoformat() if l["period_from"] else None,
        "period_to": l["period_to"].isoformat() if l["period_to"] else None,
        "net": money_text(l["net"]),
        "vat_rate": money_text(rate if l["vat_rate"] is None else l["vat_rate"]),
        **({"estimated": True, "method": l["estimate_method"],
            "corrects_estimate": bool(l["corrects_estimate"])}
           if l["estimate_method"] else {})} for l in lines]}
