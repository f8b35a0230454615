"""The web portal under /: a customer logs in through the bank's flow with a
browser (cookies, forms), sees her consumption point, enters readings, is told
what was wrong with a bad one, cannot be made to post by another site, never
reaches someone else's point, and logs out. A grandchild under a mandate sees what
the mandate covers, and the grandmother's access log says so."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import requests

from services.billing.service import BillingService
from services.common.rpc_calls import Services
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from services.notifications.service import NotificationsService
from tests.banking import make_banks
from tests.browser import forms
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command



def now():
    """The real time: the session cookie expires by the browser's clock."""
    return datetime.now(timezone.utc)


@pytest.fixture
def portal(run_services, config, rpc, tmp_path):
    banks = make_banks(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, NotificationsService, VOOL_BANKS_FILE=str(banks.banks_file),
                 VOOL_PUBLIC_URL=base)
    home = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01",
                                                        registers=("T1", "T2")))
    child = rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD,
                                                         name="Grandchild",
                                                         start_date="2026-01-01"))
    for person in (GRANDMOTHER, GRANDCHILD):
        wait_for(lambda: rpc.identity.is_eligible(person))
    wait_for(lambda: rpc.metering.reading_overview([home["consumption_point_id"]]))
    return {"base": base, "banks": banks, "home": home, "child": child}


def log_in(portal, person_code, name):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"     # these tests read the English pages
    return log_in_as(browser, portal, person_code, name)


def log_in_as(browser, portal, person_code, name):
    """The browser's way: the login page's bank button, the page that posts our
    signed request to the bank, the bank's reply posted back."""
    login_page = browser.get(f"{portal['base']}/", timeout=10)
    assert login_page.status_code == 200
    [bank_button] = [f for f in forms(login_page.text, portal["base"])
                     if f["action"].endswith("/login/testbank")]
    to_bank = browser.post(bank_button["action"], timeout=10)
    assert to_bank.status_code == 200, to_bank.text
    [signed] = forms(to_bank.text)
    reply = portal["banks"].bank.authentication_reply(signed["fields"], person_code, name, now())
    assert signed["fields"]["VK_RETURN"] == f"{portal['base']}/login/testbank/return"
    landed = browser.post(signed["fields"]["VK_RETURN"], data=reply, timeout=10)
    assert landed.status_code == 200 and landed.url == f"{portal['base']}/", landed.text
    return browser, landed


def reading_form(page, point_id, base):
    return form_to(page, base, f"/consumption-points/{point_id}/readings")


def test_a_customer_logs_in_sees_her_point_and_enters_a_reading(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point = portal["home"]["consumption_point_id"]
    assert "Õie Mäger" in home_page.text
    assert f"EIC {rpc.contracts.get_contract(portal['home']['contract_no'])['consumption_point']['eic']}" in home_page.text
    assert "Next reading due" in home_page.text
    form = reading_form(home_page, point, portal["base"])
    assert set(form["fields"]) == {"csrf_token", "idempotency_key", "reading_date",
                                   "register-T1", "register-T2"}

    sent = browser.post(form["action"], data={
        **form["fields"], "reading_date": "2026-03-01", "register-T1": "1350",
        "register-T2": "1200"}, timeout=10)
    assert sent.status_code == 201, sent.text
    assert "Reading accepted" in sent.text and "T1 350 kWh" in sent.text
    [reading] = rpc.metering.list_readings(point, portal["home"]["customer_id"])[:1]
    assert (reading["reading_date"], reading["source"]) == ("2026-03-01", "customer")

    again = browser.post(form["action"], data={   # the same page's form sent twice
        **form["fields"], "reading_date": "2026-03-01", "register-T1": "1350",
        "register-T2": "1200"}, timeout=10)
    assert again.status_code == 201
    assert len([r for r in rpc.metering.list_readings(point, portal["home"]["customer_id"])
                if r["reading_date"] == "2026-03-01"]) == 1
    assert "2026-03-01" in browser.get(f"{portal['base']}/", timeout=10).text   # last reading


def test_a_bad_reading_is_explained_beside_its_form_and_nothing_is_stored(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point, cid = portal["home"]["consumption_point_id"], portal["home"]["customer_id"]
    form = reading_form(home_page, point, portal["base"])
    empty = browser.post(form["action"], data={
        **form["fields"], "reading_date": "2026-03-01", "register-T1": "", "register-T2": "5"},
        timeout=10)
    assert empty.status_code == 422
    assert "registers.T1" in empty.text
    lower = browser.post(form["action"], data={
        **reading_form(empty, point, portal["base"])["fields"], "reading_date": "2025-12-01",
        "register-T1": "1100", "register-T2": "1100"}, timeout=10)
    assert lower.status_code == 422 and "reading_date" in lower.text
    no_date = browser.post(form["action"], data={
        **form["fields"], "reading_date": "<script>", "register-T1": "1", "register-T2": "1"},
        timeout=10)
    assert no_date.status_code == 422 and "reading_date" in no_date.text
    assert "<script>" not in no_date.text
    for hostile, named in (("9" * 5000, "registers.T1"), ("-5", "registers.T1"),
                           ("1e3", "registers.T1"), ("1\x00", "register-T1")):   # as sent
        odd = browser.post(form["action"], data={**form["fields"], "reading_date": "2026-03-01",
                                                 "register-T1": hostile, "register-T2": "1"},
                           timeout=10)
        assert odd.status_code == 422 and named in odd.text, hostile
    assert [r for r in rpc.metering.list_readings(point, cid) if r["source"] == "customer"] == []


def test_no_other_site_can_post_for_her_and_no_one_reaches_another_s_point(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point, cid = portal["home"]["consumption_point_id"], portal["home"]["customer_id"]
    form = reading_form(home_page, point, portal["base"])
    reading = {"reading_date": "2026-03-01", "register-T1": "1350", "register-T2": "1200",
               "idempotency_key": "k1"}
    for token in ({}, {"csrf_token": "0" * 64}):               # missing, or not hers
        forged = browser.post(form["action"], data={**reading, **token}, timeout=10)
        assert forged.status_code == 403, forged.text
    child = portal["child"]
    theirs = browser.post(
        f"{portal['base']}/customers/{child['customer_id']}/consumption-points/"
        f"{child['consumption_point_id']}/readings", data={**form["fields"], **reading},
        timeout=10)
    assert theirs.status_code == 404
    assert [r for r in rpc.metering.list_readings(point, cid) if r["source"] == "customer"] == []
    assert [r for r in rpc.metering.list_readings(child["consumption_point_id"],
                                                  child["customer_id"])
            if r["source"] != "import" and r["reading_date"] == "2026-03-01"] == []


def test_logging_out_ends_the_session_and_a_stale_cookie_gets_the_login_page(portal):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    stale = browser.cookies.get("vool_session")
    [logout] = [f for f in forms(home_page.text, portal["base"]) if f["action"].endswith("/logout")]
    out = browser.post(logout["action"], data=logout["fields"], timeout=10)
    assert out.status_code == 200 and "Log in through your bank" in out.text
    assert browser.cookies.get("vool_session") is None
    again = requests.get(f"{portal['base']}/", cookies={"vool_session": stale}, timeout=10,
                         headers={"Accept-Language": "en"})
    assert again.status_code == 200 and "Log in through your bank" in again.text
    assert "log in again" in again.text


def test_a_refused_bank_reply_is_said_on_the_login_page(portal):
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    to_bank = browser.post(f"{portal['base']}/login/testbank", timeout=10)
    [signed] = forms(to_bank.text)
    reply = portal["banks"].bank.authentication_reply(signed["fields"], GRANDMOTHER, "Õie", now())
    refused = browser.post(signed["fields"]["VK_RETURN"], data={**reply, "VK_MAC": "AAAA"},
                           timeout=10)
    assert refused.status_code == 401 and "Log in through your bank" in refused.text
    assert browser.cookies.get("vool_session") is None


def test_a_grandchild_sees_what_the_mandate_covers_and_the_grandmother_sees_that(portal, rpc):
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["readings:write"]}, "desk")
    browser, home_page = log_in(portal, GRANDCHILD, "Grandchild")
    grandmother, child = portal["home"], portal["child"]
    gm_cid = grandmother["customer_id"]
    section = home_page.text.split(f'id="customer-{gm_cid}"')[1].split("</section>")[0]
    assert "under a mandate" in section
    assert f'id="point-{grandmother["consumption_point_id"]}"' in section
    assert "EIC" not in section and "Invoices" not in section    # no contract:read, invoices
    reading_form(home_page, grandmother["consumption_point_id"], portal["base"])  # may enter

    # a forged post for her point is refused before anything is asked or logged
    form = reading_form(home_page, grandmother["consumption_point_id"], portal["base"])
    forged = browser.post(form["action"], data={**form["fields"], "csrf_token": "forged",
                                                "reading_date": "2026-03-01",
                                                "register-T1": "1", "register-T2": "1"},
                          timeout=10)
    assert forged.status_code == 403
    # his own reading: the page drawn after it reads her data again, logged as reads of
    # her, never with his own customer's or point's ids
    own = reading_form(home_page, child["consumption_point_id"], portal["base"])
    sent = browser.post(own["action"], data={**own["fields"], "reading_date": "2026-03-01",
                                             "register-T1": "1300"}, timeout=10)
    assert sent.status_code == 201, sent.text
    log = rpc.identity.access_log(gm_cid)
    assert {(e["actor_person_code"], e["action"], e["resource"], e["what"]) for e in log} == {
        (GRANDCHILD, "read", f"/customers/{gm_cid}", "Portal: consumption points")}
    assert len(log) == 2                                          # two pages drawn
    # and she sees it in her portal: who, when, what
    _, her_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    tracker = her_page.text.split("Who used your data under a mandate")[1].split("</table>")[0]
    assert tracker.count("Grandchild") == 2 and "read: Portal: consumption points" in tracker


def test_the_api_takes_the_cookie_for_reading_only_and_pages_are_not_kept(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    cid = portal["home"]["customer_id"]
    assert home_page.headers["Cache-Control"] == "no-store"
    assert home_page.headers["X-Frame-Options"] == "DENY"
    assert browser.get(f"{portal['base']}/api/v1/me", timeout=10).status_code == 200
    # another site could make the browser post this with the cookie: refused
    posted = browser.post(f"{portal['base']}/api/v1/customers/{cid}/feedback", timeout=10,
                          json={"kind": "question", "subject": "s", "body": "b"})
    assert posted.status_code == 401
    assert rpc.notifications.cases_of(cid) == []
    assert browser.post(f"{portal['base']}/api/v1/auth/logout", timeout=10).status_code == 401
    # a logout without the session's cookie ends nothing and clears nothing
    stranger = requests.post(f"{portal['base']}/logout", allow_redirects=False, timeout=10)
    assert stranger.status_code == 303 and "Set-Cookie" not in stranger.headers
    assert browser.get(f"{portal['base']}/api/v1/me", timeout=10).status_code == 200


def form_to(page, base, ending):
    [form] = [f for f in forms(page.text, base) if f["action"].endswith(ending)]
    return form


def test_she_changes_her_contact_details_and_writes_to_the_desk(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    cid = portal["home"]["customer_id"]
    contact = form_to(home_page, portal["base"], f"/customers/{cid}/contact")
    wrong = browser.post(contact["action"], data={**contact["fields"], "phone": "not a phone",
                                                  "language": "en"}, timeout=10)
    assert wrong.status_code == 422 and "phone" in wrong.text
    assert rpc.contracts.get_customer(cid)["contact"]["language"] == "et"
    changed = browser.post(contact["action"], data={
        **contact["fields"], "phone": "+372 5555 1234", "language": "en"}, timeout=10)
    assert changed.status_code == 200 and "contact details were changed" in changed.text
    assert rpc.contracts.get_customer(cid)["contact"]["phone"] == "+37255551234"
    assert 'value="+37255551234"' in changed.text

    desk = form_to(changed, portal["base"], f"/customers/{cid}/feedback")
    empty = browser.post(desk["action"], data={**desk["fields"], "kind": "question",
                                               "subject": "", "body": "x"}, timeout=10)
    assert empty.status_code == 422 and "subject" in empty.text
    sent = browser.post(desk["action"], data={**desk["fields"], "kind": "question",
                                              "subject": "Why two meters?", "body": "Tell me."},
                        timeout=10)
    assert sent.status_code == 200 and "with our service desk" in sent.text
    [case] = rpc.notifications.cases_of(cid)
    assert (case["subject"], case["kind"]) == ("Why two meters?", "question")
    assert "Why two meters?" in browser.get(f"{portal['base']}/", timeout=10).text
    forged = browser.post(desk["action"], data={**desk["fields"], "csrf_token": "x",
                                                "kind": "question", "subject": "s", "body": "b"},
                          timeout=10)
    assert forged.status_code == 403 and len(rpc.notifications.cases_of(cid)) == 1


@pytest.mark.both_stores     # the pay flow on SQLite too: what `make run` uses
def test_she_pays_two_invoices_through_the_bank_and_sees_them_paid(portal, rpc):
    home, cid = portal["home"], portal["home"]["customer_id"]
    reading = rpc.metering.submit_reading({
        "consumption_point_id": home["consumption_point_id"], "reading_date": "2026-02-20",
        "registers": {"T1": 1300, "T2": 1100}})
    wait_for(lambda: rpc.billing.get_charge(reading["reading_id"]))
    rpc.billing.billing_run("2026-01")
    rpc.billing.billing_run("2026-02")
    invoices = sorted(rpc.billing.invoices_of(cid), key=lambda i: i["invoice_no"])
    numbers = [i["invoice_no"] for i in invoices]
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    pay = form_to(home_page, portal["base"], f"/customers/{cid}/payments")
    assert sorted(pay["choices"]["invoice_no"]) == numbers          # a box to tick each
    hidden = {k: v for k, v in pay["fields"].items() if k != "invoice_no"}
    nothing = browser.post(pay["action"], data={**hidden, "bank": "testbank"}, timeout=10)
    assert nothing.status_code == 422 and "invoice_nos" in nothing.text   # none ticked
    to_bank = browser.post(pay["action"], data={**hidden, "bank": "testbank",
                                                "invoice_no": numbers}, timeout=10)
    assert to_bank.status_code == 200, to_bank.text
    [signed] = forms(to_bank.text)
    assert signed["fields"]["VK_RETURN"] == f"{portal['base']}/payments/testbank/return"
    assert signed["fields"]["VK_SERVICE"] == "1012"
    total = sum(Decimal(i["total"]) for i in invoices)
    assert signed["fields"]["VK_AMOUNT"] == f"{total:.2f}"
    bank = portal["banks"].bank
    reply = bank.payment_reply(signed["fields"], bank.check_request(signed["fields"]),
                               paid=True, now=now())
    back = browser.post(signed["fields"]["VK_RETURN"], data=reply, timeout=10)
    assert back.status_code == 200 and "your payment was received" in back.text
    assert [i["status"] for i in rpc.billing.invoices_of(cid)] == ["paid", "paid"]
    # the bank's own call with the same reply (VK_AUTO=Y) records nothing more
    again = requests.post(signed["fields"]["VK_RETURN"], data={**reply, "VK_AUTO": "Y"},
                          timeout=10)
    assert again.status_code == 200, again.text
    [payment] = rpc.billing.payments_of(cid)
    assert (payment["source"], payment["amount"], payment["invoice_nos"]) == (
        "banklink", f"{total:.2f}", numbers)
    # the payment book: her payments reach the reading she was invoiced for
    book = rpc.billing.payment_book(home["reference_no"], [cid])
    assert book["paid_up_to_reading"] == {"T1": 1300, "T2": 1100}
    assert "your payments reach the reading" in back.text and "T1 1300, T2 1100" in back.text


def test_she_claims_a_consumption_point_recorded_under_someone_else(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    cid = portal["home"]["customer_id"]
    claim = form_to(home_page, portal["base"], f"/customers/{cid}/consumption-point-claims")
    wrong = browser.post(claim["action"], data={**claim["fields"], "address": "Männiku talu",
                                                "eic": "not an EIC"}, timeout=10)
    assert wrong.status_code == 422 and "eic" in wrong.text
    assert rpc.contracts.claims_of(cid) == []
    sent = browser.post(claim["action"], data={**claim["fields"], "address": "Männiku talu",
                                               "note": "my late husband's"}, timeout=10)
    assert sent.status_code == 200 and "Your claim is with our service desk" in sent.text
    [pending] = rpc.contracts.claims_of(cid)
    assert (pending["address"], pending["status"]) == ("Männiku talu", "pending")
    assert "Männiku talu: <strong>pending</strong>" in sent.text


def test_the_grandmother_grants_and_revokes_a_mandate_in_the_portal(portal, rpc):
    grandmother, cid = portal["home"], portal["home"]["customer_id"]
    her, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    grant = form_to(home_page, portal["base"], f"/customers/{cid}/mandates")
    fields = {k: v for k, v in grant["fields"].items()
              if k not in ("scopes", "grantee_person_code")}
    none = her.post(grant["action"], data={**fields, "grantee_person_code": GRANDCHILD},
                    timeout=10)
    assert none.status_code == 422 and "scopes" in none.text
    granted = her.post(grant["action"], data=[*fields.items(),
                                              ("grantee_person_code", GRANDCHILD),
                                              ("scopes", "contract:read"),
                                              ("scopes", "readings:write")], timeout=10)
    assert granted.status_code == 200 and "The mandate is granted" in granted.text
    [mandate] = rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"]
    assert sorted(mandate["scopes"]) == ["contract:read", "readings:write"]

    him, his_page = log_in(portal, GRANDCHILD, "Grandchild")
    point = grandmother["consumption_point_id"]
    reading = reading_form(his_page, point, portal["base"])       # he may enter her readings
    assert f'action="/customers/{cid}/mandates' not in his_page.text   # never her mandates

    revoke = form_to(granted, portal["base"], f"/mandates/{mandate['mandate_id']}/revoke")
    revoked = her.post(revoke["action"], data=revoke["fields"], timeout=10)
    assert revoked.status_code == 200 and "no longer works" in revoked.text
    refused = him.post(reading["action"], data={**reading["fields"], "reading_date": "2026-03-01",
                                                "register-T1": "1350", "register-T2": "1200"},
                       timeout=10)
    assert refused.status_code == 403                              # at once
    assert f'id="customer-{cid}"' not in him.get(f"{portal['base']}/", timeout=10).text


def test_over_https_a_bank_reply_logs_in_only_the_browser_that_started_it(
        run_services, config, rpc, tmp_path):
    # someone who got a reply for themselves cannot make another's browser log in with
    # it (and enter that person's readings into their account)
    banks = make_banks(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_PUBLIC_URL="https://vool.example")
    rpc.contracts.sign_contract(contract_command())
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    started = requests.post(f"{base}/login/testbank", timeout=10,
                            headers={"Accept-Language": "en"})
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith("vool_login=") and all(
        part in cookie for part in ("Secure", "HttpOnly", "SameSite=None", "Path=/login"))
    key = started.cookies["vool_login"]
    [signed] = forms(started.text)
    assert signed["fields"]["VK_RETURN"] == "https://vool.example/login/testbank/return"
    reply = banks.bank.authentication_reply(signed["fields"], GRANDMOTHER, "Õie Mäger", now())

    for elsewhere in ({}, {"Cookie": "vool_login=" + "x" * 43}):
        refused = requests.post(f"{base}/login/testbank/return", data=reply,
                                headers={**elsewhere, "Accept-Language": "en"},
                                allow_redirects=False, timeout=10)
        assert refused.status_code == 401 and "started in another browser" in refused.text
        assert "vool_session" not in refused.headers.get("Set-Cookie", "")
    mine = requests.post(f"{base}/login/testbank/return", data=reply, allow_redirects=False,
                         headers={"Cookie": f"vool_login={key}"}, timeout=10)
    assert mine.status_code == 303, mine.text
    assert "vool_session=" in mine.headers["Set-Cookie"] and "Secure" in mine.headers["Set-Cookie"]


def test_the_portal_speaks_estonian_unless_asked_otherwise(portal):
    base = portal["base"]
    browser = requests.Session()                     # no language preference
    page = browser.get(f"{base}/", timeout=10)
    assert '<html lang="et">' in page.text and "Logi sisse oma panga kaudu" in page.text
    english = browser.get(f"{base}/language/en", timeout=10)   # the switch in the header
    assert '<html lang="en">' in english.text and "Log in through your bank" in english.text
    assert 'href="/language/et"' in english.text
    assert "Logi sisse" in requests.get(f"{base}/", headers={"Accept-Language": "et,en;q=0.5"},
                                        timeout=10).text
    browser.headers["Accept-Language"] = "et"
    browser.get(f"{base}/language/et", timeout=10)
    _, home_page = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
    assert "Tarbimiskohad" in home_page.text and "Saada näit" in home_page.text


def test_her_recent_readings_show_what_became_of_them_and_why(portal, rpc):
    home = portal["home"]
    slip = rpc.metering.submit_reading({
        "consumption_point_id": home["consumption_point_id"], "reading_date": "2026-03-01",
        "registers": {"T1": 11_000, "T2": 1200}})                  # a slipped decimal point
    assert slip["status"] == "held_for_review"
    rpc.metering.decide_reading(slip["reading_id"], {
        "accept": False, "reason": "T1 looks like 1100 with a zero too many"}, "operator:desk")
    _, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    section = home_page.text.split(f'id="point-{home["consumption_point_id"]}"')[1]
    assert "Recent readings" in section
    assert "rejected: T1 looks like 1100 with a zero too many" in section


def test_a_browser_gets_a_page_for_an_unknown_address_and_the_api_a_problem(portal):
    base = portal["base"]
    page = requests.get(f"{base}/no/such/page", timeout=10,
                        headers={"Accept": "text/html,application/xhtml+xml", "Accept-Language": "et"})
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "Sellist lehte siin ei ole." in page.text
    api = requests.get(f"{base}/api/v1/no/such/route", timeout=10, headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.headers["Content-Type"] == "application/problem+json"
    wrong_method = requests.delete(f"{base}/", timeout=10, headers={"Accept": "text/html"})
    assert wrong_method.status_code == 405 and "<html" in wrong_method.text


def test_a_point_metering_has_not_heard_of_yet_leaves_only_its_readings_out(
        run_services, config, rpc, tmp_path):
    banks = make_banks(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    run_services(GatewayService, IdentityService, ContractsService, BillingService,
                 VOOL_BANKS_FILE=str(banks.banks_file), VOOL_PUBLIC_URL=base)
    signed = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDMOTHER))
    run_services(MeteringService)     # it started after the contract: it never heard of it
    _, home_page = log_in({"base": base, "banks": banks}, GRANDMOTHER, "Õie Mäger")
    point = home_page.text.split(f'id="point-{signed["consumption_point_id"]}"')[1]
    assert "Last reading:" in point and "none yet" in point
    assert "Recent readings" not in point.split("</div>")[0]


@pytest.fixture
def gateway_calls(monkeypatch):
    """Every RPC the gateway makes, as ``(service, method)``, in order."""
    calls = []
    call = Services.call

    def counted(self, service, method, *args, **kwargs):
        if self._worker_ctx.container.service_name == "gateway":
            calls.append((service, method))
        return call(self, service, method, *args, **kwargs)

    monkeypatch.setattr(Services, "call", counted)
    return calls


def per_service(calls):
    """The page's calls by service, apart from identity's answer to who is calling
    (a person holding a mandate is asked about on every request)."""
    asked = {}
    for service, method in calls:
        if (service, method) != ("identity", "resolve_session"):
            asked.setdefault(service, []).append(method)
    return asked


def test_her_page_asks_each_service_once_however_many_points_she_has(portal, rpc,
                                                                     gateway_calls):
    points = [portal["home"]["consumption_point_id"]] + [
        rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))[
            "consumption_point_id"] for _ in range(3)]
    cid = portal["home"]["customer_id"]
    wait_for(lambda: len(rpc.metering.reading_overview(points)) == 4)
    for point in points:
        rpc.metering.submit_reading({"consumption_point_id": point, "customer_id": cid,
                                     "reading_date": "2026-02-15",
                                     "registers": rpc.metering.reading_overview([point])[
                                         point]["last_reading"]["registers"]})
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read", "readings:write",
                                              "invoices:read", "feedback:write",
                                              "consumption-points:claim"]}, "desk")
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")

    gateway_calls.clear()
    page = browser.get(f"{portal['base']}/", timeout=10)
    assert page.status_code == 200
    for point in points:                  # each point with its readings
        section = page.text.split(f'id="point-{point}"')[1].split("</table>")[0]
        assert "Recent readings" in section and "2026-02-15" in section
    assert per_service(gateway_calls) == {
        "identity": ["customer_overview"], "contracts": ["customer_overview"],
        "metering": ["points_overview"], "billing": ["invoice_overview"],
        "notifications": ["customer_messages"]}
    assert gateway_calls.count(("identity", "resolve_session")) <= 1

    # a delegate's page: his own customer and hers, each service still asked once
    grandchild, _ = log_in(portal, GRANDCHILD, "Grandchild")
    gateway_calls.clear()
    page = grandchild.get(f"{portal['base']}/", timeout=10)
    assert page.status_code == 200
    section = page.text.split(f'id="customer-{cid}"')[1].split("</section>")[0]
    assert all(f'id="point-{point}"' in section for point in points)
    assert per_service(gateway_calls) == {
        "identity": ["customer_overview"], "contracts": ["customer_overview"],
        "metering": ["points_overview"], "billing": ["invoice_overview"],
        "notifications": ["customer_messages"]}
    assert gateway_calls.count(("identity", "resolve_session")) <= 1
    # her access log has one entry per page he saw (the one he landed on after
    # logging in, and this one), naming the parts of hers it showed
    assert [(e["use"], e["action"], e["details"]["parts"])
            for e in rpc.identity.access_log(cid)] == 2 * [
        ("portal:overview", "read",
         ["consumption_points", "invoices", "contact", "claims", "desk"])]
