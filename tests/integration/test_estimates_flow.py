"""Estimated readings through the running services on the real broker, on both
stores (issue #20): the operators' estimate job as metering's RPC, billing charging
the estimate from reading_estimated, the customer's reading for the estimated day
replacing it and billing taking the estimate back."""
import pytest
import requests

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.integration.test_reading_flow import signed_point
from tests.integration.test_readings_api import (login, operator, post_reading, sign,
                                                 system)  # noqa: F401  (system: a fixture)

pytestmark = pytest.mark.both_stores

ALL = (IdentityService, ContractsService, MeteringService, BillingService, NotificationsService)


def test_an_estimate_is_charged_and_replaced_by_the_customers_reading(run_services, rpc):
    run_services(*ALL)
    signed = signed_point(rpc, initial={"T1": 1000}, reading_day=15, start_date="2026-01-01")
    point = signed["consumption_point_id"]

    assert rpc.metering.estimate_readings("2026-01-19") == {"readings_estimated": 1}
    assert rpc.metering.estimate_readings("2026-01-19") == {"readings_estimated": 0}
    [estimate, _initial] = rpc.metering.list_readings(point)
    assert (estimate["status"], estimate["estimated"], estimate["pending"]) == (
        "estimated", True, True)
    assert estimate["method"] == "tariff_typical"           # no history yet: BASIC's 10/day
    assert estimate["consumption"] == {"T1": 140}

    charged = wait_for(lambda: rpc.billing.get_charge(estimate["reading_id"]),
                       message="billing to charge the estimate")
    assert charged["estimated"] is True
    energy = next(l for l in charged["lines"] if l["kind"] == "energy")
    assert (energy["kwh"], energy["estimated"], energy["method"]) == (
        140, True, "tariff_typical")

    # she hears of it: how it was made and how to replace it
    told = wait_for(lambda: [n for n in rpc.notifications.inbox(signed["customer_id"])
                             if n["kind"] == "reading_estimated"],
                    message="notifications to tell her of the estimate")
    assert "140 kWh" in told[0]["body"] and "15.01.2026" in told[0]["body"]

    actual = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-01-15",
        "registers": {"T1": 1100}, "source": "customer"})
    assert actual["consumption"] == {"T1": 100}
    readings = rpc.metering.list_readings(point)
    replaced = next(r for r in readings if r["reading_id"] == estimate["reading_id"])
    assert replaced["replaced_by"] == actual["reading_id"] and replaced["pending"] is False

    trued_up = wait_for(lambda: rpc.billing.get_charge(actual["reading_id"]),
                        message="billing to charge the actual reading")
    kwh = {(l["kind"], l.get("corrects_estimate", False)): l["kwh"]
           for l in trued_up["lines"]}
    assert kwh[("energy", False)] == 100 and kwh[("energy", True)] == -140
    assert float(trued_up["net"]) < 0        # the estimate was 40 kWh too high
    assert (trued_up["period_from"], trued_up["period_to"]) == ("2026-01-01", "2026-01-15")


def test_operators_run_and_switch_estimates_and_customers_see_and_replace_them(
        system, rpc, real_time_clock):
    """Through the gateway: the estimate job (each reading day once), the switch per
    point, the customer's history marking the estimate, her reading replacing it."""
    base, _ = system
    signed = sign(rpc, initial={"T1": 1000}, reading_day=15, start_date="2026-01-01")
    desk = {"Authorization": f"Bearer {operator(system)}"}
    job = f"{base}/api/v1/operator/jobs/estimate"
    switch = f"{base}/api/v1/operator/estimates"

    off = requests.post(switch, headers=desk, timeout=15, json={
        "consumption_point_id": signed["consumption_point_id"], "estimates": False})
    assert off.status_code == 200 and off.json()["estimates"] is False
    assert requests.post(job, headers=desk, json={"as_of": "2026-01-19"},
                         timeout=30).json() == {"readings_estimated": 0}
    requests.post(switch, headers=desk, timeout=15, json={
        "consumption_point_id": signed["consumption_point_id"], "estimates": True})
    assert requests.post(job, headers=desk, json={"as_of": "2026-01-19"},
                         timeout=30).json() == {"readings_estimated": 1}
    assert requests.post(job, headers=desk, json={"as_of": "2026-01-19"},
                         timeout=30).json() == {"readings_estimated": 0}   # once only

    both = requests.post(switch, headers=desk, timeout=15, json={
        "consumption_point_id": signed["consumption_point_id"], "tariff_plan": "BASIC",
        "estimates": False})
    assert both.status_code == 422
    assert [e["field"] for e in both.json()["errors"]] == ["consumption_point_id"]
    unknown = requests.post(switch, headers=desk, timeout=15, json={
        "consumption_point_id": "no-such-point", "estimates": False})
    assert unknown.status_code == 404
    bad_day = requests.post(job, headers=desk, json={"as_of": "9999-01-01"}, timeout=15)
    assert bad_day.status_code == 422 and bad_day.json()["errors"][0]["field"] == "as_of"

    token = login(system, rpc, real_time_clock)
    history = requests.get(
        f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/"
        f"{signed['consumption_point_id']}/readings",
        headers={"Authorization": f"Bearer {token}"}, timeout=15).json()
    [estimated] = [r for r in history if r["status"] == "estimated"]
    assert estimated["estimated"] is True and estimated["method"] == "tariff_typical"
    assert estimated["pending"] is True and estimated["reading_date"] == "2026-01-15"

    replaced = post_reading(system, token, signed, {"reading_date": "2026-01-15",
                                                    "registers": {"T1": 1090}})
    assert replaced.status_code in (200, 201), replaced.text
    charge = wait_for(lambda: rpc.billing.get_charge(replaced.json()["reading_id"]),
                      message="billing to charge the actual reading")
    # whichever billing heard first, the estimate and the actual reading together
    # charge the actual 90 kWh
    estimate_charge = rpc.billing.get_charge(estimated["reading_id"])
    energy = [l["kwh"] for c in (charge, estimate_charge) if c for l in c["lines"]
              if l["kind"] == "energy"]
    assert sum(energy) == 90
