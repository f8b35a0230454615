"""Who is a customer: a person holding an active contract (mandates.py adds those
who hold a mandate).

identity keeps its own record of persons and their customers' contracts from
contracts' events; it never reads contracts' tables.
"""
from datetime import date

import sqlalchemy as sa

from services.identity.models import customer_contracts, persons


def record_contract(uow, data, keep_end_date=False):
    session = uow.session
    known = session.execute(sa.select(persons.c.person_code)
                            .where(persons.c.person_code == data["person_code"])).first()
    if known is None:
        session.execute(sa.insert(persons).values(
            person_code=data["person_code"], name=data["name"], created_at=uow.now))
    existing = session.execute(sa.select(customer_contracts).where(
        customer_contracts.c.contract_no == data["contract_no"])).mappings().first()
    session.execute(sa.delete(customer_contracts)
                    .where(customer_contracts.c.contract_no == data["contract_no"]))
    end_date = existing["end_date"] if existing is not None and keep_end_date else None
    session.execute(sa.insert(customer_contracts).values(
        contract_no=data["contract_no"], customer_id=data["customer_id"],
        person_code=data["person_code"], status="active" if end_date is None else "terminated",
        end_date=end_date, consumption_point_id=data.get("consumption_point_id")))
    holders = {data["person_code"]} | ({existing["person_code"]} if existing is not None else set())
    access_changed(uow, holders)


def in_force(today):
    """A contract is in force until its end date (contract_terminated sets one)."""
    return sa.or_(customer_contracts.c.end_date.is_(None), customer_contracts.c.end_date > today)


def has_active_contract(uow, person_code):
    return uow.session.execute(
        sa.select(customer_contracts.c.contract_no)
        .where(customer_contracts.c.person_code == person_code,
               in_force(uow.clock.today())).limit(1)).first() is not None


def record_termination(uow, data):
    holder = uow.session.execute(
        sa.update(customer_contracts)
        .where(customer_contracts.c.contract_no == data["contract_no"])
        .values(end_date=date.fromisoformat(data["end_date"]), status="terminated")
        .returning(customer_contracts.c.person_code)).scalar()
    if holder is not None:
        access_changed(uow, {holder})


def access_changed(uow, person_codes):
    """Whom these persons may act for as themselves has changed: gateways that
    reuse identity's answers forget theirs."""
    uow.emit("access_changed", {"person_codes": sorted(person_codes)})


def record_relink(uow, data):
    """From consumption_point_linked: the contract now belongs to the claimant."""
    record_contract(uow, data, keep_end_date=True)


def remember_name(uow, person_code, name):
    """The name the bank vouched for is the one we show."""
    uow.session.execute(sa.update(persons).where(persons.c.person_code == person_code)
                        .values(name=name))


def customers_of(uow, person_code):
    """The customers a person may act for as themselves (mandates add to this)."""
    rows = uow.session.execute(
        sa.select(customer_contracts.c.customer_id, persons.c.name).distinct()
        .join(persons, persons.c.person_code == customer_contracts.c.person_code)
        .where(customer_contracts.c.person_code == person_code,
               in_force(uow.clock.today()))
        .order_by(customer_contracts.c.customer_id)).all()
    return [{"customer_id": r.customer_id, "name": r.name} for r in rows]


def person(uow, person_code):
    row = uow.session.execute(sa.select(persons).where(persons.c.person_code == person_code)
                              ).mappings().first()
    return None if row is None else {"person_code": row["person_code"], "name": row["name"]}
