"""Mandates: a customer authorises a person to act for them.

A mandate is live from ``valid_from`` through ``valid_until`` (open-ended when
none) unless revoked, and ends with the grantor's last contract (``ends_on``).
Access is decided from the database on every call, so a revoked or expired mandate
stops working at once. Only the grantor manages their mandates; a grantee acting
for them never can, so a mandate cannot be passed on.
"""
import uuid
from datetime import timedelta

import sqlalchemy as sa

from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from services.common.scopes import expand
from services.identity.api import (MandateExpired, MandateGrant, MandateGranted,
                                   MandateRevoked, OfficeMandate)
from services.identity.eligibility import in_force, record_termination
from services.identity.models import (access_log, customer_contracts, mandates, persons,
                                      sharing_applications)

#: the scope of routes only the customer themselves may use, never a mandate
SELF_ONLY = "self"


def _ends(row):
    """The last day the mandate is valid, or None for open-ended."""
    ends = [d for d in (row["valid_until"], row["ends_on"]) if d is not None]
    return min(ends) if ends else None


def state(row, today):
    if row["revoked_at"] is not None:
        return "revoked"
    if today < row["valid_from"]:
        return "not_yet_valid"
    end = _ends(row)
    if end is not None and today > end:
        return "expired"
    return "live"


def _names(session, codes):
    if not codes:   # most people hold no mandate: no query on every request for that
        return {}
    rows = session.execute(sa.select(persons.c.person_code, persons.c.name)
                           .where(persons.c.person_code.in_(set(codes)))).all()
    return dict(rows)


def _own_customer(session, person_code):
    return session.execute(sa.select(customer_contracts.c.customer_id)
                           .where(customer_contracts.c.person_code == person_code)
                           .order_by(customer_contracts.c.customer_id).limit(1)).scalar()


def view(session, row, today, names=None):
    names = names if names is not None else _names(
        session, [row["grantor_person_code"], row["grantee_person_code"]])
    return {
        "mandate_id": row["mandate_id"], "grantor_customer_id": row["grantor_customer_id"],
        "grantor_name": names.get(row["grantor_person_code"]),
        "grantee_person_code": row["grantee_person_code"],
        "grantee_name": names.get(row["grantee_person_code"]),
        "scopes": list(row["scopes"]), "consumption_point_ids": list(row["consumption_point_ids"]),
        "valid_from": row["valid_from"].isoformat(),
        "valid_until": row["valid_until"].isoformat() if row["valid_until"] else None,
        "ends_on": row["ends_on"].isoformat() if row["ends_on"] else None,
        "created_via": row["created_via"],
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
        "status": state(row, today),
    }


def _event(session, row, today):
    """A mandate event's data: the mandate, and the grantee's own customer id so
    that both parties can be told."""
    return {**view(session, row, today),
            "grantee_customer_id": _own_customer(session, row["grantee_person_code"])}


def active_customer_of(session, person_code, today):
    return session.execute(
        sa.select(customer_contracts.c.customer_id)
        .where(customer_contracts.c.person_code == person_code, in_force(today))
        .limit(1)).scalar()


def grant(uow, grantor_customer_id, grant: MandateGrant, created_via, created_by):
    """Make a mandate; both parties must hold an active contract now."""
    session, today = uow.session, uow.clock.today()
    grantor_field = "grantor_person_code" if created_via == "office" else "grantor"
    grantor = session.execute(
        sa.select(customer_contracts.c.person_code)
        .where(customer_contracts.c.customer_id == grantor_customer_id, in_force(today))
        .limit(1)).scalar()
    errors = []
    if grantor is None:
        errors.append(field_error(grantor_field, "the grantor holds no active contract",
                                  "grantor-without-contract"))
    if active_customer_of(session, grant.grantee_person_code, today) is None:
        errors.append(field_error("grantee_person_code", "the grantee holds no active "
                                  "contract; both parties must be our customers",
                                  "grantee-without-contract"))
    elif grant.grantee_person_code == grantor:
        errors.append(field_error("grantee_person_code",
                                  "is the grantor: a mandate is for someone else",
                                  "grantee-is-grantor"))
    valid_from = grant.valid_from or today
    if valid_from < today:
        errors.append(field_error("valid_from", "must not be in the past", "date-in-past",
                                  today=today.isoformat()))
    elif grant.valid_until and grant.valid_until < valid_from:
        # from today when valid_from is not given: a mandate that never is live
        errors.append(field_error("valid_until", "must not be before valid_from "
                                  f"({valid_from})", "date-before-start",
                                  valid_from=valid_from.isoformat()))
    points = set(session.execute(sa.select(customer_contracts.c.consumption_point_id).where(
        customer_contracts.c.customer_id == grantor_customer_id)).scalars())
    foreign = [p for p in grant.consumption_point_ids if p not in points]
    if foreign:
        errors.append(field_error("consumption_point_ids", "not the grantor's consumption "
                                  f"point: {', '.join(foreign)}", "consumption-point-foreign"))
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                               errors)
    _refuse_overlap(session, grantor_customer_id, grant.grantee_person_code, valid_from,
                    grant.valid_until)
    row = {
        "mandate_id": str(uuid.uuid4()), "grantor_customer_id": grantor_customer_id,
        "grantor_person_code": grantor, "grantee_person_code": grant.grantee_person_code,
        "scopes": grant.scopes, "consumption_point_ids": sorted(set(grant.consumption_point_ids)),
        "valid_from": valid_from, "valid_until": grant.valid_until, "ends_on": None,
        "created_via": created_via, "created_by": created_by, "created_at": uow.now,
        "revoked_at": None, "revoked_by": None, "expired_at": None}
    session.execute(sa.insert(mandates).values(**row))
    uow.emit_event(MandateGranted(**_event(session, row, today)))
    return view(session, row, today)


def register_at_office(uow, signed: OfficeMandate, operator):
    """A mandate signed at the office: the grantor is named by their person code."""
    grantor = active_customer_of(uow.session, signed.grantor_person_code, uow.clock.today())
    if grantor is None:
        raise ValidationFailed.field("grantor_person_code", "the grantor holds no active contract",
                                     "grantor-without-contract")
    return grant(uow, grantor, signed, "office", f"operator:{operator}")


def _refuse_overlap(session, grantor_customer_id, grantee, valid_from, valid_until):
    """One mandate per grantor and grantee at a time: what it allows is never a
    puzzle of several."""
    for row in session.execute(sa.select(mandates).where(
            mandates.c.grantor_customer_id == grantor_customer_id,
            mandates.c.grantee_person_code == grantee,
            mandates.c.revoked_at.is_(None))).mappings():
        end = _ends(row)
        if (valid_until is None or row["valid_from"] <= valid_until) and (
                end is None or valid_from <= end):
            raise Conflict(f"mandate {row['mandate_id']} already covers this person for "
                           "some of that time; revoke it first", code="mandate-overlaps")


def revoke(uow, grantor_customer_id, mandate_id, revoked_by):
    """Revoke at once; revoking a revoked mandate changes nothing."""
    session = uow.session
    row = session.execute(sa.select(mandates).where(
        mandates.c.mandate_id == str(mandate_id),
        mandates.c.grantor_customer_id == grantor_customer_id).with_for_update()
    ).mappings().first()
    if row is None:
        raise NotFound(f"no mandate {mandate_id}")
    if row["revoked_at"] is not None:
        return
    session.execute(sa.update(mandates).where(mandates.c.mandate_id == row["mandate_id"])
                    .values(revoked_at=uow.now, revoked_by=revoked_by))
    uow.emit_event(MandateRevoked(**_event(session, {**row, "revoked_at": uow.now},
                                           uow.clock.today())))


def of_customer(uow, customer_id, person_code):
    """``{granted, received}``: what the customer gave, and what the person received."""
    session, today = uow.session, uow.clock.today()
    granted = session.execute(sa.select(mandates).where(
        mandates.c.grantor_customer_id == customer_id).order_by(mandates.c.created_at)
    ).mappings().all()
    received = session.execute(sa.select(mandates).where(
        mandates.c.grantee_person_code == person_code).order_by(mandates.c.created_at)
    ).mappings().all()
    names = _names(session, [r[c] for r in (*granted, *received)
                             for c in ("grantor_person_code", "grantee_person_code")])
    return {"granted": [view(session, r, today, names) for r in granted],
            "received": [view(session, r, today, names) for r in received]}


def live_for(uow, person_code):
    """The customers a person may act for under a live mandate, as /me lists them."""
    session, today = uow.session, uow.clock.today()
    rows = session.execute(sa.select(mandates).where(
        mandates.c.grantee_person_code == person_code, mandates.c.revoked_at.is_(None))
        .order_by(mandates.c.created_at)).mappings().all()
    live = [r for r in rows if state(r, today) == "live"]
    names = _names(session, [r["grantor_person_code"] for r in live])
    return [{"customer_id": r["grantor_customer_id"], "name": names.get(r["grantor_person_code"]),
             "relation": "mandate", "scopes": expand(r["scopes"]), "mandate_id": r["mandate_id"],
             "consumption_point_ids": list(r["consumption_point_ids"]),
             "valid_until": _ends(r).isoformat() if _ends(r) else None} for r in live]


REFUSALS = {
    "revoked": ("the mandate was revoked", "mandate-revoked"),
    "expired": ("the mandate has expired", "mandate-expired"),
    "not_yet_valid": ("the mandate is not valid yet", "mandate-not-yet-valid"),
}


def check(uow, person_code, customer_id, scope, consumption_point_id):
    """The live mandate letting the person use ``scope`` for the customer (and the
    consumption point, when the route names one); Forbidden saying why not, or
    NotFound when the person has no mandate from that customer at all."""
    session, today = uow.session, uow.clock.today()
    rows = session.execute(sa.select(mandates).where(
        mandates.c.grantee_person_code == person_code,
        mandates.c.grantor_customer_id == customer_id)
        .order_by(mandates.c.created_at.desc())).mappings().all()
    if not rows:
        raise NotFound("no such customer")
    live = [r for r in rows if state(r, today) == "live"]
    if not live:
        detail, code = REFUSALS[state(rows[0], today)]
        raise Forbidden(detail, code=code)
    mandate = live[0]
    if scope == SELF_ONLY:
        raise Forbidden("only the customer themselves may do this", code="self-only")
    if scope is not None and scope not in expand(mandate["scopes"]):
        raise Forbidden(f"your mandate does not cover {scope}", code="scope-missing")
    limit = mandate["consumption_point_ids"]
    if consumption_point_id is not None and limit and consumption_point_id not in limit:
        raise Forbidden("your mandate does not cover this consumption point",
                        code="mandate-consumption-point")
    return mandate


def log_access(uow, customer_id, person_code, action, resource, what, mandate_id,
               use=None, details=None, outcome="done", client_id=None):
    """Write one use to the customer's access log; returns its entry id. A change
    is logged before it is tried (``outcome`` None) and its outcome recorded after
    (``record_outcome``): if the caller never comes back, it shows as attempted."""
    return uow.session.execute(sa.insert(access_log).values(
        at=uow.now, customer_id=customer_id, actor_person_code=person_code, action=action,
        resource=resource[:300], what=(what or "")[:200] or None, mandate_id=mandate_id,
        use=use, details=details or None, outcome=outcome, client_id=client_id)
        .returning(access_log.c.entry_id)).scalar_one()


def record_outcome(uow, entry_id, customer_id, outcome):
    """How the change logged as ``entry_id`` ended; the first outcome stays."""
    uow.session.execute(sa.update(access_log).where(
        access_log.c.entry_id == entry_id, access_log.c.customer_id == customer_id,
        access_log.c.action == "change", access_log.c.outcome.is_(None))
        .values(outcome=outcome))


def access_log_of(uow, customer_id):
    rows = uow.session.execute(sa.select(access_log).where(
        access_log.c.customer_id == customer_id)
        .order_by(access_log.c.at.desc(), access_log.c.entry_id.desc()).limit(1000)
    ).mappings().all()
    names = _names(uow.session, [r["actor_person_code"] for r in rows])
    clients = {r["client_id"] for r in rows if r["client_id"]}
    apps = dict(uow.session.execute(sa.select(
        sharing_applications.c.client_id, sharing_applications.c.name).where(
        sharing_applications.c.client_id.in_(clients))).all()) if clients else {}
    return [{"at": r["at"].isoformat(), "actor_person_code": r["actor_person_code"],
             "client_id": r["client_id"], "application": apps.get(r["client_id"]),
             "actor_name": names.get(r["actor_person_code"]), "action": r["action"],
             "resource": r["resource"], "what": r["what"], "mandate_id": r["mandate_id"],
             "use": r["use"], "details": r["details"] or {},
             "outcome": r["outcome"] or "attempted"}
            for r in rows]


def contract_terminated(uow, data):
    """From contract_terminated: the contract ends, and when it was the grantor's
    last, their mandates end with it."""
    record_termination(uow, data)
    session = uow.session
    customer_id = session.execute(sa.select(customer_contracts.c.customer_id).where(
        customer_contracts.c.contract_no == data["contract_no"])).scalar()
    ends = session.execute(sa.select(customer_contracts.c.end_date).where(
        customer_contracts.c.customer_id == customer_id)).scalars().all()
    # a contract's end date is its first day out of force (eligibility.in_force),
    # so the mandates' last day is the day before
    last = None if (not ends or any(e is None for e in ends)) else max(ends) - timedelta(days=1)
    session.execute(sa.update(mandates).where(
        mandates.c.grantor_customer_id == customer_id, mandates.c.revoked_at.is_(None))
        .values(ends_on=last))


def expire(uow, as_of):
    """Mandates whose last day has passed: mandate_expired, once each."""
    session = uow.session
    rows = session.execute(sa.select(mandates).where(
        mandates.c.revoked_at.is_(None), mandates.c.expired_at.is_(None),
        sa.or_(mandates.c.valid_until < as_of, mandates.c.ends_on < as_of))
        .with_for_update(skip_locked=True)).mappings().all()
    for row in rows:
        session.execute(sa.update(mandates).where(mandates.c.mandate_id == row["mandate_id"])
                        .values(expired_at=uow.now))
        uow.emit_event(MandateExpired(**_event(session, row, as_of)))
    return len(rows)


def may_log_in(uow, person_code):
    return bool(live_for(uow, person_code))
