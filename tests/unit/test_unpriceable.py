"""A reading or contract billing cannot price is flagged, never billed 0.00: no
charge, no invoice (so none marked paid), the reason where operators see it, and
priced once an operator adds a tariff that covers it. On SQLite."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from services.billing import api, pricing, runs, tariffs
from services.billing.models import charges, invoices, tariff_components, tariff_plans
from services.common.validation import parse
from tests.unit.test_billing_run import billing_db, contract, reading


def on_plan(db, contract_no, plan):
    with db.unit_of_work() as uow:
        runs.record_contract(uow, {"contract_no": contract_no, "customer_id": f"c-{contract_no}",
                                   "reference_no": f"{contract_no}9", "tariff_plan": plan,
                                   "start_date": "2026-01-01"})


def read(db, contract_no, plan, kwh=100, previous="2026-01-15", on="2026-02-15"):
    with db.unit_of_work() as uow:
        return pricing.charge_reading(uow, {
            "reading_id": f"r-{contract_no}-{on}", "consumption_point_id": "cp",
            "contract_no": contract_no, "customer_id": f"c-{contract_no}",
            "tariff_plan": plan, "reading_date": on, "previous_reading_date": previous,
            "consumption": {"T1": kwh}})


def rows(db, table):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(table)).mappings().all()


def unpriceable(db):
    with db.unit_of_work() as uow:
        return {"readings": pricing.unpriced(uow),
                "contracts": runs.contracts_on_unknown_plans(uow)}


def run(db, period="2026-02"):
    with db.unit_of_work() as uow:
        return runs.run(uow, period, due_days=14)


def test_a_reading_on_an_unknown_plan_is_flagged_not_charged():
    db = billing_db()
    on_plan(db, "VL-9", "GHOST")
    assert read(db, "VL-9", "GHOST") is None
    assert rows(db, charges) == []
    [flagged] = unpriceable(db)["readings"]
    assert flagged["reading_id"] == "r-VL-9-2026-02-15"
    assert (flagged["contract_no"], flagged["tariff_plan"]) == ("VL-9", "GHOST")
    assert flagged["reason"] == "billing has no tariff plan GHOST"
    assert unpriceable(db)["contracts"] == [{"contract_no": "VL-9", "tariff_plan": "GHOST",
                                             "reason": "billing has no tariff plan GHOST"}]


def test_days_without_an_energy_price_are_not_left_out_of_the_charge():
    db = billing_db()
    with db.engine.begin() as conn:    # LATE has an energy price from February 1 only
        conn.execute(sa.insert(tariff_plans).values(code="LATE", name="Late"))
        conn.execute(sa.insert(tariff_components).values(
            tariff_plan="LATE", kind="energy", register=None, price=Decimal("0.2"),
            valid_from=date(2026, 2, 1)))
    on_plan(db, "VL-8", "LATE")
    assert read(db, "VL-8", "LATE") is None       # January 16-31 would be free
    [flagged] = unpriceable(db)["readings"]
    assert flagged["reason"] == "tariff plan LATE has no energy price for T1 on 2026-01-16"
    assert rows(db, charges) == []


def test_the_billing_run_leaves_out_what_it_cannot_price_and_says_why():
    db = billing_db()
    contract(db, "VL-1")
    reading(db, "VL-1", 100)
    on_plan(db, "VL-2", "GHOST")                  # no reading: only the fee, of no plan
    on_plan(db, "VL-3", "GHOST")
    read(db, "VL-3", "GHOST")
    with db.engine.begin() as conn:               # EMPTY: a plan without any price
        conn.execute(sa.insert(tariff_plans).values(code="EMPTY", name="Empty"))
    on_plan(db, "VL-4", "EMPTY")

    result = run(db)
    assert result["invoices_issued"] == 1
    assert result["unpriceable"] == [
        {"contract_no": "VL-2", "tariff_plan": "GHOST",
         "reason": "billing has no tariff plan GHOST"},
        {"contract_no": "VL-3", "tariff_plan": "GHOST",
         "reason": "billing has no tariff plan GHOST"},
        {"contract_no": "VL-4", "tariff_plan": "EMPTY",
         "reason": "tariff plan EMPTY has no price valid in 2026-02"}]
    [invoice] = rows(db, invoices)
    assert invoice["contract_no"] == "VL-1" and invoice["status"] == "unpaid"
    assert invoice["total"] > 0
    assert run(db)["unpriceable"] == result["unpriceable"]    # still out, still said


def test_a_contract_with_an_unpriced_reading_waits_and_is_billed_once_priced():
    db = billing_db()
    with db.engine.begin() as conn:
        conn.execute(sa.insert(tariff_plans).values(code="LATE", name="Late"))
        conn.execute(sa.insert(tariff_components).values(
            tariff_plan="LATE", kind="monthly_fee", register=None, price=Decimal("2.00"),
            valid_from=date(2026, 1, 1)))
    on_plan(db, "VL-5", "LATE")
    read(db, "VL-5", "LATE", kwh=100)
    first = run(db)
    assert first["invoices_issued"] == 0          # not a fee-only invoice without the kWh
    assert first["unpriceable"] == [{
        "contract_no": "VL-5", "tariff_plan": "LATE",
        "reason": "a reading of it could not be priced (GET /api/v1/operator/unpriceable)"}]

    # the operator adds the missing price: the flagged reading is priced at once
    with db.unit_of_work() as uow:
        tariffs.add_tariff(uow, parse(api.TariffPlan, {"code": "LATE", "components": [
            {"kind": "energy", "price": "0.100000", "valid_from": "2026-01-01"}]}))
    assert unpriceable(db) == {"readings": [], "contracts": []}
    [charge] = rows(db, charges)
    assert charge["net"] == Decimal("10.00")
    second = run(db)
    assert (second["invoices_issued"], second["unpriceable"]) == (1, [])
    [invoice] = rows(db, invoices)
    assert invoice["net"] == Decimal("12.00") and invoice["status"] == "unpaid"


def test_a_flagged_reading_sent_again_is_flagged_once():
    db = billing_db()
    on_plan(db, "VL-9", "GHOST")
    read(db, "VL-9", "GHOST")
    read(db, "VL-9", "GHOST")
    assert len(unpriceable(db)["readings"]) == 1
