"""The billing run's SQL on SQLite (the zero-setup database); PostgreSQL runs it
in tests/integration/test_billing_api.py."""
from datetime import date, datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from services.billing import pricing, runs
from services.billing.models import metadata, tariff_components, tariff_plans, vat_rates
from tests.unit.fakes import FakeDatabase


def billing_db():
    db = FakeDatabase(metadata, "billing")
    db.clock.set(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    with db.engine.begin() as conn:
        conn.execute(sa.insert(tariff_plans).values(code="BASIC", name="Basic"))
        conn.execute(sa.insert(tariff_components), [
            {"tariff_plan": "BASIC", "kind": "energy", "register": None,
             "price": Decimal("0.125"), "valid_from": date(2024, 1, 1)},
            {"tariff_plan": "BASIC", "kind": "monthly_fee", "register": None,
             "price": Decimal("1.99"), "valid_from": date(2024, 1, 1)}])
        conn.execute(sa.insert(vat_rates).values(valid_from=date(2025, 7, 1),
                                                 rate=Decimal("24.00")))
    return db


def contract(db, contract_no, start="2026-01-01"):
    with db.unit_of_work() as uow:
        runs.record_contract(uow, {"contract_no": contract_no, "customer_id": f"c-{contract_no}",
                                   "reference_no": f"{contract_no}9", "tariff_plan": "BASIC",
                                   "start_date": start})


def reading(db, contract_no, kwh, previous="2026-01-15", on="2026-02-15"):
    with db.unit_of_work() as uow:
        pricing.charge_reading(uow, {
            "reading_id": f"r-{contract_no}-{on}", "consumption_point_id": "cp",
            "contract_no": contract_no, "customer_id": f"c-{contract_no}",
            "tariff_plan": "BASIC", "reading_date": on, "previous_reading_date": previous,
            "consumption": {"T1": kwh}})


def test_a_run_bills_each_contract_once_with_vat_in_cents_half_up():
    db = billing_db()
    contract(db, "VL-1")
    contract(db, "VL-2")
    contract(db, "VL-3", start="2026-03-01")          # not in force in February
    reading(db, "VL-1", 101)                          # 12.625 -> 12.63
    with db.unit_of_work() as uow:
        assert runs.run(uow, "2026-02", due_days=14)["invoices_issued"] == 2
    with db.unit_of_work() as uow:
        assert runs.run(uow, "2026-02", due_days=14) == {"invoices_issued": 0, "total": "0.00",
                                                          "unpriceable": []}
        first = runs.invoice(uow, runs.invoices_of(uow, "c-VL-1")[0]["invoice_no"])
        second = runs.invoices_of(uow, "c-VL-2")
        assert runs.invoices_of(uow, "c-VL-3") == []
    assert [(l["kind"], l["net"]) for l in first["lines"]] == [
        ("energy", "12.63"), ("monthly_fee", "1.99")]
    assert (first["net"], first["vat"], first["total"]) == ("14.62", "3.51", "18.13")  # 3.5088
    assert first["invoice_no"].startswith("2026-")
    [only_fee] = second
    assert (only_fee["net"], only_fee["vat"], only_fee["total"]) == ("1.99", "0.48", "2.47")

    reading(db, "VL-2", 40, previous="2026-02-15", on="2026-03-01")   # belongs to March
    with db.unit_of_work() as uow:
        assert runs.run(uow, "2026-03", due_days=14)["invoices_issued"] == 3
        march = runs.invoice(uow, runs.invoices_of(uow, "c-VL-2")[0]["invoice_no"])
    assert [l["kind"] for l in march["lines"]] == ["energy", "monthly_fee"]


def test_a_run_in_chunks_bills_as_one_and_reports_each_chunk():
    whole, chunked = billing_db(), billing_db()
    for db in (whole, chunked):
        for n in range(1, 6):
            contract(db, f"VL-{n}")
            reading(db, f"VL-{n}", 10 * n)
    with whole.unit_of_work() as uow:
        at_once = runs.run(uow, "2026-02", due_days=14)
    advanced = []
    with chunked.unit_of_work() as uow:
        in_chunks = runs.run(uow, "2026-02", due_days=14, chunk=2,
                             advance=lambda done, total: advanced.append((done, total)))
    assert in_chunks == at_once and in_chunks["invoices_issued"] == 5
    assert advanced == [(0, 5), (2, 5), (4, 5), (5, 5)]

    def invoices(db):
        with db.unit_of_work() as uow:
            return [runs.invoice(uow, i["invoice_no"]) for n in range(1, 6)
                    for i in runs.invoices_of(uow, f"c-VL-{n}")]
    assert invoices(chunked) == invoices(whole)
    with chunked.unit_of_work() as uow:   # every charge billed, by its own invoice
        assert uow.session.execute(sa.text(
            "SELECT COUNT(*) FROM charges WHERE invoice_no IS NULL")).scalar() == 0
