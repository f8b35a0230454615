"""testbank: a development bank speaking the banklink protocol (pangalink.net's idea).

Customers' browsers post a signed 4011/4012 (log in) or 1011/1012 (pay) request
to /banklink; the bank shows a page, then posts its signed reply back to the
merchant's return URL. Development and tests only.
"""
import json
from pathlib import Path
from urllib.parse import urlencode

import eventlet
from jinja2 import FileSystemLoader, select_autoescape
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from stdnum.ee import ik
from werkzeug.wrappers import Response

from services.common.clock import ClockProvider
from services.common.correlation import Correlation
from services.common.translations import N_, environments, translations
from services.common.web import ExclusiveWebServer
from services.testbank.bank import BadRequest, load_test_bank
from services.testbank.oidc import FLAWS, METHODS, ProviderError, load_test_provider

HERE = Path(__file__).parent
LANGUAGES = ("et", "en")
#: the bank speaks the language the merchant asks for in VK_LANG (Estonian else)
VK_LANGUAGES = {"EST": "et", "ENG": "en"}
PAGES = environments(FileSystemLoader(HERE / "templates"), HERE / "locale", LANGUAGES,
                     autoescape=select_autoescape(["html"]))
AUTH_REQUESTS = ("4011", "4012")
PAYMENT_REQUESTS = ("1011", "1012")


class BankWebServer(ExclusiveWebServer):
    address_setting = "VOOL_TESTBANK_ADDRESS"


class BankRequestHandler(HttpRequestHandler):
    server = BankWebServer()   # alone on its address, never sharing the gateway's


http = BankRequestHandler.decorator


class Bank(DependencyProvider):
    def setup(self):
        self.bank = load_test_bank(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.bank


class Provider(DependencyProvider):
    """The test bank's OpenID Connect provider (None when not configured)."""

    def setup(self):
        self.provider = load_test_provider(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.provider


def as_json(value, status=200, headers=None):
    return Response(json.dumps(value), status=status, content_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def oauth_error(exc):
    return as_json({"error": exc.error, "error_description": exc.description},
                   status=exc.status,
                   headers={"WWW-Authenticate": "Basic"} if exc.status == 401 else None)


class HubWaker(DependencyProvider):
    """A service with nothing but HTTP entrypoints leaves eventlet's hub asleep
    until the next request, and `nameko run` handles SIGTERM only when the hub
    wakes: so wake it every second."""

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._tick, identifier="hub-waker")

    def stop(self):
        self._thread.kill()

    kill = stop

    @staticmethod
    def _tick():
        while True:
            eventlet.sleep(1)


def language_of(fields):
    return VK_LANGUAGES.get(str(fields.get("VK_LANG", "")).upper(), "et")


def page(template, language, status=200, **context):
    html = PAGES[language].get_template(template).render(language=language, **context)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def text(language, message):
    """An English text of this module (marked with ``N_``) in ``language``."""
    return translations(str(HERE / "locale"), language).gettext(message)


def refused(language, reason):
    """The error page with ``reason`` (an English text of this module) translated;
    a protocol error from bank.py stays as the bank found it (for developers)."""
    return page("error.html", language, status=400, reason=text(language, reason))


def carried_request(form):
    """The request fields the bank's own pages carried along as ``req.*``."""
    return {key[4:]: value for key, value in form.items() if key.startswith("req.")}


class TestBankService:
    name = "testbank"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    bank = Bank()
    provider = Provider()
    clock = ClockProvider()
    hub_waker = HubWaker()

    @http("GET", "/")
    def index(self, request):
        return page("error.html", "et",
                    reason=text("et", N_("Post a signed banklink request to /banklink.")))

    @http("POST", "/banklink")
    def banklink(self, request):
        fields = dict(request.form.items())
        language = language_of(fields)
        try:
            merchant = self.bank.check_request(fields)
        except BadRequest as exc:
            return page("error.html", language, status=400, reason=str(exc))
        service = fields.get("VK_SERVICE")
        if service in AUTH_REQUESTS:
            return page("login.html", language, merchant_name=merchant["name"],
                        request_fields=fields, persons=self.bank.persons)
        if service in PAYMENT_REQUESTS:
            # the amount as the request states it, as banks show it: 58.65 EUR
            return page("pay.html", language, merchant_name=merchant["name"], fields=fields,
                        amount=f"{fields.get('VK_AMOUNT')} {fields.get('VK_CURR')}")
        return page("error.html", language, status=400,
                    reason=f"unsupported VK_SERVICE {service!r}")

    @http("POST", "/banklink/authenticate")
    def authenticate(self, request):
        original = carried_request(request.form)
        language = language_of(original)
        try:
            self.bank.check_request(original)
        except BadRequest as exc:
            return page("error.html", language, status=400, reason=str(exc))
        if original.get("VK_SERVICE") not in AUTH_REQUESTS:
            return refused(language, N_("This is not a login request."))
        code = request.form.get("typed_code", "").strip()
        name = request.form.get("typed_name", "").strip()
        if code or name:
            if not ik.is_valid(code) or not name:
                return refused(language, N_("Type a valid personal code and a name."))
        else:
            try:
                chosen = self.bank.persons[int(request.form.get("person", ""))]
            except (ValueError, IndexError):
                return refused(language, N_("Pick a person."))
            code, name = chosen["person_code"], chosen["name"]
        reply = self.bank.authentication_reply(original, code, name, self.clock.now())
        return page("return.html", language, action=original["VK_RETURN"], fields=reply)

    @http("POST", "/banklink/pay")
    def pay(self, request):
        original = carried_request(request.form)
        language = language_of(original)
        try:
            merchant = self.bank.check_request(original)
        except BadRequest as exc:
            return page("error.html", language, status=400, reason=str(exc))
        if original.get("VK_SERVICE") not in PAYMENT_REQUESTS:
            return refused(language, N_("This is not a payment request."))
        paid = request.form.get("decision") == "pay"
        reply = self.bank.payment_reply(original, merchant, paid, self.clock.now())
        action = original["VK_RETURN"] if paid else original["VK_CANCEL"]
        return page("return.html", language, action=action, fields=reply)

    # -- OpenID Connect (a TARA-like provider) -----------------------------------------

    def _provider(self):
        if self.provider is None:
            raise ProviderError("invalid_request", "no OpenID Connect provider configured",
                                404)
        return self.provider

    @http("GET", "/oidc/.well-known/openid-configuration")
    def oidc_discovery(self, request):
        try:
            return as_json(self._provider().discovery())
        except ProviderError as exc:
            return oauth_error(exc)

    @http("GET", "/oidc/jwks")
    def oidc_jwks(self, request):
        try:
            return as_json(self._provider().jwks())
        except ProviderError as exc:
            return oauth_error(exc)

    @http("GET", "/oidc/authorize")
    def oidc_authorize(self, request):
        language = "en" if request.args.get("ui_locales", "").startswith("en") else "et"
        try:
            checked = self._provider().check_authorization(request.args)
        except ProviderError as exc:
            return page("error.html", language, status=400, reason=exc.description)
        return page("oidc_login.html", language, action="/oidc/authorize",
                    request_fields=checked, persons=self.provider.persons, methods=METHODS,
                    flaws=FLAWS)

    @http("POST", "/oidc/authorize")
    def oidc_authenticate(self, request):
        original = carried_request(request.form)
        language = "en" if original.get("ui_locales", "").startswith("en") else "et"
        try:
            checked = self._provider().check_authorization(original)
            if request.form.get("decision") == "cancel":
                target, answer = checked["redirect_uri"], {
                    "error": "access_denied", "state": checked["state"]}
            else:
                target, answer = self.provider.authorize(
                    checked, request.form.get("person"), request.form.get("method"),
                    request.form.get("flaw", ""), self.clock.now())
        except ProviderError as exc:
            return page("error.html", language, status=400, reason=exc.description)
        separator = "&" if "?" in target else "?"
        return Response(status=303, headers={"Location": f"{target}{separator}"
                                                         f"{urlencode(answer)}"})

    @http("POST", "/oidc/token")
    def oidc_token(self, request):
        try:
            return as_json(self._provider().token(
                dict(request.form.items()), request.headers.get("Authorization", ""),
                self.clock.now()))
        except ProviderError as exc:
            return oauth_error(exc)

    @http("POST", "/oidc/keys/rotate")
    def oidc_rotate_key(self, request):
        """The operator's (or a test's) key rotation: a new key signs from now on."""
        try:
            return as_json({"kid": self._provider().rotate_key()})
        except ProviderError as exc:
            return oauth_error(exc)

    @http("GET", "/oidc/keys")
    def oidc_keys(self, request):
        """The signing key in use and how often the key set was fetched (for tests)."""
        try:
            provider = self._provider()
        except ProviderError as exc:
            return oauth_error(exc)
        return as_json({"kid": provider.keys[-1].kid, "jwks_requests": provider.jwks_requests})
