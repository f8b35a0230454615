"""What a customer sees of themselves: details, contracts, consumption points,
and their contact-detail changes (kept with who made them and when)."""
import uuid

import sqlalchemy as sa

from services.common.errors import NotFound, ValidationFailed, field_error
from services.contracts.api import CONTACT_FIELDS, ContactChange, ContactDetailsChanged
from services.contracts.models import contact_changes, consumption_points, contracts, customers


def contract_status(row, today):
    """active; ending (terminated from a later date); ended."""
    if row["end_date"] is None:
        return "active"
    return "ending" if row["end_date"] > today else "ended"


def _customer(uow, customer_id, lock=False):
    query = sa.select(customers).where(customers.c.customer_id == customer_id)
    row = uow.session.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("no such customer")
    return row


def customer_view(uow, customer_id):
    row = _customer(uow, customer_id)
    return {"customer_id": row["customer_id"], "name": row["name"],
            "person_code": row["person_code"],
            "contact": {field: row[field] for field in CONTACT_FIELDS}}


def change_contact(uow, customer_id, change: ContactChange, changed_by):
    given = change.model_dump(exclude_unset=True)
    if not given:
        raise ValidationFailed("give at least one of " + ", ".join(CONTACT_FIELDS),
                               [field_error("body", "no contact details given",
                                            "nothing-to-change")])
    if "language" in given and given["language"] is None:
        # as pydantic says of a language that is neither
        raise ValidationFailed.field("language", "must be et or en", "literal-error",
                                     expected="'et' or 'en'")
    row = _customer(uow, customer_id, lock=True)
    before = {field: row[field] for field in given}
    changed = {field: value for field, value in given.items() if before[field] != value}
    if changed:
        uow.session.execute(sa.update(customers).where(customers.c.customer_id == customer_id)
                            .values(**changed))
        uow.session.execute(sa.insert(contact_changes).values(
            change_id=str(uuid.uuid4()), customer_id=customer_id, changed_at=uow.now,
            changed_by=changed_by, before={f: before[f] for f in changed}, after=changed))
        uow.emit_event(ContactDetailsChanged(
            customer_id=customer_id, name=row["name"], changed_by=changed_by,
            before={f: before[f] for f in changed}, after=changed))
    return customer_view(uow, customer_id)


def contact_history(uow, customer_id):
    _customer(uow, customer_id)
    rows = uow.session.execute(
        sa.select(contact_changes).where(contact_changes.c.customer_id == customer_id)
        .order_by(contact_changes.c.changed_at.desc())).mappings().all()
    return [{"changed_at": r["changed_at"].isoformat(), "changed_by": r["changed_by"],
             "before": r["before"], "after": r["after"]} for r in rows]


def _contract_rows(uow, *customer_ids):
    return uow.session.execute(
        sa.select(contracts, consumption_points.c.eic, consumption_points.c.address,
                  consumption_points.c.meter_serial, consumption_points.c.registers)
        .join(consumption_points,
              consumption_points.c.consumption_point_id == contracts.c.consumption_point_id)
        .where(contracts.c.customer_id.in_(customer_ids))
        .order_by(contracts.c.contract_no)).mappings().all()


def _contract_view(row, today):
    return {
        "contract_no": row["contract_no"], "status": contract_status(row, today),
        "signed_at": row["signed_at"].isoformat(), "signed_at_office": row["signed_at_office"],
        "reference_no": row["reference_no"], "reading_day": row["reading_day"],
        "tariff_plan": row["tariff_plan"], "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        "consumption_point": {
            "id": row["consumption_point_id"], "eic": row["eic"], "address": row["address"],
            "meter": {"serial": row["meter_serial"], "registers": row["registers"]}},
    }


def contracts_of(uow, customer_id):
    _customer(uow, customer_id)
    today = uow.clock.today()
    return [_contract_view(r, today) for r in _contract_rows(uow, customer_id)]


def customers_with_contracts(uow, customer_ids):
    """``{customer_id: customer with its contracts}`` of those that exist, in two
    queries however many are asked for (the desk's queue)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    today = uow.clock.today()
    found = {r["customer_id"]: {
        "customer_id": r["customer_id"], "name": r["name"], "person_code": r["person_code"],
        "contact": {field: r[field] for field in CONTACT_FIELDS}, "contracts": []}
        for r in uow.session.execute(
            sa.select(customers).where(customers.c.customer_id.in_(ids))).mappings()}
    for row in _contract_rows(uow, *found):
        found[row["customer_id"]]["contracts"].append(_contract_view(row, today))
    return found


def consumption_points_of(uow, customer_id):
    """The customer's consumption points under contracts not yet ended."""
    _customer(uow, customer_id)
    today = uow.clock.today()
    return [{
        "id": r["consumption_point_id"], "eic": r["eic"], "address": r["address"],
        "contract_no": r["contract_no"],
        "meter": {"serial": r["meter_serial"], "registers": r["registers"]},
    } for r in _contract_rows(uow, customer_id) if contract_status(r, today) != "ended"]
