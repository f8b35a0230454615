"""A reading from submit_reading to its billing charge and the rescheduled
reminder, with every service running in-process on the real broker, on
PostgreSQL and on SQLite."""
import pytest

from services.billing.service import BillingService
from services.common.errors import NotFound, ValidationFailed
from services.contracts.service import ContractsService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.samples import GRANDMOTHER, contract_command

# SQLite too: the default store of `make run` (tests/conftest.py, both_stores)
pytestmark = pytest.mark.both_stores

ALL = (IdentityService, ContractsService, MeteringService, BillingService, NotificationsService)


@pytest.fixture
def system(run_services):
    run_services(*ALL)


def signed_point(rpc, **kwargs):
    signed = rpc.contracts.sign_contract(contract_command(**kwargs))
    point = signed["consumption_point_id"]
    # metering copies the meter from contract_signed, asynchronously
    wait_for(lambda: _known(rpc, point), message="metering to learn the meter")
    return signed


def _known(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except NotFound:
        return None


def test_a_reading_is_charged_and_its_reminder_rescheduled(system, rpc):
    signed = signed_point(rpc, initial={"T1": 1000}, reading_day=15, start_date="2026-01-01")
    point = signed["consumption_point_id"]

    result = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-02-14",
        "registers": {"T1": 1300}, "source": "customer", "submitted_by": GRANDMOTHER})

    assert result["status"] == "accepted"
    assert result["consumption"] == {"T1": 300}
    # read on the 14th, inside the window of the 15th: next due is March's
    assert result["next_reading_due"] == "2026-03-15"

    charge = wait_for(lambda: rpc.billing.get_charge(result["reading_id"]),
                      message="billing to charge the reading")
    assert charge["contract_no"] == signed["contract_no"]
    assert (charge["period_from"], charge["period_to"]) == ("2026-01-01", "2026-02-14")
    by_kind = {line["kind"]: line for line in charge["lines"]}
    # BASIC's prices are data seeded by billing's migration
    assert by_kind["energy"] == {"kind": "energy", "register": "T1", "kwh": 300,
                                 "unit_price": "0.129000", "net": "38.70",
                                 "period_from": "2026-01-02", "period_to": "2026-02-14",
                                 "vat_rate": "24.00"}   # the VAT of its days: 24 % since 2025-07
    assert by_kind["network"]["net"] == "16.80"
    assert by_kind["renewable"]["net"] == "2.52"
    assert by_kind["excise"]["net"] == "0.63"
    assert charge["net"] == "58.65"

    # the contract's start scheduled the first reminder; the reading replaced it
    reminders = wait_for(lambda: _settled(rpc.notifications.reminders(point), 2),
                         message="notifications to reschedule the reminder")
    assert [(r["due_on"], r["status"]) for r in reminders] == [
        ("2026-01-15", "cancelled"), ("2026-03-15", "pending")]

    second = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-03-16",
        "registers": {"T1": 1550}})
    assert second["consumption"] == {"T1": 250}
    assert second["next_reading_due"] == "2026-04-15"
    reminders = wait_for(lambda: _settled(rpc.notifications.reminders(point), 3),
                         message="the next reminder")
    assert [(r["due_on"], r["status"]) for r in reminders] == [
        ("2026-01-15", "cancelled"), ("2026-03-15", "cancelled"), ("2026-04-15", "pending")]
    assert wait_for(lambda: rpc.billing.get_charge(second["reading_id"]))["net"] == "48.88"


def _settled(reminders, count):
    return reminders if len(reminders) == count else None


def test_a_day_night_meter_is_charged_per_register(system, rpc):
    signed = signed_point(rpc, registers=("T1", "T2"), initial={"T1": 500, "T2": 200})
    result = rpc.metering.submit_reading({
        "consumption_point_id": signed["consumption_point_id"], "reading_date": "2026-02-15",
        "registers": {"T1": 600, "T2": 300}})
    charge = wait_for(lambda: rpc.billing.get_charge(result["reading_id"]))
    energy = {l["register"]: l["net"] for l in charge["lines"] if l["kind"] == "energy"}
    assert energy == {"T1": "14.60", "T2": "9.80"}


def test_a_reading_below_the_previous_one_is_refused_and_not_charged(system, rpc):
    signed = signed_point(rpc, initial={"T1": 1000})
    with pytest.raises(ValidationFailed) as refused:
        rpc.metering.submit_reading({
            "consumption_point_id": signed["consumption_point_id"],
            "reading_date": "2026-02-15", "registers": {"T1": 999}})
    assert refused.value.errors == [{
        "field": "registers.T1",
        "message": "is lower than the previous reading (1000 on 2026-01-01)",
        "code": "reading-lower-than-previous",
        "params": {"register": "T1", "previous": "1000", "previous_date": "2026-01-01"}}]
    assert len(rpc.metering.list_readings(signed["consumption_point_id"])) == 1


def test_registers_must_match_the_meter(system, rpc):
    signed = signed_point(rpc, registers=("T1",))
    with pytest.raises(ValidationFailed) as refused:
        rpc.metering.submit_reading({
            "consumption_point_id": signed["consumption_point_id"],
            "reading_date": "2026-02-15", "registers": {"T1": 1100, "T2": 5}})
    assert refused.value.errors == [
        {"field": "registers.T2", "message": "this meter has no such register",
         "code": "register-unknown", "params": {"register": "T2"}}]


def test_identity_learns_who_holds_a_contract(system, rpc):
    assert rpc.identity.is_eligible(GRANDMOTHER) is False
    signed_point(rpc)
    assert wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
