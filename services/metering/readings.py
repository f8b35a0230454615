"""Meters and readings: metering's domain rules, free of nameko.

- ``register_meter`` keeps metering's own copy of a meter's registers from
  ``contract_signed``, with the initial readings as the first accepted reading,
  and announces the first reading due.
- ``submit_reading`` checks a reading against that copy and the last accepted
  reading (a register that passed 10**digits rolled over, if that is plausible),
  judges its plausibility, and stores it — accepted, with ``reading_submitted``,
  or held for review, with ``reading_held_for_review`` — in one transaction.
- ``decide`` releases a held reading to billing or rejects it with a reason.
- ``withdraw`` lets a customer take back her reading while it is held; a new
  reading of hers replaces the held one.
"""
import hashlib
import json
import uuid
from datetime import date
from typing import Literal, Optional

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.dialects import postgresql, sqlite

from services.common.errors import Conflict, NotFound, ValidationFailed, field_error
from services.common.registers import register_value_errors
from services.metering import estimates, plausibility
from services.metering.api import (ReviewDecision, ReadingHeldForReview, ReadingRejected,
                                   ReadingScheduleStarted, ReadingSubmitted, ReadingWithdrawn,
                                   SubmitReading)
from services.metering.models import idempotency_keys, meters, readings
from services.metering.schedule import next_reading_due

# The statements of a submission, built once: building a statement and its cache key
# on every call cost more CPU than sending it (values come as parameters).
_POINT = sa.bindparam("point_id", type_=meters.c.consumption_point_id.type)
_METER_FOR_UPDATE = (sa.select(meters).where(meters.c.consumption_point_id == _POINT)
                     .with_for_update())
_HISTORY_AND_HELD = (
    sa.select(readings)
    .where(readings.c.consumption_point_id == _POINT,
           readings.c.status.in_(("accepted", "held_for_review")))
    .order_by(readings.c.reading_date, readings.c.submitted_at))
_INSERT_READING = sa.insert(readings)
_KEY = sa.bindparam("idempotency_key", type_=idempotency_keys.c.key.type)
_CLAIM_KEY = {"postgresql": postgresql.insert(idempotency_keys).on_conflict_do_nothing(),
              "sqlite": sqlite.insert(idempotency_keys).on_conflict_do_nothing()}
_FIRST_ANSWER = sa.select(idempotency_keys).where(idempotency_keys.c.key == _KEY)
_STORE_ANSWER = (sa.update(idempotency_keys).where(idempotency_keys.c.key == _KEY)
                 .values(response=sa.bindparam("answer", type_=idempotency_keys.c.response.type)))

#: who may enter a new reading while one is held: the customer (or her delegate)
#: correcting a typo replaces the held reading; the desk and imports wait for the
#: decision
CORRECTS_HELD = ("customer", "delegate")


def register_meter(uow, data, window_days):
    """From contract_signed: the meter's registers and its initial readings."""
    session = uow.session
    point_id = data["consumption_point_id"]
    values = dict(
        contract_no=data["contract_no"], customer_id=data["customer_id"], eic=data["eic"],
        meter_serial=data["meter"]["serial"], registers=data["meter"]["registers"],
        tariff_plan=data["tariff_plan"], reading_day=int(data["reading_day"]),
        start_date=date.fromisoformat(data["start_date"]))
    exists = session.execute(sa.select(meters.c.consumption_point_id)
                             .where(meters.c.consumption_point_id == point_id)).first()
    if exists:
        session.execute(sa.update(meters).where(meters.c.consumption_point_id == point_id)
                        .values(**values, end_date=None))
        return
    session.execute(sa.insert(meters).values(consumption_point_id=point_id, **values))
    session.execute(sa.insert(readings).values(
        reading_id=str(uuid.uuid4()), consumption_point_id=point_id,
        reading_date=values["start_date"], registers=data["initial_readings"],
        consumption={code: 0 for code in data["initial_readings"]},
        status="accepted", source="initial", submitted_by=None, submitted_at=uow.now))
    uow.emit_event(ReadingScheduleStarted(
        consumption_point_id=point_id, customer_id=data["customer_id"],
        contract_no=data["contract_no"], reading_day=values["reading_day"],
        next_reading_due=next_reading_due(values["reading_day"], values["start_date"],
                                          window_days)))


def accepted_readings(session, point_id):
    """Accepted readings of a point, oldest first."""
    return session.execute(
        sa.select(readings)
        .where(readings.c.consumption_point_id == point_id, readings.c.status == "accepted")
        .order_by(readings.c.reading_date, readings.c.submitted_at)).mappings().all()


def _history_and_held(session, point_id):
    """(accepted readings oldest first, the reading held for review or None) of a
    point, in one statement: a submission needs both."""
    rows = session.execute(_HISTORY_AND_HELD, {"point_id": point_id}).mappings().all()
    held = next((r for r in rows if r["status"] == "held_for_review"), None)
    return [r for r in rows if r["status"] == "accepted"], held


def last_accepted_reading(session, point_id):
    history = accepted_readings(session, point_id)
    return history[-1] if history else None


def _history_intervals(history):
    return plausibility.intervals(
        [(r["reading_date"], sum(r["consumption"].values())) for r in history])


def _request_hash(command):
    body = command.model_dump(mode="json", exclude={"idempotency_key"})
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def submit_reading(uow, command: SubmitReading, window_days, thresholds):
    session = uow.session
    if command.idempotency_key:
        replay = _claim_idempotency_key(uow, command)
        if replay is not None:
            return replay
    # The meter row is locked so that two submissions for one consumption point
    # are checked against the previous reading one after the other.
    meter = session.execute(_METER_FOR_UPDATE, {"point_id": command.consumption_point_id}
                            ).mappings().first()
    if meter is None or (command.customer_id and meter["customer_id"] != command.customer_id):
        raise NotFound(f"no consumption point {command.consumption_point_id}")
    history, held = _history_and_held(session, meter["consumption_point_id"])
    if held is not None and command.source not in CORRECTS_HELD:
        raise Conflict("the last reading of this consumption point is being checked; "
                       "a new one can be entered once it is decided", code="reading-under-review")

    errors = register_value_errors(command.registers, meter["registers"], "registers")
    if command.reading_date > uow.clock.today():
        errors.append(field_error("reading_date", "must not be in the future", "date-in-future",
                                  today=uow.clock.today().isoformat()))
    if command.reading_date < meter["start_date"]:
        errors.append(field_error(
            "reading_date", f"must not be before the contract started ({meter['start_date']})",
            "date-before-contract", start_date=meter["start_date"].isoformat()))
    previous = history[-1]
    if not errors and command.reading_date < previous["reading_date"]:
        errors.append(field_error(
            "reading_date", f"must not be before the last reading ({previous['reading_date']})",
            "date-before-last-reading", last_date=previous["reading_date"].isoformat()))
    # the estimates since the last actual reading: a reading for one's day replaces
    # it and those before it (the later ones stay, continuing from it); a reading for
    # the last one's day or later replaces them all. A day between two estimates
    # would leave an estimate overlapping the actual reading's span: refused
    pending = estimates.pending_estimates(session, meter["consumption_point_id"])
    estimated_days = [r["reading_date"] for r in pending]
    if (not errors and pending and command.reading_date < estimated_days[-1]
            and command.reading_date not in estimated_days):
        days = ", ".join(d.isoformat() for d in estimated_days)
        if len(estimated_days) == 1:
            errors.append(field_error(
                "reading_date", f"must not be before the estimated reading ({days}); "
                                "enter the reading of that day or a later one",
                "date-before-estimate", last_date=days))
        else:
            errors.append(field_error(
                "reading_date", f"must be the day of an estimated reading ({days}) or later",
                "date-between-estimates", first_date=estimated_days[0].isoformat(),
                last_date=estimated_days[-1].isoformat()))
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']} {e['message']}" for e in errors), errors)

    intervals = _history_intervals(history)
    consumption = _consumption(command, meter, previous, intervals, thresholds)
    review_reason = plausibility.judge(
        intervals, previous["reading_date"], command.reading_date, sum(consumption.values()),
        meter["tariff_plan"], thresholds)
    status = "accepted" if review_reason is None else "held_for_review"
    reading_id = str(uuid.uuid4())
    if held is not None:   # the customer's correction of the reading being checked
        _withdraw(uow, meter, held["reading_id"], command.submitted_by, replaced_by=reading_id)
    session.execute(_INSERT_READING, dict(
        reading_id=reading_id, consumption_point_id=meter["consumption_point_id"],
        reading_date=command.reading_date, registers=command.registers,
        consumption=consumption, status=status, source=command.source,
        submitted_by=command.submitted_by, mandate_id=command.mandate_id,
        submitted_at=uow.now, review_reason=review_reason))
    due = _next_due(meter, command.reading_date, pending, window_days)
    if status == "accepted":
        settled = _settle_estimates(session, meter, pending, command.reading_date,
                                    reading_id, command.registers)
        _emit_submitted(uow, meter, reading_id, command.reading_date, command.registers,
                        consumption, previous["reading_date"], due, settles=settled)
    else:
        due = _next_due(meter, previous["reading_date"], pending, window_days)
        uow.emit_event(ReadingHeldForReview(
            reading_id=reading_id, consumption_point_id=meter["consumption_point_id"],
            customer_id=meter["customer_id"], reading_date=command.reading_date,
            registers=command.registers, reason=review_reason))
    answer = {"reading_id": reading_id, "status": status, "consumption": consumption,
              "next_reading_due": due.isoformat()}
    if review_reason:
        answer["review_reason"] = review_reason
    if command.idempotency_key:
        session.execute(_STORE_ANSWER, {"idempotency_key": command.idempotency_key,
                                        "answer": answer})
    return answer


def _claim_idempotency_key(uow, command):
    """The first answer for this key, or None when this request is the first.

    The key is inserted first: a concurrent request with the same key waits on
    it, then finds the answer the first one stored."""
    request_hash = _request_hash(command)
    claim = _CLAIM_KEY[uow.session.get_bind().dialect.name]
    inserted = uow.session.execute(claim, {"key": command.idempotency_key,
                                           "request_hash": request_hash,
                                           "created_at": uow.now}).rowcount
    if inserted:
        return None
    first = uow.session.execute(_FIRST_ANSWER, {"idempotency_key": command.idempotency_key}
                                ).mappings().one()
    if first["request_hash"] != request_hash:
        raise Conflict("this Idempotency-Key was used with another request",
                       code="idempotency-key-reused")
    if first["response"] is None:
        raise Conflict("the first request with this Idempotency-Key failed; use a new key",
                       code="idempotency-key-reused")
    return first["response"]


def _consumption(command, meter, previous, intervals, thresholds):
    """Per register: reading − previous; below the previous value, the register
    rolled over if that consumption is plausible, else the reading is refused."""
    digits = {r["code"]: r["digits"] for r in meter["registers"]}
    consumption, errors = {}, []
    for code, value in sorted(command.registers.items()):
        before = previous["registers"][code]
        if value >= before:
            consumption[code] = value - before
            continue
        rolled = 10 ** digits[code] - before + value
        doubt = plausibility.judge(intervals, previous["reading_date"], command.reading_date,
                                   rolled, meter["tariff_plan"], thresholds)
        if doubt is None:
            consumption[code] = rolled
        else:
            errors.append(field_error(
                f"registers.{code}", f"is lower than the previous reading ({before} "
                                     f"on {previous['reading_date']})",
                "reading-lower-than-previous", register=code, previous=before,
                previous_date=previous["reading_date"].isoformat()))
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']} {e['message']}" for e in errors), errors)
    return consumption


def _settle_estimates(session, meter, pending, reading_date, reading_id, registers):
    """The ``pending`` estimates (since the last actual reading before this one) on
    or before ``reading_date``, now settled by the actual reading ``reading_id``:
    their ids, oldest first. The later ones stay pending, their register values
    moved to continue from the actual ``registers`` (their consumption unchanged)."""
    settled = [r["reading_id"] for r in pending if r["reading_date"] <= reading_date]
    if settled:
        session.execute(sa.update(readings).where(readings.c.reading_id.in_(settled))
                        .values(replaced_by=reading_id))
    digits = {r["code"]: r["digits"] for r in meter["registers"]}
    base = registers
    for later in (r for r in pending if r["reading_date"] > reading_date):
        base = {code: (value + later["consumption"].get(code, 0)) % 10 ** digits[code]
                for code, value in base.items() if code in digits}
        session.execute(sa.update(readings).where(
            readings.c.reading_id == later["reading_id"]).values(registers=base))
    return settled


def _next_due(meter, reading_date, pending, window_days):
    """The next reading day after an actual reading: after the last estimate that
    stays pending, if one does (its day has passed and is estimated)."""
    last = max([reading_date] + [r["reading_date"] for r in pending])
    return next_reading_due(meter["reading_day"], last, window_days)


def _emit_submitted(uow, meter, reading_id, reading_date, registers, consumption,
                    previous_date, due, released_from_review=False, settles=()):
    uow.emit_event(ReadingSubmitted(
        settles_estimates=list(settles),
        reading_id=reading_id,
        consumption_point_id=meter["consumption_point_id"],
        contract_no=meter["contract_no"],
        customer_id=meter["customer_id"],
        tariff_plan=meter["tariff_plan"],
        reading_day=meter["reading_day"],
        reading_date=reading_date,
        previous_reading_date=previous_date,
        registers=registers,
        register_digits={r["code"]: r["digits"] for r in meter["registers"]},
        consumption=consumption,
        next_reading_due=due,
        released_from_review=released_from_review,   # an operator accepted it
    ))


def review_queue(uow):
    rows = uow.session.execute(
        sa.select(readings, meters.c.eic, meters.c.customer_id, meters.c.contract_no)
        .join(meters, meters.c.consumption_point_id == readings.c.consumption_point_id)
        .where(readings.c.status == "held_for_review")
        .order_by(readings.c.submitted_at)).mappings().all()
    return [{**_reading_view(r), "consumption_point_id": r["consumption_point_id"],
             "eic": r["eic"], "customer_id": r["customer_id"], "contract_no": r["contract_no"]}
            for r in rows]


def decide(uow, reading_id, decision: ReviewDecision, operator, window_days):
    session = uow.session
    row = session.execute(sa.select(readings).where(readings.c.reading_id == reading_id)
                          .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no reading {reading_id}")
    if row["status"] != "held_for_review":
        raise Conflict(f"the reading is {row['status']}, not held for review")
    meter = session.execute(sa.select(meters).where(
        meters.c.consumption_point_id == row["consumption_point_id"]).with_for_update()
    ).mappings().one()
    if not decision.accept:
        if not (decision.reason or "").strip():
            raise ValidationFailed.field("reason", "say why the reading is rejected")
        session.execute(sa.update(readings).where(readings.c.reading_id == reading_id).values(
            status="rejected", review_reason=decision.reason.strip(), decided_by=operator,
            decided_at=uow.now))
        uow.emit_event(ReadingRejected(
            reading_id=reading_id, consumption_point_id=row["consumption_point_id"],
            customer_id=meter["customer_id"], reading_date=row["reading_date"],
            reason=decision.reason.strip()))
    else:
        previous = last_accepted_reading(session, row["consumption_point_id"])
        pending = estimates.pending_estimates(session, row["consumption_point_id"])
        session.execute(sa.update(readings).where(readings.c.reading_id == reading_id).values(
            status="accepted", decided_by=operator, decided_at=uow.now))
        due = _next_due(meter, row["reading_date"], pending, window_days)
        settled = _settle_estimates(session, meter, pending, row["reading_date"], reading_id,
                                    row["registers"])
        _emit_submitted(uow, meter, reading_id, row["reading_date"], row["registers"],
                        row["consumption"], previous["reading_date"], due,
                        released_from_review=True, settles=settled)
    updated = session.execute(sa.select(readings).where(readings.c.reading_id == reading_id)
                              ).mappings().one()
    return _reading_view(updated)


def withdraw(uow, point_id, reading_id, customer_id, withdrawn_by):
    """The customer takes back her own reading while it is held for review; a
    decided reading stays decided (Conflict)."""
    session = uow.session
    meter = session.execute(sa.select(meters).where(meters.c.consumption_point_id == point_id)
                            .with_for_update()).mappings().first()
    row = session.execute(sa.select(readings).where(
        readings.c.reading_id == reading_id,
        readings.c.consumption_point_id == point_id)).mappings().first()
    if meter is None or row is None or (customer_id and meter["customer_id"] != customer_id):
        raise NotFound(f"no reading {reading_id} of consumption point {point_id}")
    if row["status"] != "held_for_review":
        raise Conflict(f"the reading is {row['status']}: only a reading held for review "
                       "can be withdrawn", code="reading-decided")
    _withdraw(uow, meter, reading_id, withdrawn_by)
    return _reading_view(session.execute(
        sa.select(readings).where(readings.c.reading_id == reading_id)).mappings().one())


def _withdraw(uow, meter, reading_id, withdrawn_by, replaced_by=None):
    row = uow.session.execute(sa.update(readings).where(
        readings.c.reading_id == reading_id, readings.c.status == "held_for_review").values(
        status="withdrawn", decided_by=withdrawn_by, decided_at=uow.now,
        replaced_by=replaced_by).returning(readings.c.reading_date)).first()
    uow.emit_event(ReadingWithdrawn(
        reading_id=reading_id, consumption_point_id=meter["consumption_point_id"],
        customer_id=meter["customer_id"], reading_date=row.reading_date,
        replaced_by=replaced_by))


def end_meter(uow, data):
    """From contract_terminated: the meter is not estimated from the contract's end."""
    uow.session.execute(sa.update(meters).where(meters.c.contract_no == data["contract_no"])
                        .values(end_date=date.fromisoformat(data["end_date"])))


def relink_meter(uow, data):
    """From consumption_point_linked: the meter's readings now belong to another customer."""
    uow.session.execute(sa.update(meters)
                        .where(meters.c.consumption_point_id == data["consumption_point_id"])
                        .values(customer_id=data["customer_id"]))


def newest_readings(session, point_ids, limit, accepted_only=False, statuses=None):
    """The newest ``limit`` readings of each point, newest first, in one query
    (a window function, on SQLite and PostgreSQL alike): a page's points cost
    the same however long their history. ``{point_id: [row]}``."""
    if not point_ids:
        return {}
    where = [readings.c.consumption_point_id.in_(list(point_ids))]
    if accepted_only:
        where.append(readings.c.status == "accepted")
    if statuses:
        where.append(readings.c.status.in_(statuses))
    rank = sa.func.row_number().over(
        partition_by=readings.c.consumption_point_id,
        order_by=(readings.c.reading_date.desc(), readings.c.submitted_at.desc())).label("rank")
    ranked = sa.select(readings, rank).where(*where).subquery()
    rows = session.execute(sa.select(ranked).where(ranked.c.rank <= limit)
                           .order_by(ranked.c.consumption_point_id, ranked.c.rank)
                           ).mappings().all()
    newest = {}
    for row in rows:
        newest.setdefault(row["consumption_point_id"], []).append(row)
    return newest


def reading_overview(uow, point_ids, window_days):
    """For each known consumption point: its last accepted reading and the next
    reading due after it."""
    point_ids = list(point_ids)
    rows = uow.session.execute(sa.select(meters).where(
        meters.c.consumption_point_id.in_(point_ids))).mappings().all()
    # the last actual reading is shown; the next one due follows an estimate too
    last_of = newest_readings(uow.session, [m["consumption_point_id"] for m in rows], 2,
                              statuses=("accepted", "estimated"))
    overview = {}
    for meter in rows:
        newest = last_of.get(meter["consumption_point_id"]) or []
        last = next((r for r in newest if r["status"] == "accepted"), None)
        if last is None and newest:   # an estimate and its day's actual reading: look further
            last = last_accepted_reading(uow.session, meter["consumption_point_id"])
        since = newest[0]["reading_date"] if newest else meter["start_date"]
        overview[meter["consumption_point_id"]] = {
            "last_reading": None if last is None else {
                "reading_date": last["reading_date"].isoformat(), "registers": last["registers"]},
            "next_reading_due": next_reading_due(meter["reading_day"], since,
                                                 window_days).isoformat(),
        }
    return overview


def recent_readings(uow, customer_of, limit):
    """The newest ``limit`` readings (as list_readings) of each point of
    ``{point_id: customer_id}`` that is that customer's, in one query."""
    if not customer_of:
        return {}
    theirs = [m.consumption_point_id for m in uow.session.execute(
        sa.select(meters.c.consumption_point_id, meters.c.customer_id).where(
            meters.c.consumption_point_id.in_(list(customer_of))))
        if customer_of[m.consumption_point_id] in (None, "", m.customer_id)]
    newest = newest_readings(uow.session, theirs, limit)
    return {point_id: [_reading_view(r) for r in newest.get(point_id, ())]
            for point_id in theirs}


def _reading_view(r):
    view = {
        "reading_id": r["reading_id"], "reading_date": r["reading_date"].isoformat(),
        "registers": r["registers"], "consumption": r["consumption"], "status": r["status"],
        "source": r["source"], "submitted_by": r["submitted_by"],
        "submitted_at": r["submitted_at"].isoformat(),
    }
    if r["review_reason"]:
        view["review_reason"] = r["review_reason"]
    if r["mandate_id"]:
        view["mandate_id"] = r["mandate_id"]
    if r["replaced_by"]:
        view["replaced_by"] = r["replaced_by"]
    if r["status"] == "estimated":
        view["estimated"] = True
        view["method"] = r["estimate_method"]
        view["pending"] = r["replaced_by"] is None
    return view


def list_readings(uow, point_id, customer_id=None):
    meter = uow.session.execute(sa.select(meters.c.customer_id)
                                .where(meters.c.consumption_point_id == point_id)).first()
    if meter is None or (customer_id and meter.customer_id != customer_id):
        raise NotFound(f"no consumption point {point_id}")
    rows = uow.session.execute(
        sa.select(readings).where(readings.c.consumption_point_id == point_id)
        .order_by(readings.c.reading_date.desc(), readings.c.submitted_at.desc())
    ).mappings().all()
    return [_reading_view(r) for r in rows]
