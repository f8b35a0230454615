"""The web portal under /: a customer logs in through the bank's flow with a
browser (cookies, forms), sees her consumption point, enters readings, is told
what was wrong with a bad one, cannot be made to post by another site, never
reaches someone else's point, and logs out. A grandchild under a mandate sees what
the mandate covers, and the grandmother's access log says so."""
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from services.billing.service import BillingService
from services.common.errors import NotFound
from services.common.formats import day, money
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

TALLINN = ZoneInfo("Europe/Tallinn")



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


def point_page(browser, portal, cid, point):
    page = browser.get(f"{portal['base']}/customers/{cid}/consumption-points/{point}",
                       timeout=10)
    assert page.status_code == 200, page.text
    return page


def token_of(page):
    """The forms' token of a page (every page has it in its logout form)."""
    [logout] = [f for f in forms(page.text) if f["action"].endswith("/logout")]
    return logout["fields"]["csrf_token"]


def field_of(page, name):
    """The input named ``name`` of a page, its attributes as written."""
    return page.text.split(f'name="{name}"')[1].split(">")[0]


def test_a_customer_logs_in_sees_her_point_and_enters_a_reading(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point = portal["home"]["consumption_point_id"]
    assert "Õie Mäger" in home_page.text
    cid = portal["home"]["customer_id"]
    assert f"EIC {rpc.contracts.get_contract(portal['home']['contract_no'])['consumption_point']['eic']}" in home_page.text
    link = f'href="/customers/{cid}/consumption-points/{point}"'
    assert link in home_page.text                 # "Readings of <address>"
    page = point_page(browser, portal, cid, point)
    form = reading_form(page, point, portal["base"])
    assert form["action"].endswith("/readings#result")     # lands on the result
    assert set(form["fields"]) == {"csrf_token", "idempotency_key", "reading_date",
                                   "register-T1", "register-T2"}
    assert "<legend>Reading for Narva mnt" in page.text     # the point, named
    assert form["fields"]["reading_date"] == datetime.now(TALLINN).strftime("%d.%m.%Y")

    sent = browser.post(form["action"], data={
        **form["fields"], "reading_date": "01.03.2026", "register-T1": "1350",
        "register-T2": "1200"}, timeout=10)
    assert sent.status_code == 201, sent.text
    assert "Reading accepted" in sent.text and "T1 350 kWh" in sent.text
    assert 'id="result"' in sent.text and 'role="status"' in sent.text
    [reading] = rpc.metering.list_readings(point, portal["home"]["customer_id"])[:1]
    assert (reading["reading_date"], reading["source"]) == ("2026-03-01", "customer")

    again = browser.post(form["action"], data={   # the same page's form sent twice
        **form["fields"], "reading_date": "2026-03-01", "register-T1": "1350",
        "register-T2": "1200"}, timeout=10)
    assert again.status_code == 201
    assert len([r for r in rpc.metering.list_readings(point, portal["home"]["customer_id"])
                if r["reading_date"] == "2026-03-01"]) == 1
    overview = browser.get(f"{portal['base']}/", timeout=10).text
    assert "Last reading: 1 March 2026" in " ".join(overview.split())


def test_a_bad_reading_is_explained_at_its_field_and_what_she_typed_stays(portal, rpc):
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point, cid = portal["home"]["consumption_point_id"], portal["home"]["customer_id"]
    form = reading_form(point_page(browser, portal, cid, point), point, portal["base"])
    empty = browser.post(form["action"], data={
        **form["fields"], "reading_date": "01.03.2026", "register-T1": "", "register-T2": "5"},
        timeout=10)
    assert empty.status_code == 422
    t1 = field_of(empty, "register-T1")
    assert 'aria-invalid="true"' in t1 and 'aria-describedby="error-register-T1"' in t1
    assert '<p id="error-register-T1" class="field-error">' in empty.text
    assert 'value="5"' in field_of(empty, "register-T2")          # what she typed stays
    assert 'aria-invalid' not in field_of(empty, "register-T2")
    assert 'role="alert"' in empty.text and "Please correct what is marked below." in empty.text
    assert empty.text.count('class="field-error"') == 1                   # one message a problem
    lower = browser.post(form["action"], data={
        **reading_form(empty, point, portal["base"])["fields"], "reading_date": "2025-12-01",
        "register-T1": "1100", "register-T2": "1100"}, timeout=10)
    assert lower.status_code == 422 and 'id="error-reading_date"' in lower.text
    assert 'value="2025-12-01"' in field_of(lower, "reading_date")
    no_date = browser.post(form["action"], data={
        **form["fields"], "reading_date": "<script>", "register-T1": "1", "register-T2": "1"},
        timeout=10)
    assert no_date.status_code == 422 and 'id="error-reading_date"' in no_date.text
    assert "<script>" not in no_date.text and 'value="&lt;script&gt;"' in no_date.text
    for hostile in ("9" * 5000, "-5", "1e3", "1\x00"):
        odd = browser.post(form["action"], data={**form["fields"], "reading_date": "01.03.2026",
                                                 "register-T1": hostile, "register-T2": "1"},
                           timeout=10)
        assert odd.status_code == 422 and 'id="error-register-T1"' in odd.text, hostile
        assert "\x00" not in odd.text
    assert [r for r in rpc.metering.list_readings(point, cid) if r["source"] == "customer"] == []


@pytest.mark.parametrize("language, typed", [("et", "1.03.2026"), ("en", "01/03/2026"),
                                             ("en", "2026-03-01")])
def test_the_reading_date_is_read_the_way_her_language_writes_it(portal, rpc, language,
                                                                typed):
    browser = requests.Session()
    browser.headers["Accept-Language"] = language
    browser, _ = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
    point, cid = portal["home"]["consumption_point_id"], portal["home"]["customer_id"]
    page = point_page(browser, portal, cid, point)
    assert ("pp.kk.aaaa" if language == "et" else "dd.mm.yyyy") in page.text   # the hint
    assert 'inputmode="numeric"' in field_of(page, "reading_date")
    form = reading_form(page, point, portal["base"])
    sent = browser.post(form["action"], data={**form["fields"], "reading_date": typed,
                                              "register-T1": "1350", "register-T2": "1200"},
                        timeout=10)
    assert sent.status_code == 201, sent.text
    [reading] = rpc.metering.list_readings(point, cid)[:1]
    assert reading["reading_date"] == "2026-03-01"


def test_no_other_site_can_post_for_her_and_no_one_reaches_another_s_point(portal, rpc):
    browser, home_page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    point, cid = portal["home"]["consumption_point_id"], portal["home"]["customer_id"]
    form = reading_form(point_page(browser, portal, cid, point), point, portal["base"])
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
    for page in ("/", f"/consumption-points/{child['consumption_point_id']}", "/invoices"):
        seen = browser.get(f"{portal['base']}/customers/{child['customer_id']}{page}",
                           timeout=10)
        assert seen.status_code == 404 and "Grandchild" not in seen.text, page
    # and not his point under her customer either
    assert browser.get(f"{portal['base']}/customers/{cid}/consumption-points/"
                       f"{child['consumption_point_id']}", timeout=10).status_code == 404
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


def act_for(browser, portal, page, cid):
    """The switcher: she chooses whom she acts for."""
    [switch] = [f for f in forms(page.text, portal["base"]) if f["action"].endswith("/acting-for")]
    return browser.post(switch["action"], data={**switch["fields"], "customer_id": cid},
                        timeout=10)


def test_a_grandchild_switches_to_acting_for_her_and_sees_what_the_mandate_covers(portal,
                                                                                  rpc):
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["readings:write"],
                                   "valid_until": "2030-12-31"}, "desk")
    browser, home_page = log_in(portal, GRANDCHILD, "Grandchild")
    grandmother, child = portal["home"], portal["child"]
    gm_cid, gm_point = grandmother["customer_id"], grandmother["consumption_point_id"]
    # he lands on his own overview; the switcher offers her
    assert f'id="point-{child["consumption_point_id"]}"' in home_page.text
    assert 'class="acting"' not in home_page.text
    assert '<label for="acting-for">' in home_page.text
    assert rpc.identity.access_log(gm_cid) == []             # nothing of hers read yet

    switched = act_for(browser, portal, home_page, gm_cid)
    assert switched.status_code == 200 and switched.url == f"{portal['base']}/customers/{gm_cid}/"
    [cookie] = [c for c in browser.cookies if c.name == "vool_acting"]
    assert cookie.value == gm_cid and cookie.expires is None          # this session only
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert ('<p class="acting" role="note">You are acting for Õie Mäger under a mandate '
            '(valid until 31 December 2030).</p>') in switched.text
    assert f'id="point-{gm_point}"' in switched.text
    assert "EIC" not in switched.text and "Invoices and payments" not in switched.text
    assert f'/customers/{gm_cid}/mandates' not in switched.text     # never her mandates
    # "/" now shows her too: the choice is remembered
    again = browser.get(f"{portal['base']}/", timeout=10)
    assert 'class="acting"' in again.text and f'id="point-{gm_point}"' in again.text
    page = point_page(browser, portal, gm_cid, gm_point)              # he may enter hers
    assert 'class="acting"' in page.text
    form = reading_form(page, gm_point, portal["base"])
    # a forged post for her point is refused before anything is asked or logged
    forged = browser.post(form["action"], data={**form["fields"], "csrf_token": "forged",
                                                "reading_date": "01.03.2026",
                                                "register-T1": "1", "register-T2": "1"},
                          timeout=10)
    assert forged.status_code == 403
    # his own reading: the page drawn after it is his own point's, nothing of hers read
    own_page = point_page(browser, portal, child["customer_id"], child["consumption_point_id"])
    assert 'class="acting"' not in own_page.text
    own = reading_form(own_page, child["consumption_point_id"], portal["base"])
    sent = browser.post(own["action"], data={**own["fields"], "reading_date": "01.03.2026",
                                             "register-T1": "1300"}, timeout=10)
    assert sent.status_code == 201, sent.text
    log = rpc.identity.access_log(gm_cid)
    assert {(e["actor_person_code"], e["action"], e["resource"], e["what"]) for e in log} == {
        (GRANDCHILD, "read", f"/customers/{gm_cid}", "Portal: consumption points")}
    assert len(log) == 3                        # three pages of hers drawn
    # someone he may not act for cannot be chosen
    other = act_for(browser, portal, home_page, "no-such-customer")
    assert other.status_code == 404


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
    """The page's form posting to an address ending so (its #result aside)."""
    [form] = [f for f in forms(page.text, base)
              if f["action"].endswith(ending) or f["action"].split("#")[0].endswith(ending)]
    return form


def posted_form(page, portal, path, fields=()):
    """A form of another page (the contract and messages pages), as it posts: the
    session's token and its fields."""
    return {"action": f"{portal['base']}{path}",
            "fields": {"csrf_token": token_of(page), **dict(fields)}}


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
    assert f"Open to pay: <strong>{money(sum(Decimal(i['total']) for i in invoices), 'en')}" \
        f"</strong> (2 invoices)" in home_page.text
    page = browser.get(f"{portal['base']}/customers/{cid}/invoices", timeout=10)
    assert page.status_code == 200
    for invoice in invoices:         # each row names its contract and address
        row = page.text.split(f'value="{invoice["invoice_no"]}"')[1].split("</tr>")[0]
        assert f"<td>{home['contract_no']}</td><td>Narva mnt" in row
        assert (f'href="/api/v1/customers/{cid}/invoices/{invoice["invoice_no"]}.pdf">'
                f'Invoice {invoice["invoice_no"]} (PDF)</a>') in row
        assert money(invoice["total"], "en") in row and day(invoice["due_on"], "en") in row
    assert '<label for="bank">' in page.text and '<select id="bank" name="bank"' in page.text
    pay = form_to(page, portal["base"], f"/customers/{cid}/payments#result")
    assert sorted(pay["choices"]["invoice_no"]) == numbers          # a box to tick each
    hidden = {k: v for k, v in pay["fields"].items() if k != "invoice_no"}
    nothing = browser.post(pay["action"], data={**hidden, "bank": "testbank"}, timeout=10)
    assert nothing.status_code == 422 and 'id="error-invoice_no"' in nothing.text  # none ticked
    assert 'aria-invalid="true"' in field_of(nothing, "invoice_no")
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
    # back from the bank: the invoices page, and her payment book in her own words
    assert "Your payments" in back.text and "paid up to the reading" in back.text
    assert "T1 1,300, T2 1,100" in back.text


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
    browser, home_page = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
    assert "Tarbimiskohad" in home_page.text and "Ülevaade" in home_page.text
    point = portal["home"]["consumption_point_id"]
    page = point_page(browser, portal, portal["home"]["customer_id"], point)
    assert "Saada näit" in page.text and "<legend>Näit: Narva mnt" in page.text
    assert "Tarbimine kuude kaupa" in page.text


def test_her_recent_readings_show_what_became_of_them_and_why(portal, rpc):
    home = portal["home"]
    slip = rpc.metering.submit_reading({
        "consumption_point_id": home["consumption_point_id"], "reading_date": "2026-03-01",
        "registers": {"T1": 11_000, "T2": 1200}})                  # a slipped decimal point
    assert slip["status"] == "held_for_review"
    rpc.metering.decide_reading(slip["reading_id"], {
        "accept": False, "reason": "T1 looks like 1100 with a zero too many"}, "operator:desk")
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    page = point_page(browser, portal, home["customer_id"], home["consumption_point_id"])
    readings = page.text.split('class="readings"')[1].split("</table>")[0]
    assert "Rejected: T1 looks like 1100 with a zero too many" in readings
    assert '<th scope="col">Status</th>' in readings and "<th></th>" not in page.text
    assert "/withdraw" not in readings                  # a decided reading stays decided


def test_she_withdraws_a_reading_held_for_review_and_a_new_one_replaces_a_held_one(portal,
                                                                                  rpc):
    home, cid = portal["home"], portal["home"]["customer_id"]
    point = home["consumption_point_id"]
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    form = reading_form(point_page(browser, portal, cid, point), point, portal["base"])
    slip = browser.post(form["action"], data={**form["fields"], "reading_date": "01.03.2026",
                                              "register-T1": "11000", "register-T2": "1200"},
                        timeout=10)
    assert slip.status_code == 201 and "we are checking it" in slip.text
    [held] = [r for r in rpc.metering.list_readings(point, cid) if r["source"] == "customer"]
    assert held["status"] == "held_for_review"
    withdraw = form_to(slip, portal["base"],
                       f"/readings/{held['reading_id']}/withdraw#result")
    assert "Withdraw the reading of 1 March 2026" in slip.text
    assert "A new reading replaces it too." in slip.text
    gone = browser.post(withdraw["action"], data=withdraw["fields"], timeout=10)
    assert gone.status_code == 200 and "Your reading is withdrawn" in gone.text
    assert [r["status"] for r in rpc.metering.list_readings(point, cid)
            if r["reading_id"] == held["reading_id"]] == ["withdrawn"]
    assert "/withdraw" not in gone.text and "Withdrawn" in gone.text
    # a forged withdrawal is refused; another's reading is not hers to withdraw
    again = browser.post(form["action"], data={**form["fields"], "reading_date": "01.03.2026",
                                               "register-T1": "11000", "register-T2": "1200",
                                               "idempotency_key": "second"}, timeout=10)
    [second] = [r for r in rpc.metering.list_readings(point, cid)
                if r["status"] == "held_for_review"]
    action = form_to(again, portal["base"], f"/readings/{second['reading_id']}/withdraw#result")
    assert browser.post(action["action"], data={"csrf_token": "x"}, timeout=10).status_code == 403
    # the right reading replaces the held one
    fixed = browser.post(form["action"], data={**form["fields"], "reading_date": "01.03.2026",
                                               "register-T1": "1100", "register-T2": "1200",
                                               "idempotency_key": "third"}, timeout=10)
    assert fixed.status_code == 201 and "Reading accepted" in fixed.text, fixed.text
    assert "Replaced by a newer reading" in fixed.text


def test_the_point_page_charts_each_register_with_the_numbers_as_a_table(portal, rpc):
    home, cid = portal["home"], portal["home"]["customer_id"]
    point = home["consumption_point_id"]
    rpc.metering.submit_reading({"consumption_point_id": point, "reading_date": "2026-03-01",
                                 "registers": {"T1": 1300, "T2": 1100}})
    months = rpc.metering.consumption_by_month(point, cid, 25)
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    page = point_page(browser, portal, cid, point)
    for register in ("T1", "T2"):
        assert f'aria-labelledby="chart-{register}-title chart-{register}-desc"' in page.text
        table = page.text.split(f"Consumption of register {register} by month, kWh</caption>")[1]
        table = table.split("</table>")[0]
        assert table.count('<th scope="row">') == 13
        february = next(m for m in months if m["month"] == "2026-02")
        kwh = february["consumption"][register]
        assert f'<th scope="row">February 2026</th><td class="number">{kwh}' in table
    assert "<script" not in page.text
    estonian = requests.Session()
    estonian.headers["Accept-Language"] = "et"
    estonian, _ = log_in_as(estonian, portal, GRANDMOTHER, "Õie Mäger")
    page = point_page(estonian, portal, cid, point)
    assert '<th scope="row">veebruar 2026</th>' in page.text and ">veebr<" in page.text


def test_the_overview_says_when_a_reading_is_overdue_and_when_one_was_never_sent(portal,
                                                                                rpc):
    home, cid = portal["home"], portal["home"]["customer_id"]
    point = home["consumption_point_id"]
    browser, page = log_in(portal, GRANDMOTHER, "Õie Mäger")
    card = page.text.split(f'id="point-{point}"')[1].split("</div>")[0]
    # only the meter's reading when the contract began: never read since
    assert "Not read since the contract began on 1 January 2026" in card
    assert "Next reading due" not in card
    rpc.metering.submit_reading({"consumption_point_id": point, "reading_date": "2026-02-15",
                                 "registers": {"T1": 1300, "T2": 1100}})
    due = rpc.metering.reading_overview([point])[point]["next_reading_due"]
    assert due < datetime.now(TALLINN).date().isoformat()
    page = browser.get(f"{portal['base']}/", timeout=10)
    card = page.text.split(f'id="point-{point}"')[1].split("</div>")[0]
    assert f"A reading is overdue since {day(due, 'en')}." in card
    assert "Last reading: 15 February 2026: T1 1,300 kWh, T2 1,100 kWh" in " ".join(card.split())


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
    assert "overdue" not in point.split("</div>")[0]


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


def test_each_page_asks_a_fixed_number_of_calls_however_many_points_and_invoices(portal, rpc,
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

    for period in ("2026-01", "2026-02"):           # invoices of each point
        rpc.billing.billing_run(period)
    assert len(rpc.billing.invoices_of(cid)) >= 4
    overview = {"identity": ["customer_overview"], "contracts": ["customer_overview"],
                "metering": ["points_overview"], "billing": ["invoice_overview"],
                "notifications": ["customer_messages"]}

    gateway_calls.clear()
    page = browser.get(f"{portal['base']}/", timeout=10)
    assert page.status_code == 200
    for point in points:                  # each point with its last reading
        card = page.text.split(f'id="point-{point}"')[1].split("</div>")[0]
        assert "15 February 2026" in card
    assert per_service(gateway_calls) == overview
    assert gateway_calls.count(("identity", "resolve_session")) <= 1

    gateway_calls.clear()
    page = browser.get(f"{portal['base']}/customers/{cid}/consumption-points/{points[1]}",
                       timeout=10)
    assert page.status_code == 200 and "15 February 2026" in page.text
    assert {service: sorted(methods) for service, methods in per_service(gateway_calls).items()
            } == {"identity": ["customer_overview"], "contracts": ["customer_overview"],
                  "metering": ["consumption_by_month", "points_overview"]}

    gateway_calls.clear()
    page = browser.get(f"{portal['base']}/customers/{cid}/invoices", timeout=10)
    assert page.status_code == 200
    addresses = {rpc.contracts.get_contract(i["contract_no"])["consumption_point"]["address"]
                 for i in rpc.billing.invoices_of(cid)}
    assert len(addresses) == 4 and all(a in page.text for a in addresses)
    assert sorted(per_service(gateway_calls).items()) == [
        ("billing", ["invoice_overview"]), ("contracts", ["customer_overview"]),
        ("identity", ["customer_overview"])]

    # a delegate's overview of her: each service still asked once
    grandchild, his_page = log_in(portal, GRANDCHILD, "Grandchild")
    act_for(grandchild, portal, his_page, cid)
    gateway_calls.clear()
    page = grandchild.get(f"{portal['base']}/", timeout=10)
    assert page.status_code == 200 and 'class="acting"' in page.text
    assert all(f'id="point-{point}"' in page.text for point in points)
    assert per_service(gateway_calls) == overview
    assert gateway_calls.count(("identity", "resolve_session")) <= 1
    # her access log has one entry per page he saw (the one the switcher landed him
    # on, and this one), naming the parts of hers it showed: no more than the
    # overview shows
    assert [(e["use"], e["action"], e["details"]["parts"])
            for e in rpc.identity.access_log(cid)] == 2 * [
        ("portal:overview", "read", ["consumption_points", "invoices", "messages"])]
    # her payment book in words that fit him: hers, not "your payments"
    book = grandchild.get(f"{portal['base']}/customers/{cid}/invoices", timeout=10)
    assert "Payments of Õie Mäger" in book.text and "Your payments" not in book.text
    assert 'name="invoice_no"' not in book.text          # he may not pay for her


def billing_knows(rpc, reference_no, cid):
    try:
        return rpc.billing.payment_book(reference_no, [cid])
    except NotFound:
        return None


@pytest.mark.both_stores
def test_the_overview_asks_as_much_for_3_points_and_24_invoices_as_for_1_and_1(
        portal, rpc, gateway_calls):
    """Issue #18's page: her overview and a delegate's of her ask each service once,
    the same calls with one point and one invoice as with three points and 24
    invoices, and say what is open to pay of all of them."""
    cid = portal["home"]["customer_id"]
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read", "readings:write",
                                              "invoices:read", "payments:write"]}, "desk")
    rpc.billing.billing_run("2026-01")
    [first] = rpc.billing.invoices_of(cid)
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    grandchild, _ = log_in(portal, GRANDCHILD, "Grandchild")

    def overview(who, path):
        gateway_calls.clear()
        page = who.get(f"{portal['base']}{path}", timeout=10)
        assert page.status_code == 200
        # hers: at most once a while (kept); the delegate's: never, the overview's
        # identity call gives his principal too
        assert gateway_calls.count(("identity", "resolve_session")) <= (
            1 if who is browser else 0)
        return per_service(gateway_calls), " ".join(page.text.split())

    small = [overview(browser, "/"), overview(grandchild, f"/customers/{cid}/")]
    for _, text in small:
        assert f"Open to pay: <strong>{money(Decimal(first['total']), 'en')}</strong> (1 invoice)." in text

    signed = [rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
              for _ in range(2)]
    points = [c["consumption_point_id"] for c in [portal["home"], *signed]]
    wait_for(lambda: len(rpc.metering.reading_overview(points)) == 3)
    for contract in signed:        # billing has heard of it
        wait_for(lambda: billing_knows(rpc, contract["reference_no"], cid))
    for period in [f"2026-{m:02d}" for m in range(1, 9)]:
        rpc.billing.billing_run(period)
    invoices = rpc.billing.invoices_of(cid)
    assert len(invoices) == 24
    open_total = sum((Decimal(i["total"]) - Decimal(i["paid"]) for i in invoices
                      if i["status"] != "paid"), Decimal("0"))
    unpaid = len([i for i in invoices if i["status"] != "paid"])

    large = [overview(browser, "/"), overview(grandchild, f"/customers/{cid}/")]
    for (calls, _), (more_calls, text) in zip(small, large):
        assert more_calls == calls == {
            "identity": ["customer_overview"], "contracts": ["customer_overview"],
            "metering": ["points_overview"], "billing": ["invoice_overview"],
            "notifications": ["customer_messages"]}
        assert all(f'id="point-{point}"' in text for point in points)
        assert f"Open to pay: <strong>{money(open_total, 'en')}</strong> ({unpaid} invoices)." in text
