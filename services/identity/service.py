"""identity: persons, logins, sessions and operators (entrypoints only)."""
from datetime import date, timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.scopes import SCOPES
from services.common.validation import parse
from services.contracts.api import ConsumptionPointLinked, ContractSigned, ContractTerminated
from services.identity import eligibility, login, mandates, operators, payments, sessions
from services.identity.banks import Banks
from services.identity.models import metadata


def _form_fields(fields):
    """A bank's VK_* fields as the strings a form posts; anything else, none."""
    return {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}


class IdentityService:
    name = "identity"

    db = Database(metadata, Path(__file__).parent / "migrations")
    banks = Banks()
    config = Config()
    clock = ClockProvider()

    @rpc
    def health(self):
        return self.db.health()

    @event_handler("contracts", "contract_signed")
    def on_contract_signed(self, event):
        self.db.apply_once(event, "identity.on_contract_signed",
                          eligibility.record_contract, ContractSigned.data_of(event))

    @event_handler("contracts", "contract_terminated")
    def on_contract_terminated(self, event):
        self.db.apply_once(event, "identity.on_contract_terminated",
                          mandates.contract_terminated, ContractTerminated.data_of(event))

    @event_handler("contracts", "consumption_point_linked")
    def on_consumption_point_linked(self, event):
        self.db.apply_once(event, "identity.on_consumption_point_linked",
                          eligibility.record_relink, ConsumptionPointLinked.data_of(event))

    @rpc
    def is_eligible(self, person_code):
        """returns True while the person holds an active contract or a live mandate."""
        with self.db.unit_of_work() as uow:
            return (eligibility.has_active_contract(uow, str(person_code))
                    or mandates.may_log_in(uow, str(person_code)))

    # -- customers: banklink ---------------------------------------------------

    @rpc
    def list_banks(self):
        """returns ``[{id, name}]`` of the banks customers can log in through."""
        return [{"id": b.id, "name": b.name} for b in self.banks.values()]

    @rpc
    def start_banklink_login(self, bank_id, return_url, browser_key=None):
        """returns the signed request ``{action, method, fields}`` the browser posts to
        the bank; NotFound for an unknown bank. browser_key: a secret the starting
        browser keeps (at least 32 characters); the reply then logs in only a
        finish_banklink_login that shows it."""
        bank = self._bank(bank_id)
        if not isinstance(return_url, str) or not return_url.startswith(("http://", "https://")):
            raise ValidationFailed.field("return_url", "must be an http(s) URL")
        if browser_key is not None and not (isinstance(browser_key, str)
                                            and 32 <= len(browser_key) <= 200):
            raise ValidationFailed.field("browser_key", "32 to 200 characters")
        with self.db.unit_of_work() as uow:
            return login.start(uow, bank, return_url, browser_key)

    @rpc
    def finish_banklink_login(self, bank_id, fields, browser_key=None):
        """Check a bank's 3012/3013 reply and open a session.

        fields: the bank's ``VK_*`` fields. returns ``{token, expires_at, person:
        {person_code, name}}``. raises Unauthenticated (``code`` names the failed
        rule; ``banklink-other-browser`` when the login was started with a
        browser_key this call does not show) or Forbidden (no active contract, code
        ``no-active-contract``).
        """
        fields = _form_fields(fields)
        browser_key = browser_key if isinstance(browser_key, str) else None
        try:
            bank = self._bank(bank_id)
            with self.db.unit_of_work() as uow:
                person_code, name = login.finish(uow, bank, fields, browser_key)
                token, expires_at = sessions.open_session(uow, "customer", person_code,
                                                          self._policy())
        except Exception as exc:
            outcome = getattr(exc, "code", None) or type(exc).__name__
            with self.db.unit_of_work() as uow:
                login.log_attempt(uow, str(bank_id), fields, outcome, str(exc))
            raise
        with self.db.unit_of_work() as uow:
            login.log_attempt(uow, bank.id, fields, "ok")
        return {"token": token, "expires_at": expires_at.isoformat(),
                "person": {"person_code": person_code, "name": name}}

    # -- customers: paying through the bank ----------------------------------------

    @rpc
    def payment_request(self, bank_id, stamp, amount, reference_no, message, return_url):
        """The signed banklink payment request the customer's browser posts to the bank:
        1012, or 1011 (into our ``account``) where the bank's configuration says so.

        stamp: the payment order's id (at most 20 characters), given back in the reply;
        amount: euros as a string with two decimals (``"12.34"``); reference_no (at most
        35 characters) and message (at most 95) go to the payment as they are; the bank
        posts its 1111 (paid) or 1911 (cancelled) to return_url. returns ``{action,
        method: "POST", fields: {VK_*, VK_MAC, VK_ENCODING, VK_LANG}}``. raises NotFound
        (unknown bank, code ``banklink-unknown-bank``) or ValidationFailed naming the
        fields.
        """
        bank = self.banks.get(str(bank_id))
        if bank is None:
            raise NotFound(f"unknown bank {bank_id!r}", code="banklink-unknown-bank")
        return payments.request(bank, self.clock.now(), stamp, amount, reference_no,
                                message, return_url)

    @rpc
    def verify_payment_reply(self, bank_id, fields):
        """Check a bank's 1111 (paid) or 1911 (cancelled) reply to a payment request.

        fields: the bank's ``VK_*`` fields. returns ``{status: "paid" | "cancelled",
        stamp, reference_no, message, amount ("12.34"), currency, transaction_no,
        paid_at (ISO 8601), payer_name, payer_account, auto}``, the fields from amount
        to payer_account None for a 1911; auto is true when the bank itself posted the
        reply (VK_AUTO=Y). The same reply may come more than once: record a payment
        once per stamp. raises Unauthenticated, ``code`` naming the failed rule, as
        for a login reply.
        """
        fields = _form_fields(fields)
        try:
            bank = self._bank(bank_id)
            payment = payments.check_reply(bank, fields)
        except Exception as exc:
            outcome = getattr(exc, "code", None) or type(exc).__name__
            with self.db.unit_of_work() as uow:
                payments.log_reply(uow, str(bank_id), fields, outcome, str(exc))
            raise
        with self.db.unit_of_work() as uow:
            payments.log_reply(uow, bank.id, fields, f"payment-{payment['status']}")
        return payment

    def _bank(self, bank_id):
        bank = self.banks.get(str(bank_id))
        if bank is None:
            raise Unauthenticated(f"unknown bank {bank_id!r}", code="banklink-unknown-bank")
        return bank

    # -- sessions ----------------------------------------------------------------

    @rpc
    def resolve_session(self, token):
        """Who holds this token (and the session is seen now).

        returns ``{kind: "customer", person: {person_code, name}, customers:
        [{customer_id, name, relation, scopes}]}`` or ``{kind: "operator",
        operator: {username, role}}``, each with ``reusable_until`` (ISO 8601): the
        answer holds until then unless identity announces a change (session_ended,
        access_changed, mandate_granted); raises Unauthenticated.
        """
        with self.db.unit_of_work() as uow:
            session = sessions.touch(uow, token, self._policy())
            if session["kind"] == "operator":
                principal = {"kind": "operator",
                             "operator": operators.operator(uow, session["subject"])}
            else:
                principal = self._customer_principal(uow, session["subject"])
            return {**principal, "reusable_until": self._reusable_until(session)}

    def _reusable_until(self, session):
        return sessions.reusable_until(session, self._policy(), self.clock.now()).isoformat()

    def _customer_principal(self, uow, person_code):
        customers = [{**c, "relation": "self", "scopes": list(SCOPES)}
                     for c in eligibility.customers_of(uow, person_code)]
        own = {c["customer_id"] for c in customers}
        # a customer's own entries carry their name: no query for the person then
        person = ({"person_code": person_code, "name": customers[0]["name"]} if customers
                  else eligibility.person(uow, person_code))
        customers += [c for c in mandates.live_for(uow, person_code)
                      if c["customer_id"] not in own]
        return {"kind": "customer", "person": person, "customers": customers}

    @rpc
    def authorize_customer(self, token, customer_id, scope, consumption_point_id=None,
                           action="read", resource="", what=""):
        """May the holder of ``token`` use a route needing ``scope`` for the customer
        (and the consumption point, if the route names one)? Decided from the mandates
        as they are now. A use under a mandate is written to the customer's access log.

        returns the principal as resolve_session does (``reusable_until`` included),
        with ``acting_for`` (the entry of ``customers``); raises Unauthenticated, Forbidden (``code``: wrong-principal,
        self-only, scope-missing, mandate-revoked, mandate-expired,
        mandate-not-yet-valid, mandate-consumption-point) or NotFound (no relation).
        """
        customer_id = str(customer_id)
        with self.db.unit_of_work() as uow:
            session = sessions.touch(uow, token, self._policy())
            if session["kind"] != "customer":
                raise Forbidden("this route is for a customer; your session is not",
                                code="wrong-principal")
            person_code = session["subject"]
            principal = self._customer_principal(uow, person_code)
            acting = next((c for c in principal["customers"]
                           if c["customer_id"] == customer_id and c["relation"] == "self"), None)
            if acting is None:
                mandate = mandates.check(uow, person_code, customer_id, scope,
                                         consumption_point_id)
                acting = next(c for c in principal["customers"]
                              if c.get("mandate_id") == mandate["mandate_id"])
                mandates.log_access(uow, customer_id, person_code, action, resource, what,
                                    mandate["mandate_id"])
            return {**principal, "acting_for": acting,
                    "reusable_until": self._reusable_until(session)}

    @rpc
    def customer_overview(self, token, reads, own_customer_ids, banks=False):
        """identity's part of a page about several customers, in one call: each of
        ``reads`` (``[{customer_id, scope, what}]``) authorized as authorize_customer
        authorizes a read of ``/customers/<customer_id>`` (a use under a mandate is
        written to the access log); the mandates (as mandates_of) and the access log
        of each of ``own_customer_ids`` (the person's own customers only); the banks
        (as list_banks) when ``banks``. returns ``{acting_for: {customer_id: entry of
        customers}, mandates: {customer_id: ...}, access_log: {customer_id: [...]},
        banks}``; raises as authorize_customer, NotFound for a customer not the
        person's own."""
        if not isinstance(reads, list) or not isinstance(own_customer_ids, list):
            raise ValidationFailed.field("reads", "lists of reads and of customer ids")
        with self.db.unit_of_work() as uow:
            session = sessions.touch(uow, token, self._policy())
            if session["kind"] != "customer":
                raise Forbidden("this page is for a customer; your session is not",
                                code="wrong-principal")
            person_code = session["subject"]
            principal = self._customer_principal(uow, person_code)
            own = {c["customer_id"]: c for c in principal["customers"]
                   if c["relation"] == "self"}
            acting = {}
            for read in reads:
                customer_id = str(read["customer_id"])
                if customer_id in own:
                    acting[customer_id] = own[customer_id]
                    continue
                mandate = mandates.check(uow, person_code, customer_id, str(read["scope"]),
                                         None)
                acting[customer_id] = next(c for c in principal["customers"]
                                           if c.get("mandate_id") == mandate["mandate_id"])
                mandates.log_access(uow, customer_id, person_code, "read",
                                    f"/customers/{customer_id}", str(read.get("what", "")),
                                    mandate["mandate_id"])
            mine = [str(c) for c in own_customer_ids]
            for customer_id in mine:
                if customer_id not in own:
                    raise NotFound(f"no customer {customer_id}")
            return {"acting_for": acting,
                    "mandates": {c: mandates.of_customer(uow, c, person_code) for c in mine},
                    "access_log": {c: mandates.access_log_of(uow, c) for c in mine},
                    "banks": self.list_banks() if banks else None}

    @rpc
    def record_access(self, customer_id, person_code, action, resource, what, mandate_id):
        """A use of the customer's data under a mandate, for routes that learn whose
        data it is only from the answer (a payment book)."""
        with self.db.unit_of_work() as uow:
            mandates.log_access(uow, str(customer_id), str(person_code), str(action),
                                str(resource), str(what), str(mandate_id))

    # -- mandates --------------------------------------------------------------------

    @rpc
    def grant_mandate(self, grantor_customer_id, grant, created_by):
        """Online, by the grantor: ``grant`` is API.md's ``{grantee_person_code,
        scopes, consumption_point_ids?, valid_from?, valid_until?}``."""
        grant = parse(mandates.MandateGrant, grant)
        with self.db.unit_of_work() as uow:
            return mandates.grant(uow, str(grantor_customer_id), grant, "online",
                                  str(created_by))

    @rpc
    def register_mandate(self, grant, operator):
        """At the office: ``grant`` adds ``grantor_person_code``."""
        grant = parse(mandates.OfficeMandate, grant)
        with self.db.unit_of_work() as uow:
            return mandates.register_at_office(uow, grant, str(operator))

    @rpc
    def revoke_mandate(self, grantor_customer_id, mandate_id, revoked_by):
        with self.db.unit_of_work() as uow:
            mandates.revoke(uow, str(grantor_customer_id), str(mandate_id), str(revoked_by))

    @rpc
    def mandates_of(self, customer_id, person_code):
        """``{granted: [...], received: [...]}``"""
        with self.db.unit_of_work() as uow:
            return mandates.of_customer(uow, str(customer_id), str(person_code))

    @rpc
    def access_log(self, customer_id):
        with self.db.unit_of_work() as uow:
            return mandates.access_log_of(uow, str(customer_id))

    @rpc
    def mandate_sweep(self, as_of=None):
        """Mandates whose last day is before ``as_of`` (default today) have expired:
        mandate_expired, once each. returns ``{mandates_expired}``."""
        try:
            day = date.fromisoformat(as_of) if as_of else self.clock.today()
        except (TypeError, ValueError):
            raise ValidationFailed.field("as_of", "a date, YYYY-MM-DD") from None
        with self.db.unit_of_work() as uow:
            return {"mandates_expired": mandates.expire(uow, day)}

    @timer(interval=3600)
    def hourly_mandate_sweep(self):
        self.mandate_sweep()

    @rpc
    def logout(self, token):
        """Ends the session at once. returns True if it was live."""
        with self.db.unit_of_work() as uow:
            return sessions.end_session(uow, token)

    # -- operators ---------------------------------------------------------------

    @rpc
    def add_operator(self, username, role, password):
        """returns ``{username, role}``; ValidationFailed, Conflict."""
        with self.db.unit_of_work() as uow:
            return operators.add_operator(uow, username, role, password)

    @rpc
    def operator_login(self, username, password, client_address):
        """returns ``{token, expires_at}``; Unauthenticated, TooManyAttempts (429)."""
        username, password = str(username or ""), str(password or "")
        client_address = str(client_address or "unknown")
        with self.db.unit_of_work() as uow:
            found = operators.authenticate(uow, username, password, client_address,
                                           self._rate_limit())
            if found is not None:
                token, expires_at = sessions.open_session(uow, "operator", found["username"],
                                                          self._policy())
        if found is None:
            with self.db.unit_of_work() as uow:
                operators.record_failure(uow, username, client_address)
            operators.refuse()
        return {"token": token, "expires_at": expires_at.isoformat()}

    def _policy(self):
        return sessions.SessionPolicy(
            idle_timeout=timedelta(minutes=cfg.float_setting(
                self.config, "VOOL_SESSION_IDLE_MINUTES", 15)),
            lifetime=timedelta(hours=cfg.float_setting(
                self.config, "VOOL_SESSION_LIFETIME_HOURS", 8)))

    def _rate_limit(self):
        return operators.RateLimit(
            per_account=cfg.int_setting(self.config, "VOOL_LOGIN_FAILURES_PER_ACCOUNT", 5),
            per_address=cfg.int_setting(self.config, "VOOL_LOGIN_FAILURES_PER_ADDRESS", 20),
            window=timedelta(minutes=cfg.float_setting(
                self.config, "VOOL_LOGIN_FAILURE_WINDOW_MINUTES", 15)))
