"""Signing a contract at the office: customer, consumption point, contract.

Plain domain code: takes a unit of work and a validated command, writes the
rows and emits ``contract_signed`` in the same transaction.
"""
import uuid

import sqlalchemy as sa

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.identifiers import make_reference_number
from services.common.sequences import next_number
from services.common.validation import operating_date
from services.contracts import tariff_plans
from services.contracts.api import (CONTACT_FIELDS, ContractSigned, ContractTerminated,
                                    SignContract, Terminate)
from services.contracts.customers import contract_status
from services.contracts.models import (consumption_points, contract_holders, contracts,
                                       customers, number_sequences)

# The base of a reference number is the contract's sequence number offset so
# that every reference number has at least seven digits.
REFERENCE_BASE_OFFSET = 100_000


def sign_contract(uow, command: SignContract):
    session = uow.session
    point = command.consumption_point
    tariff_plans.check(uow, command.tariff_plan)
    start_date = operating_date(command.start_date or uow.clock.today(), "start_date",
                                uow.clock.today(), ahead_days=366)

    taken = session.execute(
        sa.select(consumption_points.c.eic, consumption_points.c.meter_serial)
        .where(sa.or_(consumption_points.c.eic == point.eic,
                      consumption_points.c.meter_serial == point.meter.serial))
    ).first()
    if taken:
        field = "consumption_point.eic" if taken.eic == point.eic else "consumption_point.meter.serial"
        raise Conflict(f"{field} is already registered",
                       [{"field": field, "message": "already registered to a consumption point"}])

    customer = session.execute(
        sa.select(customers).where(customers.c.person_code == command.person_code)
    ).mappings().first()
    if customer is None:
        customer_id = str(uuid.uuid4())
        session.execute(sa.insert(customers).values(
            customer_id=customer_id, person_code=command.person_code, name=command.name,
            created_at=uow.now, **command.contact.model_dump()))
    else:
        customer_id = customer["customer_id"]

    registers = [r.model_dump() for r in point.meter.registers]
    consumption_point_id = str(uuid.uuid4())
    session.execute(sa.insert(consumption_points).values(
        consumption_point_id=consumption_point_id, eic=point.eic, address=point.address,
        meter_serial=point.meter.serial, registers=registers))

    number = next_number(session, number_sequences, "contract")
    contract_no = f"VL-{number:06d}"
    reference_no = make_reference_number(str(REFERENCE_BASE_OFFSET + number))
    session.execute(sa.insert(contracts).values(
        contract_id=str(uuid.uuid4()), contract_no=contract_no, customer_id=customer_id,
        consumption_point_id=consumption_point_id, status="active",
        tariff_plan=command.tariff_plan, reading_day=command.reading_day,
        reference_no=reference_no, start_date=start_date, signed_at=uow.now,
        signed_at_office=command.signed_at_office))
    session.execute(sa.insert(contract_holders).values(
        contract_no=contract_no, customer_id=customer_id, held_from=uow.now, reason="signed"))

    uow.emit_event(ContractSigned(
        contract_no=contract_no,
        customer_id=customer_id,
        person_code=command.person_code,
        name=command.name if customer is None else customer["name"],
        reference_no=reference_no,
        consumption_point_id=consumption_point_id,
        eic=point.eic,
        address=point.address,
        meter={"serial": point.meter.serial, "registers": registers},
        tariff_plan=command.tariff_plan,
        reading_day=command.reading_day,
        start_date=start_date,
        initial_readings=command.initial_readings,
        # notifications keeps its own copy: where and in which language to write
        contact=(command.contact.model_dump() if customer is None
                 else {field: customer[field] for field in CONTACT_FIELDS}),
    ))
    return {"customer_id": customer_id, "contract_no": contract_no,
            "reference_no": reference_no, "consumption_point_id": consumption_point_id}


def get_contract(uow, contract_no):
    row = uow.session.execute(
        sa.select(contracts, consumption_points, customers.c.name, customers.c.person_code)
        .join(consumption_points,
              consumption_points.c.consumption_point_id == contracts.c.consumption_point_id)
        .join(customers, customers.c.customer_id == contracts.c.customer_id)
        .where(contracts.c.contract_no == contract_no)
    ).mappings().first()
    if row is None:
        raise NotFound(f"no contract {contract_no}")
    return {
        "contract_no": row["contract_no"],
        "status": contract_status(row, uow.clock.today()),
        "customer": {"customer_id": row["customer_id"], "name": row["name"],
                     "person_code": row["person_code"]},
        "signed_at": row["signed_at"].isoformat(),
        "signed_at_office": row["signed_at_office"],
        "reference_no": row["reference_no"],
        "reading_day": row["reading_day"],
        "tariff_plan": row["tariff_plan"],
        "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        "consumption_point": {
            "id": row["consumption_point_id"], "eic": row["eic"], "address": row["address"],
            "meter": {"serial": row["meter_serial"], "registers": row["registers"]},
        },
    }


def terminate_contract(uow, contract_no, command: Terminate, terminated_by):
    """End a contract from a date (default today); its consumption point's supply
    under it ends then. Terminating twice is a conflict, not a second event."""
    row = uow.session.execute(
        sa.select(contracts).where(contracts.c.contract_no == contract_no).with_for_update()
    ).mappings().first()
    if row is None:
        raise NotFound(f"no contract {contract_no}")
    if row["status"] != "active":
        raise Conflict(f"contract {contract_no} is already {row['status']}")
    end_date = command.end_date or uow.clock.today()
    if end_date < row["start_date"]:
        raise ValidationFailed.field("end_date", f"must not be before the start ({row['start_date']})")
    uow.session.execute(sa.update(contracts).where(contracts.c.contract_no == contract_no)
                        .values(status="terminated", end_date=end_date))
    person_code = uow.session.execute(sa.select(customers.c.person_code).where(
        customers.c.customer_id == row["customer_id"])).scalar_one()
    uow.emit_event(ContractTerminated(
        contract_no=contract_no, customer_id=row["customer_id"],
        person_code=person_code, consumption_point_id=row["consumption_point_id"],
        end_date=end_date, terminated_by=terminated_by))
    return get_contract(uow, contract_no)
