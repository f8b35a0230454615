"""The seed's story in a real browser (Debian's Chromium through Playwright), in
Estonian and in English, on the system as `make run` starts it with its demo:
the grandmother logs in through the test bank, reads her overview, enters a
reading (refused at the field, corrected), replaces a held one, opens an invoice
and its PDF, pays through the bank, reads the payment book, changes her contact
details, writes to the desk, claims the Saaremaa cottage and grants her
grandchild a mandate; the grandchild acts for her; she reads the access log and
takes the mandate back. axe-core checks every page shown on the way, the test
bank's included; a phone-sized run checks the overview and the reading form.

Each walk leaves the demo as the next needs it: the Estonian one reads and pays
for the Tallinn apartment, the English one for the Rapla house; what one grants
it revokes."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from eventlet import patcher

from services.common.config import PROJECT_ROOT
from services.common.translations import translations
from tests.e2e.chromium import PHONE, PassingPages, check_accessibility

if patcher.is_monkey_patched("thread"):   # Playwright's sync API would hang: say why instead
    raise RuntimeError("the browser tests run only with VOOL_EVENTLET_PATCH=0 (see the root "
                       "conftest.py); make test runs them so")

pytestmark = pytest.mark.timeout(300)

PORTAL_LOCALE = PROJECT_ROOT / "services" / "gateway" / "portal" / "locale"
BANK_LOCALE = PROJECT_ROOT / "services" / "testbank" / "locale"
BROWSER_LOCALES = {"et": "et-EE", "en": "en-GB"}
GRANDMOTHER, GRANDCHILD = "Õie Mäger", "Mari Mäger"
GRANDCHILD_CODE = "60507120130"
#: each walk's own consumption point (its reading, its invoice)
POINT_OF = {"et": "Pärnu mnt 10-5, Tallinn", "en": "Tallinna 7, Rapla"}
COTTAGE = {"address": "Männiku talu, Saaremaa", "eic": "38ZEE-00001003-Q"}


class Walk:
    """One person's browser tab, in one language, that checks every page it is shown."""

    def __init__(self, browser, system, language, viewport=None):
        self.system, self.language = system, language
        self.context = browser.new_context(locale=BROWSER_LOCALES[language],
                                           timezone_id="Europe/Tallinn",
                                           viewport=viewport or {"width": 1280, "height": 900})
        # the pages that go on by themselves: on to the bank, back from it
        self.passing = PassingPages(self.context, "**/login/testbank", "**/customers/*/payments",
                                    "**/banklink/authenticate", "**/banklink/pay")
        self.passed = 0       # how many of those were checked
        self.page = self.context.new_page()
        self.portal = translations(str(PORTAL_LOCALE), language).gettext
        self.bank = translations(str(BANK_LOCALE), language).gettext
        self.checked = []

    def _(self, text, **values):
        """The portal's text in this walk's language."""
        return self.portal(text) % values if values else self.portal(text)

    def check(self):
        """axe on the page shown now (and on any page it went through on its way)."""
        self.page.wait_for_load_state()
        assert self.page.evaluate("document.documentElement.lang") == self.language
        self.passed += self.passing.check()
        check_accessibility(self.page)
        self.checked.append(self.page.url)
        return self.page

    def go(self, path):
        self.page.goto(self.system["gateway"] + path)
        return self.check()

    def click(self, role, name, **options):
        self.page.get_by_role(role, name=name, exact=True, **options).click()
        return self.check()

    def pattern(self, text):
        """The portal's text with a placeholder in it, whatever fills the placeholder."""
        return re.compile("^" + ".+".join(re.escape(part) for part in
                                          re.split(r"%\(\w+\)s", self.portal(text))) + "$")

    def heading(self):
        return self.page.locator("h1").inner_text().strip()

    def result(self):
        return self.page.locator("#result")

    def login(self, person):
        """Through the test bank's own pages, as one of its demo persons."""
        self.go("/")
        passed = self.passed
        self.click("button", "Test Bank")
        assert self.page.url.startswith(self.system["bank"])
        assert self.page.locator("h1").inner_text() == self.bank(
            "Log in to %(merchant)s") % {"merchant": "Vool Energia AS"}
        self.page.get_by_label(re.compile(re.escape(person))).check()
        self.click("button", self.bank("Log in"))
        assert self.page.url.startswith(self.system["gateway"])
        assert self.heading() == self._("Overview")
        assert self.passed == passed + 2     # on to the bank, back from it
        return self.page

    def nav(self, name):
        """Through the section links (<nav>), to the page ``name``."""
        self.page.locator("nav.sections").get_by_role("link", name=self._(name),
                                                      exact=True).click()
        page = self.check()
        assert page.locator("nav.sections [aria-current=page]").inner_text() == self._(name)
        return page

    def close(self):
        self.context.close()


@pytest.fixture
def walks(chromium, vool_system):
    opened = []

    def open_walk(language, **options):
        walk = Walk(chromium, vool_system, language, **options)
        opened.append(walk)
        return walk

    yield open_walk
    for walk in opened:
        walk.close()


def last_reading(page, address):
    """``{register: value}`` of the last reading the overview shows for ``address``."""
    card = page.locator(".point", has=page.get_by_role("heading", name=address))
    text = card.inner_text()
    return {code: int(re.sub(r"\D", "", value))
            for code, value in re.findall(r"\b(T\d)\s+([\d\s\u00a0\u202f,.]+?)\s*kWh", text)}


def field_refusal(page, name):
    """The message tied to field ``name``: aria-invalid, aria-describedby its message."""
    field = page.locator(f'[name="{name}"]')
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby").split()
    assert f"error-{name}" in described
    message = page.locator(f"#error-{name}")
    assert message.is_visible()
    return message.inner_text().strip()


def enter_reading(walk, values):
    for code, value in values.items():
        walk.page.get_by_label(walk._("Register %(code)s, kWh", code=code)).fill(str(value))
    return walk.click("button", walk._("Send reading"))


@pytest.mark.parametrize("language", ["et", "en"])
def test_the_grandmother_and_her_grandchild_walk_the_story(walks, language):
    her = walks(language)
    page = her.login(GRANDMOTHER)
    _ = her._
    assert GRANDMOTHER in page.title()
    address = POINT_OF[language]

    # the overview: both homes with their last reading and when the next is due
    for home in POINT_OF.values():
        assert page.get_by_role("heading", name=home).is_visible()
    assert page.get_by_role("link", name=_("Readings of %(address)s", address=home)).count() == 1
    last = last_reading(page, address)
    assert last, page.locator("main").inner_text()
    assert page.get_by_role("link", name=_("Invoices and payments")).count() >= 1

    # a reading lower than the last: refused at the field, what she typed kept
    her.click("link", _("Readings of %(address)s", address=address))
    assert her.heading() == address
    form = page.get_by_role("group", name=_("Reading for %(address)s", address=address))
    assert form.is_visible()
    first, *others = sorted(last)
    lower = {first: last[first] - 100, **{code: last[code] + 3 for code in others}}
    enter_reading(her, lower)
    assert page.locator("#result[role=alert]").is_visible()
    # the answer lands on its result: focused, so a screen reader says it first
    assert page.evaluate("document.activeElement.id") == "result"
    typed = page.get_by_label(_("Register %(code)s, kWh", code=first))
    assert field_refusal(page, typed.get_attribute("name"))
    assert typed.input_value() == str(lower[first])
    # corrected: accepted
    right = {code: last[code] + 4 for code in last}
    enter_reading(her, right)
    assert page.locator("#result[role=status]").inner_text().startswith(
        _("Reading accepted, used:"))
    assert page.evaluate("document.activeElement.id") == "result"

    # a slip of the finger (two thousand kWh in a day): held for review; the right one
    # replaces it, or she withdraws it
    slipped = {code: right[code] + 2000 for code in right}
    enter_reading(her, slipped)
    assert page.locator("#result[role=status]").inner_text().startswith(_(
        "Thank you. The reading looks unusual, so we are checking it before it is billed; "
        "you will hear from us."))
    withdraw = page.get_by_role("button", name=her.pattern("Withdraw the reading of %(date)s"))
    assert withdraw.count() == 1
    if language == "et":
        enter_reading(her, {code: right[code] + 1 for code in right})
        assert page.get_by_text(_("Replaced by a newer reading")).count() == 1
    else:
        withdraw.click()
        her.check()
        assert page.get_by_text(_("Withdrawn"), exact=True).count() == 1
    assert page.locator("svg").count() >= 1                 # the chart, and its numbers
    assert page.locator("table.consumption").count() >= 1

    # invoices: one to pay for this home; its PDF
    her.nav("Invoices and payments")
    assert her.heading() == _("Invoices and payments")
    row = page.locator("table.invoices tbody tr", has_text=address).filter(
        has=page.locator('input[name="invoice_no"]'))
    assert row.count() == 1, page.locator("table.invoices").inner_text()
    pdf = row.get_by_role("link", name=her.pattern("Invoice %(no)s (PDF)"))
    href = pdf.get_attribute("href")
    answer = her.context.request.get(her.system["gateway"] + href)
    assert answer.status == 200 and answer.headers["content-type"].startswith("application/pdf")
    assert answer.body().startswith(b"%PDF")
    invoice_no = row.locator('input[name="invoice_no"]').get_attribute("value")

    # pay it through the bank, and see it paid
    row.locator('input[name="invoice_no"]').check()
    page.get_by_label(_("Through the bank")).select_option("testbank")
    passed = her.passed
    her.click("button", _("Pay"))
    assert page.url.startswith(her.system["bank"])
    assert page.locator("h1").inner_text().startswith(her.bank("Pay %(amount)s to %(merchant)s")
                                                      .split("%")[0])
    her.click("button", her.bank("Pay"))
    assert page.url.startswith(her.system["gateway"])
    assert her.passed == passed + 2          # on to the bank, back from it
    paid = page.locator("table.invoices tbody tr", has_text=invoice_no)
    assert paid.locator('input[name="invoice_no"]').count() == 0
    assert _("paid") in paid.inner_text()

    # the payment book: her own payments, up to a reading
    book = page.get_by_role("heading", name=_("Your payments"))
    assert book.is_visible()

    # contact details: a phone refused at its field, then saved
    her.nav("Contract and contact details")
    assert her.heading() == _("Contract and contact details")
    page.get_by_label(re.compile("^" + re.escape(_("Phone")))).fill("12")
    her.click("button", _("Save the contact details"))
    assert field_refusal(page, "phone")
    assert page.get_by_label(re.compile("^" + re.escape(_("Phone")))).input_value() == "12"
    page.get_by_label(re.compile("^" + re.escape(_("Phone")))).fill("+372 5555 1234")
    her.click("button", _("Save the contact details"))
    assert page.locator("#result[role=status]").is_visible()
    assert page.evaluate("document.activeElement.id") == "result"

    # the cottage recorded under her late husband: claimed, with the desk
    page.get_by_label(_("Address"), exact=True).fill(COTTAGE["address"])
    page.get_by_label(_("EIC code (if you know it)")).fill(COTTAGE["eic"])
    her.click("button", _("Send the claim"))
    assert page.locator("#result[role=status]").is_visible()
    assert page.locator(".claims").get_by_text(COTTAGE["address"]).count() >= 1

    # to the desk
    her.nav("Messages")
    assert her.heading() == _("Messages")
    subject = {"et": "Öötariif", "en": "The night tariff"}[language]
    page.get_by_label(_("Subject")).fill(subject)
    page.get_by_label(_("Your message"), exact=True).fill(
        {"et": "Kas öötariif kehtib ka nädalavahetusel?",
         "en": "Does the night tariff apply at weekends too?"}[language])
    her.click("button", _("Send the message"))
    assert page.locator("#result[role=status]").is_visible()
    assert page.locator(".cases").get_by_text(subject).count() >= 1

    # a mandate for the grandchild, confirmed in words
    her.nav("Mandates")
    assert her.heading() == _("Mandates")
    page.get_by_label(re.compile("^" + re.escape(_("Their personal code")))).fill(GRANDCHILD_CODE)
    for group in ("contract", "invoices", "readings"):
        page.locator(f"#scope-{group}").check()
    her.click("button", _("Review the mandate"))
    assert her.heading() == _("Confirm the mandate")
    her.click("button", _("Grant"))
    assert her.heading() == _("Mandates")
    assert page.locator("#result[role=status]").is_visible()
    revoke = page.get_by_role("button", name=_("Revoke the mandate of %(name)s",
                                                 name=GRANDCHILD))
    assert revoke.count() == 1

    # the grandchild, in a browser of her own, acts for her grandmother
    grandchild = walks(language)
    his = grandchild.login(GRANDCHILD)
    his.get_by_label(grandchild._("Acting for")).select_option(label=GRANDMOTHER)
    grandchild.click("button", grandchild._("Switch"))
    banner = his.locator("p.acting[role=note]")
    assert GRANDMOTHER in banner.inner_text()
    assert GRANDMOTHER in his.title()
    grandchild.nav("Invoices and payments")
    assert his.get_by_role("heading", name=grandchild._(
        "Payments of %(name)s", name=GRANDMOTHER)).is_visible()
    assert his.get_by_role("link", name=grandchild._("Mandates")).count() == 0

    # the grandmother reads in her access log what the grandchild saw; takes it back
    her.nav("Mandates")
    log = page.locator("table.access-log")
    assert GRANDCHILD in log.inner_text()
    revoke.click()
    her.check()
    assert page.get_by_role("button", name=_("Revoke the mandate of %(name)s",
                                             name=GRANDCHILD)).count() == 0
    grandchild.go("/")
    assert his.locator("p.acting").count() == 0

    assert len(her.checked) >= 15 and len(grandchild.checked) >= 4


@pytest.mark.parametrize("language", ["et", "en"])
def test_the_overview_and_the_reading_form_fit_a_phone(walks, language):
    her = walks(language, viewport=PHONE)
    page = her.login(GRANDMOTHER)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    her.click("link", her._("Readings of %(address)s", address=POINT_OF[language]))
    assert page.get_by_role("group", name=her._("Reading for %(address)s",
                                                address=POINT_OF[language])).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("language", ["et", "en"])
def test_the_grandmother_logs_in_with_an_eid_through_the_test_provider(walks, language):
    """OpenID Connect (#19): the login page offers the test bank's provider beside the
    bank; on its page she picks herself and Mobile-ID, and is back on her overview."""
    her = walks(language)
    her.go("/")
    her.click("button", "Test eID (ID-card, Mobile-ID, Smart-ID)")
    page = her.page
    assert page.url.startswith(her.system["bank"] + "/oidc/authorize")
    assert page.locator("h1").inner_text() == her.bank("Log in with an eID")
    page.get_by_label(re.compile(re.escape(GRANDMOTHER))).check()
    page.get_by_label(her.bank("Mobile-ID"), exact=True).check()
    her.click("button", her.bank("Log in"))
    assert page.url.startswith(her.system["gateway"])
    assert her.heading() == her._("Overview")
    assert GRANDMOTHER in page.locator("header").inner_text()


@pytest.fixture
def application_page():
    """The application's own page, where the browser comes back with the code (a
    server of the test's: Playwright does not intercept the end of a redirect)."""
    import http.server
    import threading
    servers = []

    def serve(language):
        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = (f'<!doctype html><html lang="{language}"><head><title>Coach</title>'
                        '</head><body><main><h1>Coach</h1></main></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Page)
        server.timeout = 0.2

        def answer():
            while server not in stopped:
                server.handle_request()
        threading.Thread(target=answer, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    stopped = []
    yield serve
    stopped.extend(servers)
    for server in servers:
        server.server_close()


def add_operator(system, name, password):
    """An operator on the running system's identity database (`vool operator add`)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items()
           if k != "DATABASE_URL" and not (k.startswith("VOOL_") and k.endswith("_DATABASE_URL"))}
    env.update({"VOOL_VAR_DIR": system["var_dir"], "AMQP_URI": system["amqp_uri"],
                "VOOL_OPERATOR_PASSWORD": password})
    subprocess.run([sys.executable, "-m", "services.cli", "operator", "add", name, "--role",
                    "admin"], cwd=PROJECT_ROOT, check=True, timeout=60, env=env,
                   stdout=subprocess.DEVNULL)


@pytest.mark.parametrize("language", ["et", "en"])
def test_the_grandmother_shares_a_point_with_an_application_and_revokes(
        walks, vool_system, application_page, language):
    """The consent page and the grants page (issue #19), axe-checked: an application
    asks for readings and invoices; she shares one home's readings only, until the
    day she types; the application reads it; she revokes on the Data sharing page and
    its next read is refused."""
    import requests
    from urllib.parse import parse_qs, urlencode, urlsplit
    gateway = vool_system["gateway"]
    callback = application_page(language) + "/callback"
    add_operator(vool_system, f"sharing-{language}", "correct-horse-battery")
    desk = {"Authorization": "Bearer " + requests.post(
        f"{gateway}/api/v1/operator/login", timeout=10,
        json={"username": f"sharing-{language}", "password": "correct-horse-battery"}
    ).json()["token"]}
    app = requests.post(f"{gateway}/api/v1/operator/sharing/applications", headers=desk,
                        timeout=10, json={"name": f"Energy Coach {language}",
                                          "purpose": "Tips to save energy",
                                          "redirect_uris": [callback]}).json()

    her = walks(language)
    page = her.login(GRANDMOTHER)
    _ = her._
    # the application's own page, where the browser comes back with the code
    her.go("/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": app["client_id"], "redirect_uri": callback,
        "scope": "readings:read invoices:read", "state": "s1"}))
    assert her.heading() == _("Share your data with %(application)s",
                              application=app["name"])
    assert page.locator(".application-purpose").inner_text() == "Tips to save energy"
    page.get_by_label(re.compile(re.escape(POINT_OF[language]))).check()
    until = page.get_by_label(re.compile(re.escape(
        _("The last day the application may read your data"))))
    until.fill("")
    her.click("button", _("Allow"))      # nothing typed for the day: 90 days
    assert page.url.startswith(callback)
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["s1"]
    tokens = requests.post(f"{gateway}/api/v1/oauth/token", timeout=10,
                           auth=(app["client_id"], app["client_secret"]),
                           data={"grant_type": "authorization_code", "code": query["code"][0],
                                 "redirect_uri": callback}).json()
    assert tokens["scope"] == "readings:read"          # she did not tick the invoices
    app_headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    [shared] = requests.get(f"{gateway}/api/v1/shared/consumption-points",
                            headers=app_headers, timeout=10).json()
    assert shared["address"] == POINT_OF[language]

    # the Data sharing page: the application, what it read; Revoke stops it
    her.go("/")
    her.nav("Data sharing")
    grants = page.locator("table.sharing-grants")
    assert app["name"] in grants.inner_text() and POINT_OF[language] in grants.inner_text()
    assert app["name"] in page.locator("table.access-log").inner_text()
    her.click("button", _("Revoke %(application)s", application=app["name"]))
    assert page.locator("#result[role=status]").inner_text() == _(
        "The application can no longer read your data.")
    assert requests.get(f"{gateway}/api/v1/shared/consumption-points", headers=app_headers,
                        timeout=10).status_code == 401
