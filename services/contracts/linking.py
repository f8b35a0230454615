"""Linking consumption points recorded under someone else, from the seed.

A customer reports a consumption point (an address plus any of EIC, meter serial,
contract number, and a note). The desk sees pending claims beside the contracts
that match them, and approves — the contract and its consumption point move to
the claimant, the previous holder kept on record — or rejects with a reason.
"""
import hashlib
import re
import uuid

import sqlalchemy as sa

from services.common.errors import Conflict, NotFound, ValidationFailed, field_error
from services.contracts.api import (Claim, ConsumptionPointClaimed, ConsumptionPointClaimRejected,
                                    ConsumptionPointLinked, ClaimDecision)
from services.contracts.customers import contract_status
from services.contracts.models import (claims, consumption_points, contract_holders, contracts,
                                       customers)


def _normal(text):
    return re.sub(r"\s+", " ", (text or "").strip().lower())


def fingerprint(claim: Claim):
    parts = [_normal(claim.address), claim.eic or "", _normal(claim.meter_serial),
             _normal(claim.contract_no)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _point_rows():
    return (sa.select(contracts.c.contract_no, contracts.c.customer_id, contracts.c.end_date,
                      contracts.c.consumption_point_id, consumption_points.c.eic,
                      consumption_points.c.meter_serial, consumption_points.c.address)
            .join(consumption_points, consumption_points.c.consumption_point_id
                  == contracts.c.consumption_point_id))


def _identifies(claim_values):
    """The contracts whose consumption point the claim's identifiers name."""
    conditions = []
    if claim_values.get("eic"):
        conditions.append(consumption_points.c.eic == claim_values["eic"])
    if claim_values.get("meter_serial"):
        conditions.append(sa.func.lower(consumption_points.c.meter_serial)
                          == _normal(claim_values["meter_serial"]))
    if claim_values.get("contract_no"):
        conditions.append(sa.func.lower(contracts.c.contract_no)
                          == _normal(claim_values["contract_no"]))
    return conditions


def claim_point(uow, customer_id, claim: Claim, claimed_by):
    session = uow.session
    customer = session.execute(sa.select(customers).where(customers.c.customer_id == customer_id)
                               .with_for_update()).mappings().first()
    if customer is None:
        raise NotFound("no such customer")
    conditions = _identifies(claim.model_dump())
    if conditions:
        own = session.execute(_point_rows().where(contracts.c.customer_id == customer_id,
                                                  sa.or_(*conditions))).first()
        if own is not None:
            raise Conflict(f"the consumption point of contract {own.contract_no} "
                           f"({own.address}) is already yours",
                           [field_error("eic" if claim.eic else "body",
                                        "this consumption point is already linked to you",
                                        "already-linked")],
                           code="already-linked")
    print_ = fingerprint(claim)
    existing = session.execute(sa.select(claims).where(claims.c.customer_id == customer_id,
                                                       claims.c.fingerprint == print_)
                               ).mappings().first()
    if existing is not None:
        return {"claim_id": existing["claim_id"], "status": existing["status"]}
    claim_id = str(uuid.uuid4())
    session.execute(sa.insert(claims).values(
        claim_id=claim_id, customer_id=customer_id, fingerprint=print_, status="pending",
        created_at=uow.now, claimed_by=claimed_by, **claim.model_dump()))
    uow.emit_event(ConsumptionPointClaimed(
        claim_id=claim_id, customer_id=customer_id, name=customer["name"],
        claimed_by=claimed_by, **claim.model_dump()))
    return {"claim_id": claim_id, "status": "pending"}


def _claim_view(row):
    return {"claim_id": row["claim_id"], "status": row["status"], "address": row["address"],
            "eic": row["eic"], "meter_serial": row["meter_serial"],
            "contract_no": row["contract_no"], "note": row["note"], "reason": row["reason"],
            "created_at": row["created_at"].isoformat(),
            "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
            "linked_contract_no": row["linked_contract_no"]}


def claims_of(uow, customer_id):
    rows = uow.session.execute(sa.select(claims).where(claims.c.customer_id == customer_id)
                               .order_by(claims.c.created_at.desc())).mappings().all()
    return [_claim_view(r) for r in rows]


def claims_for_desk(uow, status="pending"):
    """Claims with their customer and the contracts that match them."""
    query = sa.select(claims, customers.c.name, customers.c.person_code).join(
        customers, customers.c.customer_id == claims.c.customer_id)
    if status != "all":
        query = query.where(claims.c.status == status)
    today = uow.clock.today()
    result = []
    for row in uow.session.execute(query.order_by(claims.c.created_at)).mappings().all():
        conditions = _identifies(row) + [
            sa.func.lower(consumption_points.c.address) == _normal(row["address"])]
        matches = uow.session.execute(
            _point_rows().add_columns(customers.c.name.label("holder_name"))
            .join(customers, customers.c.customer_id == contracts.c.customer_id)
            .where(sa.or_(*conditions), contracts.c.customer_id != row["customer_id"])
        ).mappings().all()
        result.append({
            **_claim_view(row),
            "customer": {"customer_id": row["customer_id"], "name": row["name"],
                         "person_code": row["person_code"]},
            "matching_contracts": [{
                "contract_no": m["contract_no"], "holder": m["holder_name"],
                "eic": m["eic"], "meter_serial": m["meter_serial"], "address": m["address"],
                "status": contract_status(m, today)} for m in matches],
        })
    return result


def decide(uow, claim_id, decision: ClaimDecision, operator):
    session = uow.session
    row = session.execute(sa.select(claims).where(claims.c.claim_id == claim_id)
                          .with_for_update()).mappings().first()
    if row is None:
        raise NotFound(f"no claim {claim_id}")
    if row["status"] != "pending":
        raise Conflict(f"the claim was already {row['status']}")
    if not decision.approve:
        session.execute(sa.update(claims).where(claims.c.claim_id == claim_id).values(
            status="rejected", reason=decision.reason.strip(), decided_at=uow.now,
            decided_by=operator))
        uow.emit_event(ConsumptionPointClaimRejected(
            claim_id=claim_id, customer_id=row["customer_id"],
            reason=decision.reason.strip(), decided_by=operator))
        return _claim_view(session.execute(sa.select(claims).where(
            claims.c.claim_id == claim_id)).mappings().one())

    contract = session.execute(sa.select(contracts).where(
        contracts.c.contract_no == decision.contract_no).with_for_update()).mappings().first()
    if contract is None:
        raise ValidationFailed.field("contract_no", f"no contract {decision.contract_no}")
    if contract["customer_id"] == row["customer_id"]:
        raise Conflict("that contract is already the claimant's")
    if contract_status(contract, uow.clock.today()) == "ended":
        raise ValidationFailed.field("contract_no", "that contract has ended")
    claimant = session.execute(sa.select(customers).where(
        customers.c.customer_id == row["customer_id"])).mappings().one()
    session.execute(sa.update(contract_holders).where(
        contract_holders.c.contract_no == contract["contract_no"],
        contract_holders.c.held_until.is_(None)).values(held_until=uow.now))
    session.execute(sa.insert(contract_holders).values(
        contract_no=contract["contract_no"], customer_id=row["customer_id"], held_from=uow.now,
        reason=f"claim {claim_id} approved by {operator}"))
    session.execute(sa.update(contracts).where(contracts.c.contract_no == contract["contract_no"])
                    .values(customer_id=row["customer_id"]))
    session.execute(sa.update(claims).where(claims.c.claim_id == claim_id).values(
        status="approved", linked_contract_no=contract["contract_no"], decided_at=uow.now,
        decided_by=operator))
    uow.emit_event(ConsumptionPointLinked(
        claim_id=claim_id, contract_no=contract["contract_no"],
        consumption_point_id=contract["consumption_point_id"],
        from_customer_id=contract["customer_id"], customer_id=row["customer_id"],
        person_code=claimant["person_code"], name=claimant["name"],
        decided_by=operator))
    return _claim_view(session.execute(sa.select(claims).where(
        claims.c.claim_id == claim_id)).mappings().one())


def holders_of(uow, contract_no):
    rows = uow.session.execute(
        sa.select(contract_holders).where(contract_holders.c.contract_no == contract_no)
        # the current holder last, even when the move happened within the same instant
        .order_by(contract_holders.c.held_from,
                  sa.nulls_last(contract_holders.c.held_until.asc()))).mappings().all()
    return [{"customer_id": r["customer_id"], "held_from": r["held_from"].isoformat(),
             "held_until": r["held_until"].isoformat() if r["held_until"] else None,
             "reason": r["reason"]} for r in rows]
