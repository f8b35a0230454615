"""The grantor's access log: one entry per use, named by a code with what it was
about, a refused change shown as refused (and one whose outcome never came as
attempted), and each use in words in Estonian and English."""
from datetime import datetime, timezone

import pytest
import requests

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.gateway.uses import describe
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
pytestmark = pytest.mark.both_stores


@pytest.fixture
def system(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(T0)
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, NotificationsService, VOOL_BANKS_FILE=str(banks.banks_file))
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    home = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD, name="Mari Mäger",
                                                 start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    her = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    cid, point = home["customer_id"], home["consumption_point_id"]
    granted = requests.post(f"{base}/api/v1/customers/{cid}/mandates", timeout=10,
                            headers={"Authorization": f"Bearer {her}"},
                            json={"grantee_person_code": GRANDCHILD,
                                  "scopes": ["contract:read", "readings:write",
                                             "invoices:read"]})
    assert granted.status_code == 201, granted.text
    him = customer_token(base, banks, GRANDCHILD, "Mari Mäger", T0)
    return {"base": base, "cid": cid, "point": point, "her": her, "him": him,
            "mandate_id": granted.json()["mandate_id"]}


def log_of(system):
    answer = requests.get(f"{system['base']}/api/v1/customers/{system['cid']}/access-log",
                          headers={"Authorization": f"Bearer {system['her']}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_one_entry_per_use_and_a_refused_change_is_logged_as_refused(system, rpc):
    base, cid, point = system["base"], system["cid"], system["point"]
    him = {"Authorization": f"Bearer {system['him']}"}
    readings = f"{base}/api/v1/customers/{cid}/consumption-points/{point}/readings"

    # a portal page he looks at: one entry, naming the parts of hers it showed
    page = requests.get(f"{base}/customers/{cid}/", cookies={"vool_session": system["him"]},
                        timeout=10)
    assert page.status_code == 200, page.text
    [viewed] = log_of(system)
    assert (viewed["use"], viewed["action"], viewed["outcome"]) == (
        "portal:overview", "read", "done")
    assert viewed["details"] == {"parts": ["consumption_points", "invoices", "messages"]}
    assert viewed["mandate_id"] == system["mandate_id"]

    # a reading he enters: one entry, done; one the service refuses: refused
    entered = requests.post(readings, headers=him, timeout=10,
                            json={"reading_date": "2026-03-02", "registers": {"T1": 1600}})
    assert entered.status_code == 201, entered.text
    lower = requests.post(readings, headers=him, timeout=10,
                          json={"reading_date": "2026-03-02", "registers": {"T1": 10}})
    assert lower.status_code == 422, lower.text
    refused, done, _ = log_of(system)              # newest first
    assert [(e["use"], e["action"], e["outcome"], e["details"]) for e in (done, refused)] == [
        ("submit_reading", "change", "done", {"consumption_point_id": point}),
        ("submit_reading", "change", "refused", {"consumption_point_id": point})]
    assert {e["resource"] for e in (done, refused)} == {
        f"/api/v1/customers/{cid}/consumption-points/{point}/readings"}
    # `what` stays for the API's older clients
    assert done["what"]

    # a read through the API: one entry, with the point it was about
    assert requests.get(readings, headers=him, timeout=10).status_code == 200
    read = log_of(system)[0]
    assert (read["use"], read["outcome"], read["details"]) == (
        "readings", "done", {"consumption_point_id": point})
    assert len(log_of(system)) == 4

    # a change whose outcome never came (the gateway stopped after identity logged
    # it): attempted
    rpc.identity.authorize_customer(system["him"], cid, "readings:write", point, "change",
                                    "/api/v1/…/readings", "", "submit_reading",
                                    {"consumption_point_id": point})
    assert log_of(system)[0]["outcome"] == "attempted"

    # in words, in the grantor's language
    addresses = {point: "Pärna 3"}
    words = {language: [describe(e, language, addresses) for e in log_of(system)]
             for language in ("en", "et")}
    assert words["en"] == [
        "tried to enter a reading for Pärna 3 — the outcome is not known",
        "viewed the readings of Pärna 3",
        "tried to enter a reading for Pärna 3 — refused",
        "entered a reading for Pärna 3",
        "viewed the consumption points, the invoices, and the messages"]
    assert words["et"] == [
        "proovis sisestada näitu mõõtepunktile Pärna 3 — tulemus pole teada",
        "vaatas mõõtepunkti Pärna 3 näite",
        "proovis sisestada näitu mõõtepunktile Pärna 3 — keelduti",
        "sisestas näidu mõõtepunktile Pärna 3",
        "vaatas mõõtepunkte, arveid ja teateid"]


def test_her_own_uses_are_not_logged_and_a_portal_form_refused_is_refused(system, rpc):
    base, cid, point = system["base"], system["cid"], system["point"]
    # her own reading: nothing in her log
    assert requests.post(f"{base}/api/v1/customers/{cid}/consumption-points/{point}/readings",
                         headers={"Authorization": f"Bearer {system['her']}"}, timeout=10,
                         json={"reading_date": "2026-03-02", "registers": {"T1": 1600}}
                         ).status_code == 201
    assert log_of(system) == []

    # his reading through the portal's form, refused (lower than hers): refused
    browser = requests.Session()
    browser.cookies.set("vool_session", system["him"])
    page = browser.get(f"{base}/customers/{cid}/", timeout=10)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    sent = browser.post(f"{base}/customers/{cid}/consumption-points/{point}/readings",
                        timeout=10, data={"csrf_token": csrf, "reading_date": "2026-03-02",
                                          "register-T1": "10"})
    assert sent.status_code == 422, sent.text[:300]
    changes = [e for e in log_of(system) if e["action"] == "change"]
    assert [(e["use"], e["outcome"]) for e in changes] == [("portal_submit_reading", "refused")]
    assert describe(changes[0], "et") == (
        f"proovis sisestada näitu mõõtepunktile {point} — keelduti")

    # a page answering a form whose change is logged: checked, but no entry of its own
    before = log_of(system)
    answer = rpc.identity.customer_overview(
        system["him"], [{"customer_id": cid, "scope": "contract:read", "part": "contact"}],
        [], False, None)
    assert answer["acting_for"][cid]["relation"] == "mandate"
    assert log_of(system) == before
