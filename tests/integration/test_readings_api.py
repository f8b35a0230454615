"""Meter readings through the gateway and over RPC: validation, rollover, review,
idempotency and concurrency, CSV import, and a year of reminders."""
from datetime import date, datetime, timezone

import eventlet
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from services.billing.service import BillingService
from services.common.errors import Conflict, ValidationFailed
from services.contracts.service import ContractsService
from services.gateway import refusals
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command, eic_code, personal_code

# SQLite too: the default store of `make run` (tests/conftest.py, both_stores)
pytestmark = pytest.mark.both_stores

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
HUSBAND = personal_code("3450817", "123")


@pytest.fixture
def system(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(START)
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 NotificationsService, BillingService, VOOL_BANKS_FILE=str(banks.banks_file))
    rpc.identity.add_operator("desk", "desk", "correct-horse-battery")
    return f"http://{config['WEB_SERVER_ADDRESS']}", banks


def sign(rpc, **kwargs):
    signed = rpc.contracts.sign_contract(contract_command(**kwargs))
    wait_for(lambda: _known(rpc, signed["consumption_point_id"]), message="metering's copy")
    return signed


def _known(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except Exception:
        return None


def login(system, rpc, clock, person_code=GRANDMOTHER):
    base, banks = system
    wait_for(lambda: rpc.identity.is_eligible(person_code))
    return customer_token(base, banks, person_code, "Õie Mäger", clock.now())


def operator(system):
    base, _ = system
    return requests.post(f"{base}/api/v1/operator/login", timeout=10, json={
        "username": "desk", "password": "correct-horse-battery"}).json()["token"]


def post_reading(system, token, signed, body, key=None):
    base, _ = system
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(
        f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/"
        f"{signed['consumption_point_id']}/readings", json=body, headers=headers, timeout=15)


def test_a_customer_submits_and_reads_back_with_the_source_recorded(system, rpc,
                                                                    real_time_clock):
    signed = sign(rpc, initial={"T1": 1000}, start_date="2026-01-01")
    token = login(system, rpc, real_time_clock)
    response = post_reading(system, token, signed,
                            {"reading_date": "2026-02-14", "registers": {"T1": 1290}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["consumption"], body["next_reading_due"]) == (
        "accepted", {"T1": 290}, "2026-03-15")

    base, _ = system
    history = requests.get(
        f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/"
        f"{signed['consumption_point_id']}/readings",
        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert [(r["reading_date"], r["source"], r["submitted_by"]) for r in history] == [
        ("2026-02-14", "customer", GRANDMOTHER), ("2026-01-01", "initial", None)]

    invalid = post_reading(system, token, signed,
                           {"reading_date": "2026-03-02", "registers": {"T1": 1300}})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0] == {
        "field": "reading_date", "message": "must not be in the future",
        "code": "date-in-future", "params": {"today": "2026-03-01"}}
    lower = post_reading(system, token, signed,
                         {"reading_date": "2026-02-20", "registers": {"T1": 1200}})
    assert lower.status_code == 422
    assert "lower than the previous reading (1290 on 2026-02-14)" in lower.json()["detail"]


def test_a_refused_reading_is_said_in_the_customer_s_words(system, rpc, real_time_clock):
    """What the portal says beside the field: every code of a real refusal is in
    the catalog, its numbers and dates in the page's language."""
    signed = sign(rpc, initial={"T1": 45600}, start_date="2026-01-01")
    token = login(system, rpc, real_time_clock)
    refusals_of = {}
    for body in ({"reading_date": "2026-02-14", "registers": {"T1": 45000}},
                 {"reading_date": "2026-03-02", "registers": {"T1": 45700, "T9": 1}},
                 {"reading_date": "14.02.2026", "registers": {"T1": "45 700"}}):
        refused = post_reading(system, token, signed, body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == "/problems/validation-failed"
        for error in refused.json()["errors"]:
            assert refusals.knows(error["code"]), error
            refusals_of[error["code"]] = error
    assert set(refusals_of) == {"reading-lower-than-previous", "date-in-future",
                                "register-unknown", "date-from-datetime-parsing",
                                "int-parsing"}
    lower = refusals_of["reading-lower-than-previous"]
    assert lower["field"] == "registers.T1"
    assert refusals.describe(lower, "et") == (
        "Väiksem kui eelmine näit (45 600 kWh, 01.01.2026). Vaata arvesti näit uuesti üle.")
    assert refusals.describe(lower, "en") == (
        "Lower than the previous reading (45,600 kWh on 1 January 2026). "
        "Check the number on the meter.")
    assert refusals.describe(refusals_of["date-in-future"], "et") == (
        "Kuupäev ei saa olla hilisem kui täna (01.03.2026).")
    assert refusals.describe_problem("validation-failed", {}, "en", "") == (
        "Please check the fields marked below.")


def test_a_five_digit_register_rolls_over(system, rpc, real_time_clock):
    signed = sign(rpc, digits=5, initial={"T1": 99_800}, start_date="2026-02-01")
    token = login(system, rpc, real_time_clock)
    response = post_reading(system, token, signed,
                            {"reading_date": "2026-02-28", "registers": {"T1": 120}})
    assert response.status_code == 201, response.text
    assert response.json()["consumption"] == {"T1": 320}   # 100000 - 99800 + 120
    charge = wait_for(lambda: rpc.billing.get_charge(response.json()["reading_id"]))
    assert {l["kwh"] for l in charge["lines"]} == {320}


def test_a_decimal_slip_is_held_then_released_to_billing(system, rpc, real_time_clock):
    signed = sign(rpc, initial={"T1": 1000}, start_date="2026-02-01")
    token = login(system, rpc, real_time_clock)
    slipped = post_reading(system, token, signed,
                           {"reading_date": "2026-02-28", "registers": {"T1": 1000 + 2700 * 10}})
    assert slipped.status_code == 201
    held = slipped.json()
    assert held["status"] == "held_for_review"
    assert "far above" in held["review_reason"]
    eventlet.sleep(0.5)
    assert rpc.billing.get_charge(held["reading_id"]) is None        # not billed
    base, _ = system
    told = wait_for(lambda: [n for n in requests.get(
        f"{base}/api/v1/customers/{signed['customer_id']}/notifications",
        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if n["kind"] == "reading_held"])                              # the customer is told
    assert "far above" in told[0]["body"]

    desk = {"Authorization": f"Bearer {operator(system)}"}
    queue = requests.get(f"{base}/api/v1/operator/readings/review", headers=desk,
                         timeout=10).json()
    assert [r["reading_id"] for r in queue] == [held["reading_id"]]
    decided = requests.post(f"{base}/api/v1/operator/readings/{held['reading_id']}/decision",
                            json={"accept": True}, headers=desk, timeout=10)
    assert decided.status_code == 200 and decided.json()["status"] == "accepted"
    charge = wait_for(lambda: rpc.billing.get_charge(held["reading_id"]))
    assert {l["kwh"] for l in charge["lines"]} == {27_000}
    assert requests.get(f"{base}/api/v1/operator/readings/review", headers=desk,
                        timeout=10).json() == []
    released = wait_for(lambda: [n for n in requests.get(
        f"{base}/api/v1/customers/{signed['customer_id']}/notifications",
        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if n["kind"] == "reading_decided"])                          # and told the outcome
    assert "vastu võetud" in released[0]["body"]


def test_a_customer_corrects_her_held_reading_and_the_desk_sees_it_replaced(
        system, rpc, real_time_clock):
    signed = sign(rpc, n=78, initial={"T1": 1000}, start_date="2026-02-01")
    token = login(system, rpc, real_time_clock)
    base, _ = system
    own = f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/" \
          f"{signed['consumption_point_id']}/readings"
    bearer = {"Authorization": f"Bearer {token}"}
    desk = {"Authorization": f"Bearer {operator(system)}"}

    def queue():
        return [r["reading_id"] for r in requests.get(
            f"{base}/api/v1/operator/readings/review", headers=desk, timeout=10).json()]

    first = post_reading(system, token, signed,   # 270 typed as 2700
                         {"reading_date": "2026-02-27", "registers": {"T1": 1000 + 2700}})
    assert first.json()["status"] == "held_for_review" and queue() == [first.json()["reading_id"]]
    withdrawn = requests.delete(f"{own}/{first.json()['reading_id']}", headers=bearer, timeout=10)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn" and queue() == []
    again = requests.delete(f"{own}/{first.json()['reading_id']}", headers=bearer, timeout=10)
    assert again.status_code == 409                                  # decided stays decided

    typo = post_reading(system, token, signed,
                        {"reading_date": "2026-02-28", "registers": {"T1": 1000 + 2700}})
    assert typo.json()["status"] == "held_for_review"
    corrected = post_reading(system, token, signed,
                             {"reading_date": "2026-02-28", "registers": {"T1": 1000 + 270}})
    assert corrected.status_code == 201 and corrected.json()["status"] == "accepted"
    assert queue() == []                                             # replaced, not waiting
    history = {r["reading_id"]: r for r in requests.get(own, headers=bearer, timeout=10).json()}
    assert history[typo.json()["reading_id"]]["replaced_by"] == corrected.json()["reading_id"]
    charge = wait_for(lambda: rpc.billing.get_charge(corrected.json()["reading_id"]))
    assert {l["kwh"] for l in charge["lines"]} == {270}
    assert rpc.billing.get_charge(typo.json()["reading_id"]) is None  # never billed
    other = requests.delete(f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/"
                            f"{signed['consumption_point_id']}/readings/no-such-reading",
                            headers=bearer, timeout=10)
    assert other.status_code == 404


def test_consumption_per_month_for_the_chart(system, rpc, real_time_clock):
    signed = sign(rpc, n=79, initial={"T1": 1000}, start_date="2026-01-15")
    token = login(system, rpc, real_time_clock)
    for day, value in (("2026-02-15", 1310), ("2026-02-28", 1440)):
        assert post_reading(system, token, signed, {"reading_date": day,
                                                    "registers": {"T1": value}}).status_code == 201
    base, _ = system
    url = f"{base}/api/v1/customers/{signed['customer_id']}/consumption-points/" \
          f"{signed['consumption_point_id']}/consumption"
    bearer = {"Authorization": f"Bearer {token}"}
    months = requests.get(url, params={"months": 3}, headers=bearer, timeout=10)
    assert months.status_code == 200, months.text
    assert [(m["month"], m["consumption"]) for m in months.json()] == [
        ("2026-01", {"T1": 160}), ("2026-02", {"T1": 280}), ("2026-03", None)]
    refused = requests.get(url, params={"months": "0"}, headers=bearer, timeout=10)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "months"
    # March 15 estimated: counted only when asked, its days said
    real_time_clock.set(datetime(2026, 3, 20, 9, tzinfo=timezone.utc))
    assert rpc.metering.estimate_readings("2026-03-19") == {"readings_estimated": 1}
    bearer = {"Authorization": f"Bearer {login(system, rpc, real_time_clock)}"}
    plain, estimated = (requests.get(url, params={"months": 3, **extra}, headers=bearer,
                                     timeout=10).json()
                        for extra in ({}, {"estimates": "true"}))
    assert plain[-1]["consumption"] is None and plain[-1]["estimated_days"] == 0
    assert estimated[-1]["estimated_days"] == 15 and estimated[-1]["consumption"]["T1"] > 0
    assert estimated[:2] == plain[:2]
    refused = requests.get(url, params={"estimates": "maybe"}, headers=bearer, timeout=10)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "estimates"
    other = sign(rpc, n=80, person_code=HUSBAND, name="Jaan Mäger")
    assert requests.get(url.replace(signed["consumption_point_id"],
                                    other["consumption_point_id"]),
                        headers=bearer, timeout=10).status_code == 404


def test_a_summer_cottages_seasonal_readings_are_accepted(system, rpc, real_time_clock):
    real_time_clock.set(datetime(2024, 6, 1, 9, tzinfo=timezone.utc))
    cottage = sign(rpc, person_code=HUSBAND, name="Jaan Mäger", digits=6,
                   initial={"T1": 10_000}, start_date="2024-06-01", reading_day=1)
    value = 10_000
    # a year of readings: little in winter, a lot in summer
    monthly = [900, 1200, 1100, 300, 20, 5, 5, 5, 5, 10, 200, 950]   # Jul 2024 .. Jun 2025
    day = date(2024, 6, 1)
    for kwh in monthly:
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        real_time_clock.set(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))
        value += kwh
        result = rpc.metering.submit_reading({
            "consumption_point_id": cottage["consumption_point_id"],
            "reading_date": day.isoformat(), "registers": {"T1": value}})
        assert result["status"] == "accepted", (day, result)
    # July 2025: as much as last July, far above the plan's typical 10 kWh a day
    real_time_clock.set(datetime(2025, 8, 1, 12, tzinfo=timezone.utc))
    july = rpc.metering.submit_reading({
        "consumption_point_id": cottage["consumption_point_id"], "reading_date": "2025-08-01",
        "registers": {"T1": value + 1250}})
    assert july["status"] == "accepted"
    # while ten times last summer is still caught
    real_time_clock.set(datetime(2025, 9, 1, 12, tzinfo=timezone.utc))
    slip = rpc.metering.submit_reading({
        "consumption_point_id": cottage["consumption_point_id"], "reading_date": "2025-09-01",
        "registers": {"T1": value + 1250 + 11_000}})
    assert slip["status"] == "held_for_review"


def test_idempotency_keys_are_kept_whole_or_refused(system, rpc, real_time_clock):
    """Two long keys that differ only at their end are two keys; one too long to
    keep whole is refused naming the header, never cut."""
    signed = sign(rpc, n=77, initial={"T1": 1000}, start_date="2026-01-01")
    token = login(system, rpc, real_time_clock)
    long_key = "k" * 149
    first = post_reading(system, token, signed, {"reading_date": "2026-02-01",
                                                 "registers": {"T1": 1300}}, key=long_key + "1")
    second = post_reading(system, token, signed, {"reading_date": "2026-02-10",
                                                  "registers": {"T1": 1400}}, key=long_key + "2")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["reading_id"] != second.json()["reading_id"]
    too_long = post_reading(system, token, signed, {"reading_date": "2026-02-11",
                                                    "registers": {"T1": 1410}}, key="k" * 151)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "Idempotency-Key"


def test_idempotent_and_concurrent_submissions(system, rpc, real_time_clock, config):
    signed = sign(rpc, initial={"T1": 1000}, start_date="2026-01-01")
    token = login(system, rpc, real_time_clock)
    body = {"reading_date": "2026-02-01", "registers": {"T1": 1100}}
    first = post_reading(system, token, signed, body, key="retry-1")
    again = post_reading(system, token, signed, body, key="retry-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    other = post_reading(system, token, signed, {**body, "registers": {"T1": 1101}},
                         key="retry-1")
    assert other.status_code == 409
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    assert len(rpc.metering.list_readings(signed["consumption_point_id"])) == 2

    # twelve submissions at once: each is checked against the one before it
    values = [1105, 1112, 1101, 1108, 1103, 1111, 1102, 1110, 1104, 1109, 1106, 1107]

    def submit(value):
        with ClusterRpcProxy(config, timeout=30) as proxy:
            try:
                return proxy.metering.submit_reading({
                    "consumption_point_id": signed["consumption_point_id"],
                    "reading_date": "2026-02-20", "registers": {"T1": value}})
            except (ValidationFailed, Conflict):
                return None

    results = [r for r in eventlet.GreenPool(12).imap(submit, values) if r]
    accepted = [r for r in rpc.metering.list_readings(signed["consumption_point_id"])
                if r["status"] == "accepted" and r["reading_date"] == "2026-02-20"]
    assert len(accepted) == len(results)
    top = max(r["registers"]["T1"] for r in accepted)
    # no two were checked against the same previous reading
    assert sum(r["consumption"]["T1"] for r in accepted) == top - 1100
    assert all(r["consumption"]["T1"] >= 0 for r in accepted)


def test_a_csv_import_reports_good_held_and_bad_rows(system, rpc, real_time_clock):
    one = sign(rpc, n=901, initial={"T1": 1000}, start_date="2026-01-01")
    two = sign(rpc, n=902, registers=("T1", "T2"), initial={"T1": 500, "T2": 500},
               start_date="2026-01-01")
    base, _ = system
    csv_text = "\n".join([
        "eic,meter_serial,reading_date,T1,T2",
        f"{eic_code(901)},,2026-02-01,1300,",                     # 2: accepted
        ",MTR000902,2026-02-01,700,650",                        # 3: accepted by serial
        f"{eic_code(901)},,2026-02-15,9999,",                     # 4: held (slipped decimal)
        f"{eic_code(902)},,2026-02-10,600,700",                   # 5: below the previous T1
        ",,2026-02-01,1,",                                        # 6: no meter named
        f"{eic_code(999)},,2026-02-01,1,",                        # 7: unknown meter
        f"{eic_code(902)},,yesterday,800,800",                    # 8: bad date
        f"{eic_code(902)},,2026-02-20,eight,800",                 # 9: not a number
    ])
    response = requests.post(f"{base}/api/v1/operator/readings/import", data=csv_text.encode(),
                             headers={"Authorization": f"Bearer {operator(system)}",
                                      "Content-Type": "text/csv"}, timeout=30)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["held"]) == (2, 1)
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert sorted(reasons) == [5, 6, 7, 8, 9]
    assert "lower than the previous reading" in reasons[5]
    assert "eic or meter_serial" in reasons[6]
    assert "no meter" in reasons[7]
    assert "reading_date" in reasons[8]
    assert "whole number" in reasons[9]
    imported = rpc.metering.list_readings(one["consumption_point_id"])
    assert [(r["source"], r["status"]) for r in imported[:2]] == [
        ("import", "held_for_review"), ("import", "accepted")]
    assert imported[0]["submitted_by"] == "operator:desk"
    assert two


def test_a_year_of_reminders_for_three_consumption_points(system, rpc, real_time_clock,
                                                          run_services, config):
    real_time_clock.set(datetime(2026, 1, 1, 9, tzinfo=timezone.utc))
    run_services(NotificationsService)            # a second replica sweeping at once
    punctual = sign(rpc, n=701, person_code=GRANDMOTHER, start_date="2026-01-01")
    late = sign(rpc, n=702, person_code=GRANDCHILD, name="Mari Mäger", start_date="2026-01-01")
    never = sign(rpc, n=703, person_code=HUSBAND, name="Jaan Mäger", start_date="2026-01-01")
    values = {punctual["consumption_point_id"]: 1000, late["consumption_point_id"]: 1000}
    for point in (p["consumption_point_id"] for p in (punctual, late, never)):
        wait_for(lambda: rpc.notifications.reminders(point), message="the first reminder")

    def read(signed, day):
        real_time_clock.set(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc))
        point = signed["consumption_point_id"]
        values[point] += 300
        before = len(rpc.notifications.reminders(point))
        rpc.metering.submit_reading({"consumption_point_id": point,
                                     "reading_date": day.isoformat(),
                                     "registers": {"T1": values[point]}})
        wait_for(lambda: len(rpc.notifications.reminders(point)) > before,
                 message="the reminder rescheduled")

    def sweep_twice_at_once(day):
        real_time_clock.set(datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc))
        pool = eventlet.GreenPool(2)
        return sum(pool.imap(lambda _: rpc_sweep(day), range(2)))

    def rpc_sweep(day):
        with ClusterRpcProxy(config, timeout=30) as proxy:   # a proxy per green thread
            return proxy.notifications.reminder_sweep(day.isoformat())["reminders_sent"]

    sent = []
    for month in range(1, 13):
        read(punctual, date(2026, month, 15))                 # on the day
        sent.append(sweep_twice_at_once(date(2026, month, 19)))  # window closed on the 18th
        read(late, date(2026, month, 25))                     # a week late
    assert sent == [2] * 12          # the late one and the one that never reads, once each

    def reminders_in_inbox(customer_id):
        return [n for n in rpc.notifications.inbox(customer_id) if n["kind"] == "reading_reminder"]

    assert reminders_in_inbox(punctual["customer_id"]) == []
    late_inbox = reminders_in_inbox(late["customer_id"])
    never_inbox = reminders_in_inbox(never["customer_id"])
    assert len(late_inbox) == 12 and len(never_inbox) == 12
    oldest = never_inbox[-1]["body"]
    assert "15.01.2026" in oldest and "15.02.2026" in oldest   # the missed and the next date
