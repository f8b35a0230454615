"""The portal's account pages with a browser's ways (cookies, forms): the contract
page (contact details, claims), the messages page (the desk), the mandates page
(a grant in words with a confirmation step, revoking, the access log). A form's
answer is its own page; a refusal is said at the field in the page's language,
with what she typed kept."""
import re
from datetime import datetime

import requests

from services.common import formats
from tests.browser import forms
from tests.integration.test_portal import (form_to, gateway_calls, log_in,  # noqa: F401
                                           log_in_as, per_service, point_page, portal,
                                           reading_form)
from tests.samples import GRANDCHILD, GRANDMOTHER, personal_code

TALLINN = "Europe/Tallinn"


def page(browser, portal, cid, name):
    answer = browser.get(f"{portal['base']}/customers/{cid}/{name}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer


def box(page_html):
    """The result box: its role and its text."""
    found = re.search(r'<div id="result" tabindex="-1" role="(status|alert)"[^>]*>(.*?)</div>',
                      page_html, re.S)
    assert found, "no result box"
    return found.group(1), re.sub(r"<[^>]+>", "", found.group(2)).strip()


def field_error(page_html, field):
    """The field's input is marked and its message is right after it."""
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true" aria-describedby="error-{field}"',
                     page_html), f"{field} is not marked"
    found = re.search(rf'<p id="error-{field}" class="field-error">(.*?)</p>', page_html, re.S)
    assert found, f"no message at {field}"
    return found.group(1).strip()


def test_she_changes_her_contact_details_and_writes_to_the_desk(portal, rpc):
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    cid = portal["home"]["customer_id"]
    contract = page(browser, portal, cid, "contract")
    contact = form_to(contract, portal["base"], f"/customers/{cid}/contact#result")
    wrong = browser.post(contact["action"], data={
        **contact["fields"], "phone": "not a phone", "postal_address": "Pärna 3, Tartu",
        "language": "en"}, timeout=10)
    assert wrong.status_code == 422
    assert box(wrong.text)[0] == "alert"
    assert field_error(wrong.text, "phone")
    assert wrong.text.count('class="field-error"') == 1               # one message
    # what she typed stays, the wrong phone too
    assert 'value="not a phone"' in wrong.text and 'value="Pärna 3, Tartu"' in wrong.text
    assert re.search(r'<option value="en" lang="en" selected>', wrong.text)
    assert rpc.contracts.get_customer(cid)["contact"]["language"] == "et"
    changed = browser.post(contact["action"], data={
        **contact["fields"], "phone": "+372 5555 1234", "language": "en"}, timeout=10)
    assert changed.status_code == 200
    assert box(changed.text) == ("status", "Your contact details were changed.")
    assert rpc.contracts.get_customer(cid)["contact"]["phone"] == "+37255551234"
    assert 'value="+37255551234"' in changed.text and ' aria-invalid="true"' not in changed.text

    messages = page(browser, portal, cid, "messages")
    desk = form_to(messages, portal["base"], f"/customers/{cid}/feedback#result")
    empty = browser.post(desk["action"], data={**desk["fields"], "kind": "complaint",
                                               "subject": "", "body": "Tell me."}, timeout=10)
    assert empty.status_code == 422 and field_error(empty.text, "subject")
    assert ">Tell me.</textarea>" in empty.text                        # kept
    assert '<option value="complaint" selected>' in empty.text
    sent = browser.post(desk["action"], data={**desk["fields"], "kind": "question",
                                              "subject": "Why two meters?", "body": "Tell me."},
                        timeout=10)
    assert sent.status_code == 200
    assert box(sent.text) == ("status", "Thank you: your message is with our service desk.")
    [case] = rpc.notifications.cases_of(cid)
    assert (case["subject"], case["kind"]) == ("Why two meters?", "question")

    # what we wrote her in Estonian, on an English page, is marked as Estonian
    browser.cookies.set("vool_lang", "en")
    english = page(browser, portal, cid, "messages")
    assert '<html lang="en">' in english.text and '<h3 lang="et">' in english.text
    assert "Why two meters?" in page(browser, portal, cid, "messages").text
    forged = browser.post(desk["action"], data={**desk["fields"], "csrf_token": "x",
                                                "kind": "question", "subject": "s", "body": "b"},
                          timeout=10)
    assert forged.status_code == 403 and len(rpc.notifications.cases_of(cid)) == 1


def test_the_contract_page_shows_her_contracts(portal):
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    home, cid = portal["home"], portal["home"]["customer_id"]
    contract = page(browser, portal, cid, "contract").text
    row = contract.split(f'id="contract-{home["contract_no"]}"')[1].split("</li>")[0]
    assert formats.day("2026-01-01", "en") in row and "in force" in row
    assert home["contract_no"] in row and "Tariff plan" in row


def test_contact_errors_are_said_at_the_field_in_estonian_and_english(portal, rpc):
    cid = portal["home"]["customer_id"]
    for language, sentence in (("et", "Palun paranda allpool märgitud andmed."),
                               ("en", "Please correct what is marked below.")):
        browser = requests.Session()
        browser.headers["Accept-Language"] = language
        browser, _ = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
        contract = page(browser, portal, cid, "contract")
        assert f'<html lang="{language}">' in contract.text
        contact = form_to(contract, portal["base"], f"/customers/{cid}/contact#result")
        wrong = browser.post(contact["action"], data={
            **contact["fields"], "email": "not an address", "phone": "+372 5555 1234"},
            timeout=10)
        assert wrong.status_code == 422
        assert box(wrong.text) == ("alert", sentence)        # the box does not repeat it
        assert field_error(wrong.text, "email")
        assert 'value="not an address"' in wrong.text and 'value="+372 5555 1234"' in wrong.text
        assert 'name="phone"' in wrong.text and "error-phone" not in wrong.text
    assert rpc.contracts.get_customer(cid)["contact"]["email"] != "not an address"


def test_she_claims_a_consumption_point_recorded_under_someone_else(portal, rpc):
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    cid = portal["home"]["customer_id"]
    contract = page(browser, portal, cid, "contract")
    claim = form_to(contract, portal["base"], f"/customers/{cid}/consumption-point-claims#result")
    wrong = browser.post(claim["action"], data={**claim["fields"], "address": "Männiku talu",
                                                "eic": "not an EIC"}, timeout=10)
    assert wrong.status_code == 422 and field_error(wrong.text, "eic")
    assert 'value="Männiku talu"' in wrong.text and 'value="not an EIC"' in wrong.text
    assert rpc.contracts.claims_of(cid) == []
    sent = browser.post(claim["action"], data={**claim["fields"], "address": "Männiku talu",
                                               "note": "my late husband's"}, timeout=10)
    assert sent.status_code == 200
    assert box(sent.text)[1].startswith("Your claim is with our service desk")
    [pending] = rpc.contracts.claims_of(cid)
    assert (pending["address"], pending["status"]) == ("Männiku talu", "pending")
    assert "Männiku talu: <strong>waiting for our decision</strong>" in sent.text


def posted_fields(page_html, ending):
    """Every field the form ending so posts, a field given many times as many times."""
    form = page_html.split(ending)[1].split("</form>")[0]
    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)


def grant_form(page_html, portal, cid):
    return form_to(page_html, portal["base"], f"/customers/{cid}/mandates/review#result")


def hidden(form, *leave_out):
    return {k: v for k, v in form["fields"].items()
            if k not in ("grantee_person_code", "scope_group", "valid_from", "valid_until",
                         *leave_out)}


def test_the_grandmother_grants_and_revokes_a_mandate_in_the_portal(portal, rpc):
    grandmother, cid = portal["home"], portal["home"]["customer_id"]
    her, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    mandates = page(her, portal, cid, "mandates")
    review = grant_form(mandates, portal, cid)
    assert sorted(review["choices"]["scope_group"]) == sorted(
        ["contract", "invoices", "readings", "pay", "contact", "desk", "claims", "sharing"])
    none = her.post(review["action"], data={**hidden(review),
                                            "grantee_person_code": GRANDCHILD}, timeout=10)
    assert none.status_code == 422 and field_error_of_boxes(none.text)
    assert f'value="{GRANDCHILD}"' in none.text                         # kept
    confirm = her.post(review["action"], data=[*hidden(review).items(),
                                               ("grantee_person_code", GRANDCHILD),
                                               ("scope_group", "contract"),
                                               ("scope_group", "readings")], timeout=10)
    assert confirm.status_code == 200, confirm.text
    grant = form_to(confirm, portal["base"], f"/customers/{cid}/mandates#result")
    sent = posted_fields(confirm.text, f'action="/customers/{cid}/mandates#result"')
    assert ("scope_group", "contract") in sent and ("scope_group", "readings") in sent
    granted = her.post(grant["action"], data=sent, timeout=10)
    assert granted.status_code == 200
    assert box(granted.text)[0] == "status" and "The mandate is granted" in granted.text
    [mandate] = rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"]
    assert sorted(mandate["scopes"]) == ["contract:read", "readings:write"]
    row = granted.text.split('<ul class="plain mandates-granted">')[1].split("</form>")[0]
    assert "See the contract and consumption points" in row and "Enter readings" in row
    assert "contract:read" not in row                                    # in words

    him, _ = log_in(portal, GRANDCHILD, "Grandchild")
    point = grandmother["consumption_point_id"]
    reading = reading_form(point_page(him, portal, cid, point), point,
                           portal["base"])                        # he may enter her readings
    assert him.get(f"{portal['base']}/customers/{cid}/", timeout=10).status_code == 200

    revoke = form_to(granted, portal["base"], f"/mandates/{mandate['mandate_id']}/revoke#result")
    revoked = her.post(revoke["action"], data=revoke["fields"], timeout=10)
    assert revoked.status_code == 200
    assert box(revoked.text) == ("status", "The mandate is revoked: it no longer works.")
    refused = him.post(reading["action"], data={**reading["fields"], "reading_date": "01.03.2026",
                                                "register-T1": "1350", "register-T2": "1200"},
                       timeout=10)
    assert refused.status_code == 403                              # at once
    assert him.get(f"{portal['base']}/customers/{cid}/contract",
                   timeout=10).status_code == 404
    # her overview too: its one identity call is the one that finds the mandate gone
    assert him.get(f"{portal['base']}/customers/{cid}/", timeout=10).status_code == 404


def field_error_of_boxes(page_html):
    assert 'aria-invalid="true"' in page_html.split('name="scope_group"')[1].split(">")[0]
    return re.search(r'<p id="error-scope_group" class="field-error">', page_html)


def test_the_confirmation_step_grants_nothing_until_confirmed(portal, rpc):
    cid = portal["home"]["customer_id"]
    her, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    review = grant_form(page(her, portal, cid, "mandates"), portal, cid)
    confirm = her.post(review["action"], data=[*hidden(review).items(),
                                               ("grantee_person_code", GRANDCHILD),
                                               ("scope_group", "pay"),
                                               ("valid_until", "31.12.2027")], timeout=10)
    assert confirm.status_code == 200
    assert rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"] == []
    said = confirm.text.split('<ul class="review">')[1].split("</ul>")[0]
    assert "Pay invoices" in said and "View invoices" in said           # pay implies seeing
    today = formats.day(datetime.now(formats_zone()).date(), "en")
    assert f"From {today} until 31 December 2027." in confirm.text
    [grant] = [f for f in forms(confirm.text, portal["base"])
               if f["action"].endswith(f"/customers/{cid}/mandates#result")]
    assert grant["fields"]["scope_group"] == "pay" and grant["fields"]["valid_until"] == "2027-12-31"
    assert 'formaction="/customers/' in confirm.text and ">Change</button>" in confirm.text
    # Change: the form again as she filled it, still nothing granted
    changing = her.post(f"{portal['base']}/customers/{cid}/mandates/review",
                        data={**grant["fields"], "change": "1"}, timeout=10)
    assert changing.status_code == 200
    again = grant_form(changing, portal, cid)
    assert again["fields"]["grantee_person_code"] == GRANDCHILD
    assert again["fields"]["valid_until"] == "31.12.2027"
    assert re.search(r'value="pay"[^>]* checked', changing.text)
    assert not re.search(r'value="invoices"[^>]* checked', changing.text)
    assert rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"] == []
    granted = her.post(grant["action"], data=grant["fields"], timeout=10)
    assert granted.status_code == 200
    [mandate] = rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"]
    assert (sorted(mandate["scopes"]), mandate["valid_until"]) == (
        ["invoices:read", "payments:write"], "2027-12-31")


def test_a_grant_refused_at_the_last_step_is_said_at_its_field_with_her_choices_kept(
        portal, rpc):
    cid = portal["home"]["customer_id"]
    stranger = personal_code("3800101", "123")             # no customer of ours
    her, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    review = grant_form(page(her, portal, cid, "mandates"), portal, cid)
    confirm = her.post(review["action"], data=[*hidden(review).items(),
                                               ("grantee_person_code", stranger),
                                               ("scope_group", "desk"),
                                               ("valid_until", "31.12.2027")], timeout=10)
    assert confirm.status_code == 200
    sent = posted_fields(confirm.text, f'action="/customers/{cid}/mandates#result"')
    refused = her.post(f"{portal['base']}/customers/{cid}/mandates", data=sent, timeout=10)
    assert refused.status_code == 422
    assert box(refused.text)[0] == "alert" and field_error(refused.text, "grantee_person_code")
    again = grant_form(refused, portal, cid)
    assert again["fields"]["grantee_person_code"] == stranger
    assert again["fields"]["valid_until"] == "31.12.2027"          # as she wrote it
    assert re.search(r'value="desk"[^>]* checked', refused.text)
    assert rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"] == []


def formats_zone():
    from zoneinfo import ZoneInfo
    return ZoneInfo(TALLINN)


def test_validity_is_shown_as_dates_to_both_of_them_in_their_language(portal, rpc):
    cid = portal["home"]["customer_id"]
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["readings:write", "invoices:read"],
                                   "valid_until": "2027-12-31"}, "desk")
    today = datetime.now(formats_zone()).date()
    browser = requests.Session()
    browser.headers["Accept-Language"] = "et"
    her, _ = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
    granted = page(her, portal, cid, "mandates").text
    validity = granted.split('<dd class="validity">')[1].split("</dd>")[0]
    assert validity == f"{formats.day(today, 'et')} kuni 31.12.2027"
    assert "Sisestada näite" in granted and "Näha arveid" in granted
    # the grandchild sees the mandate he holds with its dates, on his own page
    him, _ = log_in(portal, GRANDCHILD, "Grandchild")
    held = page(him, portal, portal["child"]["customer_id"], "mandates").text
    entry = held.split('<ul class="plain mandates-received">')[1].split("</ul>")[0]
    assert "Õie Mäger" in entry
    assert f"from {formats.day(today, 'en')} until 31 December 2027" in entry


def test_a_delegate_never_reaches_the_mandates_of_her_grantor(portal, rpc):
    cid = portal["home"]["customer_id"]
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read", "feedback:write"]}, "desk")
    him, his_page = log_in(portal, GRANDCHILD, "Grandchild")
    assert him.get(f"{portal['base']}/customers/{cid}/mandates", timeout=10).status_code == 404
    token = re.search(r'name="csrf_token" value="([^"]+)"', his_page.text).group(1)
    review = him.post(f"{portal['base']}/customers/{cid}/mandates/review", timeout=10,
                      data={"csrf_token": token, "grantee_person_code": GRANDCHILD,
                            "scope_group": "contract"})
    assert review.status_code == 403
    assert len(rpc.identity.mandates_of(cid, GRANDMOTHER)["granted"]) == 1
    # her contract and messages pages he may see, as the mandate allows
    assert page(him, portal, cid, "contract").status_code == 200
    assert 'action="/customers/%s/contact' % cid not in page(him, portal, cid, "contract").text
    assert f'action="/customers/{cid}/feedback#result"' in page(him, portal, cid, "messages").text


def test_the_grandmother_reads_in_her_access_log_who_saw_what_and_when(portal, rpc):
    cid = portal["home"]["customer_id"]
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read"]}, "desk")
    him, _ = log_in(portal, GRANDCHILD, "Grandchild")
    page(him, portal, cid, "contract")
    [entry] = [e for e in rpc.identity.access_log(cid)
               if e["what"] == "Portal: contracts and contact details"]
    browser = requests.Session()
    browser.headers["Accept-Language"] = "et"
    her, _ = log_in_as(browser, portal, GRANDMOTHER, "Õie Mäger")
    mandates = page(her, portal, cid, "mandates").text
    log = mandates.split('<table class="access-log">')[1].split("</table>")[0]
    row = log.split(formats.moment(entry["at"], "et"))[1].split("</tr>")[0]   # Tallinn time
    assert "Grandchild" in row and "vaatas lepinguid ja kontaktandmeid" in row
    assert "Portal:" not in log


def test_the_account_pages_need_a_session_and_a_mandate_that_covers_them(portal, rpc):
    cid = portal["home"]["customer_id"]
    for name in ("contract", "messages", "mandates"):
        anonymous = requests.get(f"{portal['base']}/customers/{cid}/{name}",
                                 allow_redirects=False, timeout=10)
        assert anonymous.status_code == 303 and anonymous.headers["Location"].endswith("/")
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["readings:write"]}, "desk")
    him, _ = log_in(portal, GRANDCHILD, "Grandchild")
    for name in ("contract", "messages"):          # her readings only: not these pages
        assert him.get(f"{portal['base']}/customers/{cid}/{name}",
                       timeout=10).status_code == 403
    assert rpc.identity.access_log(cid) == []


def test_each_account_page_asks_each_service_once(portal, rpc, gateway_calls):
    cid = portal["home"]["customer_id"]
    rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                   "grantee_person_code": GRANDCHILD,
                                   "scopes": ["contract:read", "feedback:write",
                                              "consumption-points:claim"]}, "desk")
    him, _ = log_in(portal, GRANDCHILD, "Grandchild")
    her, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    for browser, name, asked in (
            (him, "contract", {"identity": ["customer_overview"],
                               "contracts": ["customer_overview"]}),
            (him, "messages", {"identity": ["customer_overview"],
                               "notifications": ["customer_messages"]}),
            (her, "contract", {"contracts": ["customer_overview"]}),   # her own: no check
            (her, "mandates", {"identity": ["customer_overview"],      # the log names points
                               "contracts": ["customer_overview"]})):
        gateway_calls.clear()
        page(browser, portal, cid, name)
        assert per_service(gateway_calls) == asked, name
