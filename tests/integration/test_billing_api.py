"""Tariffs, VAT and the billing run through the gateway: a price change inside a
reading interval, invoices issued once, what the customer sees."""
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

import io
import uuid

import pytest
import requests
from pypdf import PdfReader

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.jobs import billing_run
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command


@pytest.fixture
def api(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(datetime(2026, 3, 5, 9, tzinfo=timezone.utc))
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, VOOL_BANKS_FILE=str(banks.banks_file))
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    token = requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": "correct-horse-battery"}).json()["token"]
    return base, {"Authorization": f"Bearer {token}"}, banks


def cents(amount):
    return Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.mark.both_stores
def test_a_month_is_invoiced_once_with_a_price_change_split_by_days(api, rpc, real_time_clock):
    base, desk, banks = api
    added = requests.post(f"{base}/api/v1/operator/tariffs", headers=desk, timeout=10, json={
        "code": "BASIC", "components": [
            {"kind": "energy", "price": "0.200000", "valid_from": "2026-02-01"}]})
    assert added.status_code == 201, added.text
    energy = [c for c in added.json()["components"] if c["kind"] == "energy"]
    assert [c["price"] for c in energy] == ["0.129000", "0.200000"]

    signed = rpc.contracts.sign_contract(contract_command(initial={"T1": 1000},
                                                          start_date="2026-01-01"))
    point = signed["consumption_point_id"]
    wait_for(lambda: _known(rpc, point))
    reading = rpc.metering.submit_reading({"consumption_point_id": point,
                                           "reading_date": "2026-02-15",
                                           "registers": {"T1": 1450}})
    charge = wait_for(lambda: rpc.billing.get_charge(reading["reading_id"]))
    energy_lines = [l for l in charge["lines"] if l["kind"] == "energy"]
    # Jan 2 .. Jan 31 at the old price, Feb 1 .. Feb 15 at the new one: 30 + 15 days
    assert [(l["kwh"], l["unit_price"], l["net"]) for l in energy_lines] == [
        (300, "0.129000", "38.70"), (150, "0.200000", "30.00")]

    assert billing_run(base, desk, "2026-02")["invoices_issued"] == 1
    again = billing_run(base, desk, "2026-02")
    assert again == {"invoices_issued": 0, "total": "0.00", "unpriceable": []}

    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    as_customer = {"Authorization": f"Bearer {token}"}
    cid = signed["customer_id"]
    [summary] = requests.get(f"{base}/api/v1/customers/{cid}/invoices?status=unpaid",
                             headers=as_customer, timeout=10).json()
    assert summary["period"] == "2026-02"
    assert summary["reference_no"] == signed["reference_no"]
    assert (summary["issued_on"], summary["due_on"]) == ("2026-03-05", "2026-03-19")
    assert requests.get(f"{base}/api/v1/customers/{cid}/invoices?status=paid",
                        headers=as_customer, timeout=10).json() == []

    invoice = requests.get(f"{base}/api/v1/customers/{cid}/invoices/{summary['invoice_no']}",
                           headers=as_customer, timeout=10).json()
    kinds = [l["kind"] for l in invoice["lines"]]
    assert kinds.count("energy") == 2 and kinds[-1] == "monthly_fee"
    net = sum(Decimal(l["net"]) for l in invoice["lines"])
    assert Decimal(invoice["net"]) == net                       # the exact sum of the lines
    assert invoice["vat_rate"] == "24.00"                        # valid on 2026-02-28
    assert Decimal(invoice["vat"]) == cents(net * Decimal("0.24"))
    assert Decimal(invoice["total"]) == net + Decimal(invoice["vat"])
    assert invoice["status"] == "unpaid" and invoice["paid"] == "0.00"

    pdf = requests.get(f"{base}/api/v1/customers/{cid}/invoices/{summary['invoice_no']}.pdf",
                       headers=as_customer, timeout=30)
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert summary["invoice_no"] in text and signed["reference_no"] in text
    assert "Õie Mäger" in text and "Elektrienergia" in text        # her language: Estonian
    total_et = invoice["total"].replace(".", ",")
    assert total_et in text
    english = requests.get(f"{base}/api/v1/customers/{cid}/invoices/"
                           f"{summary['invoice_no']}.pdf?lang=en", headers=as_customer, timeout=30)
    english_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(english.content)).pages)
    assert "Energy" in english_text
    bad = requests.get(f"{base}/api/v1/customers/{cid}/invoices/{summary['invoice_no']}.pdf"
                       "?lang=fi", headers=as_customer, timeout=30)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "lang"


def test_what_billing_cannot_price_is_flagged_not_billed_0_00(api, rpc, bus, real_time_clock):
    base, desk, banks = api
    # SPRING prices energy from February 1 only: a reading from January 1 cannot be priced
    added = requests.post(f"{base}/api/v1/operator/tariffs", headers=desk, timeout=10, json={
        "code": "SPRING", "components": [
            {"kind": "energy", "price": "0.150000", "valid_from": "2026-02-01"},
            {"kind": "monthly_fee", "price": "1.500000", "valid_from": "2026-01-01"}]})
    assert added.status_code == 201, added.text
    signed = rpc.contracts.sign_contract(contract_command(initial={"T1": 1000},
                                                          start_date="2026-01-01",
                                                          tariff_plan="SPRING"))
    point = signed["consumption_point_id"]
    wait_for(lambda: _known(rpc, point))
    reading = rpc.metering.submit_reading({"consumption_point_id": point,
                                           "reading_date": "2026-02-15",
                                           "registers": {"T1": 1450}})
    # a reading of a plan billing never heard of (a contract signed before contracts checked)
    ghost = {"event_id": str(uuid.uuid4()), "event_type": "reading_submitted", "version": 1,
             "occurred_at": "2026-02-15T10:00:00+00:00", "source": "metering", "data": {
                 "reading_id": str(uuid.uuid4()), "consumption_point_id": str(uuid.uuid4()),
                 "contract_no": "VL-999999", "customer_id": str(uuid.uuid4()),
                 "tariff_plan": "NO-SUCH-PLAN", "reading_date": "2026-02-15",
                 "previous_reading_date": "2026-01-15", "registers": {"T1": 1100},
                 "consumption": {"T1": 100}, "next_reading_due": "2026-03-15"}}
    bus.publish_event("metering", ghost)

    def flagged():
        listed = requests.get(f"{base}/api/v1/operator/unpriceable", headers=desk, timeout=10)
        assert listed.status_code == 200, listed.text
        readings = listed.json()["readings"]
        return readings if len(readings) == 2 else None

    readings = {r["reading_id"]: r for r in wait_for(flagged, message="both flagged")}
    assert readings[reading["reading_id"]]["contract_no"] == signed["contract_no"]
    assert readings[reading["reading_id"]]["reason"] == (
        "tariff plan SPRING has no energy price for T1 on 2026-01-02")
    assert readings[ghost["data"]["reading_id"]]["reason"] == (
        "billing has no tariff plan NO-SUCH-PLAN")
    assert rpc.billing.get_charge(reading["reading_id"]) is None      # no 0.00 charge
    assert rpc.billing.get_charge(ghost["data"]["reading_id"]) is None
    assert bus.depth("evt-metering-reading_submitted--billing.on_reading_submitted"
                     ".dead-letter") == 0                             # handled: flagged

    run = billing_run(base, desk, "2026-02")
    assert run["invoices_issued"] == 0
    assert run["unpriceable"] == [{
        "contract_no": signed["contract_no"], "tariff_plan": "SPRING",
        "reason": "a reading of it could not be priced (GET /api/v1/operator/unpriceable)"}]
    token = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", real_time_clock.now())
    assert requests.get(f"{base}/api/v1/customers/{signed['customer_id']}/invoices",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10).json() == []

    # the operator adds January's price: the reading is priced, the next run bills it
    assert requests.post(f"{base}/api/v1/operator/tariffs", headers=desk, timeout=10, json={
        "code": "SPRING", "components": [{"kind": "energy", "price": "0.100000",
                                          "valid_from": "2026-01-01",
                                          "valid_until": "2026-01-31"}]}).status_code == 201
    charge = rpc.billing.get_charge(reading["reading_id"])
    # 450 kWh over January 2 .. February 15: 300 at 0.10 (30 days), 150 at 0.15 (15 days)
    assert charge["net"] == "52.50"
    run = billing_run(base, desk, "2026-02")
    assert (run["invoices_issued"], run["unpriceable"]) == (1, [])
    [invoice] = requests.get(f"{base}/api/v1/customers/{signed['customer_id']}/invoices",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert (invoice["status"], invoice["net"], invoice["total"]) == ("unpaid", "54.00", "66.96")
    left = requests.get(f"{base}/api/v1/operator/unpriceable", headers=desk, timeout=10).json()
    assert [r["reading_id"] for r in left["readings"]] == [ghost["data"]["reading_id"]]


def _known(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except Exception:
        return None


@pytest.mark.both_stores
def test_another_customers_invoice_is_not_found(api, rpc, real_time_clock):
    base, desk, banks = api
    mine = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    theirs = rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD,
                                                         name="Mari Mäger",
                                                         start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))

    def both_invoiced():   # billing learns of the contracts from events; runs are idempotent
        billing_run(base, desk, "2026-01")
        return (rpc.billing.invoices_of(mine["customer_id"])
                and rpc.billing.invoices_of(theirs["customer_id"]))

    wait_for(both_invoiced)
    [their_invoice] = rpc.billing.invoices_of(theirs["customer_id"])
    token = customer_token(base, banks, GRANDCHILD, "Mari Mäger", real_time_clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/api/v1/customers/{theirs['customer_id']}/invoices/"
                        f"{their_invoice['invoice_no']}", headers=headers,
                        timeout=10).status_code == 200
    assert requests.get(f"{base}/api/v1/customers/{mine['customer_id']}/invoices",
                        headers=headers, timeout=10).status_code == 404
    assert requests.get(f"{base}/api/v1/customers/{mine['customer_id']}/invoices/"
                        f"{their_invoice['invoice_no']}.pdf", headers=headers,
                        timeout=10).status_code == 404
    [my_invoice] = rpc.billing.invoices_of(mine["customer_id"])
    # the invoice number of someone else's invoice under one's own customer id
    assert requests.get(f"{base}/api/v1/customers/{theirs['customer_id']}/invoices/"
                        f"{my_invoice['invoice_no']}", headers=headers,
                        timeout=10).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"period": "2026-13"}, "period"), ({"period": "March"}, "period"),
    ({"period": "2027-01"}, "period"), ({}, "period")])
def test_a_billing_run_needs_a_past_month(api, body, field):
    base, desk, _ = api
    response = requests.post(f"{base}/api/v1/operator/jobs/billing-run", headers=desk,
                             timeout=10, json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.both_stores
def test_vat_rates_have_estonias_history_and_take_new_ones(api):
    base, desk, _ = api
    rates = requests.get(f"{base}/api/v1/operator/vat-rates", headers=desk, timeout=10).json()
    assert rates == [{"rate": "20.00", "valid_from": "2009-07-01"},
                     {"rate": "22.00", "valid_from": "2024-01-01"},
                     {"rate": "24.00", "valid_from": "2025-07-01"}]
    added = requests.post(f"{base}/api/v1/operator/vat-rates", headers=desk, timeout=10,
                          json={"rate": "25.50", "valid_from": "2027-01-01"})
    assert added.status_code == 201 and added.json()[-1]["rate"] == "25.50"
    twice = requests.post(f"{base}/api/v1/operator/vat-rates", headers=desk, timeout=10,
                          json={"rate": "26.00", "valid_from": "2027-01-01"})
    assert twice.status_code == 409
    bad = requests.post(f"{base}/api/v1/operator/vat-rates", headers=desk, timeout=10,
                        json={"rate": "120", "valid_from": "2027-01-01"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rate"
