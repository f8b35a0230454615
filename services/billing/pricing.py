"""Pricing a reading's consumption with the tariff plan's components (data).

Each register's kWh is priced with every per-kWh component of the plan that
applies to that register (or to all registers) and is valid on the reading date.
One charge per reading: ``charges.reading_id`` is unique and the handler records
the event id in the same transaction.

A reading billing cannot price — its plan unknown here, or some day of its
interval without an energy price for a register — is not charged 0.00 (nor the
days without a price left out): it is flagged in ``unpriced_readings`` with the
reason, its contract is left out of the billing run, and it is priced once an
operator adds a tariff that covers it.

Estimates (issue #20): a ``reading_estimated`` is charged like a reading, its
charge and lines marked with the estimate's method. The next actual reading's
``reading_submitted`` names the estimates it settles: it is charged the actual
consumption since the last *actual* reading, at the prices of the days it fell
on, plus each settled estimate's lines taken back (``corrects_estimate``, the
same kWh and money negated) — so whatever span lies between two actual readings
is billed exactly its actual consumption at its days' prices. Each estimate's
fate is claimed once in ``estimate_claims`` (its primary key orders the two
handlers): charged first, it is taken back; settled first, it is never charged.

VAT is the supply's: each line carries the VAT rate of its days (a change of the
rate splits a line as a price change does), a line taking an estimate back the
rate the estimate's line was taxed at; the run sums an invoice's VAT by rate.
"""
import logging
import uuid
import weakref
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from sqlalchemy.dialects import postgresql, sqlite

from services.billing.models import (charge_lines, charges, estimate_claims, invoices,
                                     tariff_components, tariff_plans, unpriced_readings,
                                     vat_rates)
from services.billing.money import exact, money_text, to_cents
from services.common.clock import as_utc

log = logging.getLogger(__name__)

PER_KWH_KINDS = ("energy", "network", "renewable", "excise")
KWH_PLACES = Decimal("0.001")


class PlanPrices:
    """Each plan's per-kWh components, cached per process and database under the
    plan's ``prices_version``.

    Every charge reads the version inside its own transaction (with the question
    whether the reading is charged already: one statement), so a price an operator
    added — in any replica: add_tariff sets a new version in the transaction that
    adds the components — applies to every reading priced after it committed. A
    plan without a version (components written by hand) is read every time.
    """

    _QUERY = (sa.select(tariff_components.c.kind, tariff_components.c.register,
                        tariff_components.c.price, tariff_components.c.valid_from,
                        tariff_components.c.valid_until)
              .where(tariff_components.c.tariff_plan == sa.bindparam("plan"),
                     tariff_components.c.kind.in_(PER_KWH_KINDS))
              .order_by(tariff_components.c.kind, tariff_components.c.register,
                        tariff_components.c.valid_from, tariff_components.c.component_id))

    def __init__(self):
        # by engine: a process (a test run) may have several databases, whose
        # versions say nothing about each other
        self._cached = weakref.WeakKeyDictionary()

    def of(self, connection, plan, version):
        """Every per-kWh component of ``plan``: ``[(kind, register, price, from, until)]``."""
        cached = self._cached.setdefault(connection.engine, {})
        if version and plan in cached and cached[plan][0] == version:
            return cached[plan][1]
        components = [tuple(row) for row in connection.execute(self._QUERY, {"plan": plan})]
        if version:
            # read after the version in the same transaction: never older than it (at
            # worst newer, and then the next charge sees another version and reads again)
            cached[plan] = (version, components)
        return components

    _RATES = sa.select(vat_rates.c.valid_from, vat_rates.c.rate).order_by(vat_rates.c.valid_from)

    def vat_rates(self, connection, version):
        """The VAT rates ``[(valid_from, rate)]``, oldest first, cached under
        ``version`` (how many rates there are and the newest one's day: a rate is
        only ever added, add_vat_rate refusing a day that has one)."""
        cached = self._cached.setdefault(connection.engine, {})
        if cached.get("vat rates", (None,))[0] != version:
            cached["vat rates"] = (version, [tuple(r) for r in connection.execute(self._RATES)])
        return cached["vat rates"][1]


PRICES = PlanPrices()


def valid_within(components, start, end):
    """Those of ``components`` valid on some day of (start, end]."""
    return [c for c in components if c[3] <= end and (c[4] is None or c[4] > start)]


def _price_on(components, kind, register, day):
    """A register's own price wins over the plan's all-register price; of two
    prices valid on a day, the one valid from later (a newer price list) wins."""
    valid = sorted(((since, r, p) for k, r, p, since, until in components
                    if k == kind and since <= day and (until is None or day <= until)),
                   key=lambda v: v[0])
    own = [p for _, r, p in valid if r == register]
    general = [p for _, r, p in valid if r is None]
    return (own or general or [None])[-1]


def vat_rate_on(rates, day):
    """The VAT rate of ``rates`` (``[(valid_from, rate)]``, oldest first) valid on ``day``."""
    valid = [rate for since, rate in rates if since <= day]
    return valid[-1] if valid else None


def _segments(components, kind, register, start, end, rates=()):
    """``[(first_day, last_day, price, vat_rate)]`` over the days (start, end] that
    carry a price: a new segment where the price or the VAT rate changes."""
    segments = []
    days = max((end - start).days, 1)
    first = end - timedelta(days=days - 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        price = _price_on(components, kind, register, day)
        rate = vat_rate_on(rates, day)
        if (segments and segments[-1][2:] == (price, rate)
                and segments[-1][1] == day - timedelta(days=1)):
            segments[-1] = (segments[-1][0], day, price, rate)
        else:
            segments.append((day, day, price, rate))
    return [s for s in segments if s[2] is not None], days


def price_lines(components, consumption, start, end, rates=None):
    """Charge lines for ``{register: kWh}`` consumed over the days (start, end].

    A price change inside the interval splits its kWh by days: each price gets the
    share of its days, to the Wh, the last share taking what rounding left over.
    With ``rates`` (the VAT rates, ``[(valid_from, rate)]`` oldest first) a change
    of the VAT rate splits a line the same way, and each line carries the
    ``vat_rate`` of its days. Pure, so unit tests reach it directly.
    """
    lines = []
    for register in sorted(consumption):
        kwh = exact(consumption[register])
        for kind in PER_KWH_KINDS:
            segments, days = _segments(components, kind, register, start, end, rates or ())
            priced_every_day = sum((s[1] - s[0]).days + 1 for s in segments) == days
            given = Decimal(0)
            for n, (first, last, price, rate) in enumerate(segments):
                if priced_every_day and n == len(segments) - 1:
                    share = kwh - given          # the shares add up to the kWh exactly
                else:
                    share = (kwh * ((last - first).days + 1) / days).quantize(KWH_PLACES)
                given += share
                unit_price = exact(price)
                line = {"kind": kind, "register": register, "kwh": share,
                        "unit_price": unit_price, "net": to_cents(unit_price * share),
                        "period_from": first, "period_to": last}
                if rates is not None:
                    line["vat_rate"] = rate
                lines.append(line)
    return lines


def unpriced_day(components, register, start, end):
    """The first day of (start, end] without an energy price for the register, or None."""
    days = max((end - start).days, 1)
    first = end - timedelta(days=days - 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        if _price_on(components, "energy", register, day) is None:
            return day
    return None


def why_unpriceable(plan, consumption, start, end, components):
    """Why billing cannot price this consumption with the plan's ``components``
    (None: the plan is unknown here), or None when it can."""
    if components is None:
        return f"billing has no tariff plan {plan}"
    for register in sorted(consumption):
        day = unpriced_day(components, register, start, end)
        if day is not None:
            return f"tariff plan {plan} has no energy price for {register} on {day.isoformat()}"
    return None


# What charging a reading needs to know first, in one round trip: is it charged
# already (a re-sent reading), the plan's prices version (None: no such plan), and
# whether it was flagged unpriceable before (only then is there a flag to remove).
_READING_STATE = sa.select(
    sa.select(charges.c.charge_id).where(charges.c.reading_id == sa.bindparam("reading_id"))
    .scalar_subquery().label("charged"),
    sa.select(sa.func.coalesce(tariff_plans.c.prices_version, ""))
    .where(tariff_plans.c.code == sa.bindparam("plan")).scalar_subquery().label("prices_version"),
    sa.exists().where(unpriced_readings.c.reading_id == sa.bindparam("reading_id"))
    .label("flagged"),
    sa.select(sa.func.count()).select_from(vat_rates).scalar_subquery().label("vat_count"),
    sa.select(sa.func.max(vat_rates.c.valid_from)).scalar_subquery().label("vat_latest"))
_INSERT_CHARGE = sa.insert(charges)
_INSERT_LINES = sa.insert(charge_lines)
_UNFLAG = sa.delete(unpriced_readings).where(
    unpriced_readings.c.reading_id == sa.bindparam("reading_id"))


def charge_reading(uow, data):
    """From reading_submitted: one charge with its lines for the reading, or the
    reading flagged as unpriceable (returns None then).

    On the hot path of every reading: SQL Core on the unit of work's connection,
    statements built once, the plan's prices from the process's cache (PlanPrices)."""
    connection = uow.session.connection()
    plan, reading_id = data["tariff_plan"], data["reading_id"]
    state = connection.execute(_READING_STATE, {"reading_id": reading_id, "plan": plan}).one()
    if state.charged is not None:
        return None  # already charged under another event id (a re-sent reading)
    reading_date = date.fromisoformat(data["reading_date"])
    previous_date = date.fromisoformat(data["previous_reading_date"])
    components = None
    if state.prices_version is not None:
        components = valid_within(PRICES.of(connection, plan, state.prices_version),
                                  previous_date, reading_date)
    reason = why_unpriceable(plan, data["consumption"], previous_date, reading_date, components)
    if reason is not None:
        flag_unpriced(uow, data, reading_date, reason)
        return None
    method = data.get("method")
    rates = PRICES.vat_rates(connection, (state.vat_count, state.vat_latest))
    lines = price_lines(components, data["consumption"], previous_date, reading_date, rates)
    if method is not None:
        if not _claim_estimate(uow, reading_id, "charged"):
            return None   # the next actual reading settled it before it was charged
        for line in lines:
            line["estimate_method"] = method
    for estimate_id in data.get("settles_estimates") or ():
        lines.extend(_take_back(uow, estimate_id, reading_id))
    charge_id = str(uuid.uuid4())
    connection.execute(_INSERT_CHARGE, {
        "charge_id": charge_id, "reading_id": reading_id,
        "consumption_point_id": data["consumption_point_id"], "contract_no": data["contract_no"],
        "customer_id": data["customer_id"],
        "period_from": previous_date, "period_to": reading_date,
        "registers": data.get("registers"), "register_digits": data.get("register_digits"),
        "consumption": data["consumption"], "estimate_method": method,
        "net": sum((line["net"] for line in lines), Decimal("0.00")), "created_at": uow.now})
    if lines:
        connection.execute(_INSERT_LINES, [
            {"estimate_method": None, "corrects_estimate": False, "vat_rate": None, **line,
             "charge_id": charge_id, "line_no": n} for n, line in enumerate(lines, 1)])
    if state.flagged:
        connection.execute(_UNFLAG, {"reading_id": reading_id})
    return charge_id


_CLAIM = {"postgresql": postgresql.insert(estimate_claims).on_conflict_do_nothing(),
          "sqlite": sqlite.insert(estimate_claims).on_conflict_do_nothing()}


def _claim_estimate(uow, estimate_id, state, settled_by=None):
    """Whether this is the first word on the estimate's fate (a concurrent claim
    waits on the primary key, then finds the row)."""
    claim = _CLAIM[uow.session.get_bind().dialect.name]
    return bool(uow.session.execute(claim, {
        "estimate_reading_id": estimate_id, "state": state, "settled_by": settled_by,
        "at": uow.now}).rowcount)


def _take_back(uow, estimate_id, reading_id):
    """The lines that take back what the estimate ``estimate_id`` was charged (none
    when it was not: then it never will be)."""
    session = uow.session
    if _claim_estimate(uow, estimate_id, "settled", reading_id):
        # never charged: not later either, nor left flagged as unpriceable
        session.execute(_UNFLAG, {"reading_id": estimate_id})
        return []
    session.execute(sa.update(estimate_claims)
                    .where(estimate_claims.c.estimate_reading_id == estimate_id)
                    .values(state="settled", settled_by=reading_id, at=uow.now))
    # each at the VAT rate the estimate's line was taxed at: its own, or (a line from
    # before rates were per line) its invoice's
    charged = session.execute(
        sa.select(charge_lines, charges.c.estimate_method.label("method"),
                  invoices.c.vat_rate.label("invoice_rate"))
        .join(charges, charges.c.charge_id == charge_lines.c.charge_id)
        .outerjoin(invoices, invoices.c.invoice_no == charges.c.invoice_no)
        .where(charges.c.reading_id == estimate_id, charge_lines.c.corrects_estimate.is_(False))
        .order_by(charge_lines.c.line_no)).mappings().all()
    return [{"kind": l["kind"], "register": l["register"], "kwh": -exact(l["kwh"]),
             "unit_price": exact(l["unit_price"]), "net": -exact(l["net"]),
             "period_from": l["period_from"], "period_to": l["period_to"],
             "estimate_method": l["method"], "corrects_estimate": True,
             "vat_rate": l["invoice_rate"] if l["vat_rate"] is None else l["vat_rate"]}
            for l in charged]


def flag_unpriced(uow, data, reading_date, reason):
    u = unpriced_readings.c
    uow.session.execute(sa.delete(unpriced_readings).where(u.reading_id == data["reading_id"]))
    uow.session.execute(sa.insert(unpriced_readings).values(
        reading_id=data["reading_id"], contract_no=data["contract_no"],
        tariff_plan=data["tariff_plan"][:32], reading_date=reading_date, reason=reason[:300],
        reading=data, flagged_at=uow.now))
    log.warning("reading %s of contract %s not priced: %s", data["reading_id"],
                data["contract_no"], reason)


def reprice(uow, plan):
    """Price the flagged readings of ``plan`` again (a tariff was added to it);
    returns how many are charged now. Oldest first, as they arrived."""
    u = unpriced_readings.c
    flagged = uow.session.execute(sa.select(u.reading).where(u.tariff_plan == plan)
                                  .order_by(u.reading_date, u.flagged_at)).scalars().all()
    return sum(1 for data in flagged if charge_reading(uow, data) is not None)


def unpriced(uow):
    """Every flagged reading: ``[{reading_id, contract_no, tariff_plan, reading_date,
    reason, flagged_at}]``, oldest first."""
    u = unpriced_readings.c
    rows = uow.session.execute(sa.select(u.reading_id, u.contract_no, u.tariff_plan,
                                         u.reading_date, u.reason, u.flagged_at)
                               .order_by(u.reading_date, u.reading_id)).mappings().all()
    return [{**row, "reading_date": row["reading_date"].isoformat(),
             "flagged_at": as_utc(row["flagged_at"]).isoformat()} for row in rows]


def charge_for_reading(uow, reading_id):
    row = uow.session.execute(sa.select(charges).where(charges.c.reading_id == reading_id)
                              ).mappings().first()
    if row is None:
        return None
    lines = uow.session.execute(
        sa.select(charge_lines).where(charge_lines.c.charge_id == row["charge_id"])
        .order_by(charge_lines.c.line_no)).mappings().all()
    return {
        "charge_id": row["charge_id"], "reading_id": row["reading_id"],
        "contract_no": row["contract_no"], "period_from": row["period_from"].isoformat(),
        "period_to": row["period_to"].isoformat(), "net": money_text(row["net"]),
        "lines": [{"kind": l["kind"], "register": l["register"], "kwh": _kwh(l["kwh"]),
                   "unit_price": f"{l['unit_price']:.6f}", "net": money_text(l["net"]),
                   "period_from": _day(l["period_from"]), "period_to": _day(l["period_to"]),
                   **({"vat_rate": money_text(l["vat_rate"])} if l["vat_rate"] is not None
                      else {}),
                   **({"estimated": True, "method": l["estimate_method"],
                       "corrects_estimate": bool(l["corrects_estimate"])}
                      if l["estimate_method"] else {})}
                  for l in lines],
        **({"estimated": True} if row["estimate_method"] else {}),
    }


def _kwh(value):
    """Whole kWh as an int, a split share as its decimal string."""
    value = exact(value)
    return int(value) if value == value.to_integral_value() else f"{value.normalize()}"


def _day(value):
    return value.isoformat() if value else None
