"""identity: persons, logins, sessions, operators and mandates (entrypoints only;
what each method takes, returns and raises is in services/identity/api.py)."""
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from nameko.dependency_providers import Config
from nameko.timer import timer

from services.common.correlation import Correlation
from services.common import config as cfg
from services.common.clock import ClockProvider
from services.common.db import Database
from services.common.ops import OpsPort
from services.common.errors import Forbidden, NotFound, TooManyAttempts, Unauthenticated
from services.common.messaging import event_handler
from services.common.rpc import rpc
from services.common.scopes import SCOPES
from services.common.validation import operating_date
from services.contracts.api import ConsumptionPointLinked, ContractSigned, ContractTerminated
from services.identity import (api, applications, eligibility, grants, login, login_limits,
                               mandates, oidc, operators, payments, sessions)
from services.identity.banks import Banks
from services.identity.oidc_providers import Providers
from services.identity.models import metadata

#: what must never reach a log or a tracer: session tokens, passwords, the secret a
#: browser keeps, and a bank's reply (a person code, and what signs it)
TOKEN, PASSWORD, BANK_REPLY = ("token",), ("password",), ("fields", "browser_key")
#: an OpenID Connect callback: the code and state open a session, the key binds it
OIDC_CALLBACK = ("code", "state", "browser_key")
#: the token endpoint's request holds a code, a refresh token or a client secret
SHARING_SECRETS = ("request", "basic_client_secret")


class IdentityService:
    name = "identity"
    correlation = Correlation()   # each worker's request id and span: logs, RPCs, events

    db = Database(metadata, Path(__file__).parent / "migrations")
    ops = OpsPort()   # /metrics and /health on VOOL_OPS_ADDRESS; every worker measured
    banks = Banks()
    oidc_providers = Providers()
    config = Config()
    clock = ClockProvider()

    @rpc(api.health)
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

    @rpc(api.is_eligible)
    def is_eligible(self, person_code):
        with self.db.unit_of_work() as uow:
            return (eligibility.has_active_contract(uow, person_code)
                    or mandates.may_log_in(uow, person_code))

    # -- customers: banklink ---------------------------------------------------

    @rpc(api.list_banks)
    def list_banks(self):
        return [{"id": b.id, "name": b.name} for b in self.banks.values()]

    @rpc(api.start_banklink_login, sensitive_arguments=("browser_key",))
    def start_banklink_login(self, bank_id, return_url, browser_key=None, language="et",
                             client_address=None):
        bank = self._bank(bank_id)
        who = login_limits.address(client_address)
        with self._start_limited(bank.id, who, login.log_attempt, {}) as uow:
            return login.start(uow, bank, return_url, browser_key, language, who)

    @rpc(api.finish_banklink_login, sensitive_arguments=BANK_REPLY)
    def finish_banklink_login(self, bank_id, fields, browser_key=None, client_address=None):
        who = login_limits.address(client_address)
        try:
            bank = self._bank(bank_id)
            with self.db.unit_of_work() as uow:
                login_limits.check_failures(uow, who, self._customer_login_limit())
                person_code, name = login.finish(uow, bank, fields, browser_key)
                token, expires_at = sessions.open_session(uow, "customer", person_code,
                                                          self._policy())
        except Exception as exc:
            outcome = getattr(exc, "code", None) or type(exc).__name__
            with self.db.unit_of_work() as uow:
                login.log_attempt(uow, bank_id, fields, outcome, str(exc), who)
            raise
        with self.db.unit_of_work() as uow:
            login.log_attempt(uow, bank.id, fields, "ok", client_address=who)
        return {"token": token, "expires_at": expires_at.isoformat(),
                "person": {"person_code": person_code, "name": name}}

    # -- customers: OpenID Connect ----------------------------------------------------

    @rpc(api.list_login_providers)
    def list_login_providers(self):
        return ([{"id": b.id, "name": b.name, "kind": "bank"} for b in self.banks.values()]
                + [{"id": p.provider.id, "name": p.provider.name, "kind": "oidc"}
                   for p in self.oidc_providers.values()])

    @rpc(api.start_oidc_login, sensitive_arguments=("browser_key",))
    def start_oidc_login(self, provider_id, redirect_uri, browser_key=None, via="api",
                         language="et", client_address=None):
        metadata = self._oidc_provider(provider_id)
        who = login_limits.address(client_address)
        with self._start_limited(provider_id, who, oidc.log_attempt) as uow:
            return oidc.start(uow, metadata, redirect_uri, browser_key, via, language, who)

    @contextmanager
    def _start_limited(self, way, who, log_attempt, *log_args):
        """A unit of work to start a login in, once the client's address is within
        its limits; a refusal is logged (``log_attempt`` is banklink's or OIDC's)."""
        try:
            with self.db.unit_of_work() as uow:
                login_limits.check_starts(uow, who, self._customer_login_limit())
                yield uow
        except TooManyAttempts as refused:   # the start itself never raises it
            with self.db.unit_of_work() as uow:
                log_attempt(uow, way, *log_args, refused.code, detail=str(refused),
                            client_address=who)
            raise

    @rpc(api.finish_oidc_login, sensitive_arguments=OIDC_CALLBACK)
    def finish_oidc_login(self, provider_id, code=None, state=None, browser_key=None,
                          error=None, client_address=None):
        attempt = oidc.Attempt()
        who = login_limits.address(client_address)
        try:
            metadata = self._oidc_provider(provider_id)
            with self.db.unit_of_work() as uow:
                login_limits.check_failures(uow, who, self._customer_login_limit())
            token, expires_at, person_code, name, flow = oidc.finish(
                self.db.unit_of_work, self.clock, metadata, self._policy(), attempt, code,
                state, browser_key, error)
        except Exception as exc:
            outcome = getattr(exc, "code", None) or type(exc).__name__
            with self.db.unit_of_work() as uow:
                oidc.log_attempt(uow, provider_id, outcome, attempt.person_code, attempt.amr,
                                 str(exc), client_address=who)
            raise
        with self.db.unit_of_work() as uow:
            oidc.log_attempt(uow, provider_id, "ok", person_code, attempt.amr,
                             client_address=who)
        return {"token": token, "expires_at": expires_at.isoformat(),
                "person": {"person_code": person_code, "name": name}, "via": flow["via"],
                "amr": attempt.amr}

    def _oidc_provider(self, provider_id):
        metadata = self.oidc_providers.get(provider_id)
        if metadata is None:
            raise Unauthenticated(f"unknown OpenID Connect provider {provider_id!r}",
                                  code="oidc-unknown-provider")
        return metadata

    # -- customers: paying through the bank ----------------------------------------

    @rpc(api.payment_request)
    def payment_request(self, bank_id, stamp, amount, reference_no, message, return_url,
                        language="et"):
        bank = self.banks.get(bank_id)
        if bank is None:
            raise NotFound(f"unknown bank {bank_id!r}", code="banklink-unknown-bank")
        # the banks' own form of the sum: two decimals, as it came
        return payments.request(bank, self.clock.now(), stamp, f"{amount:.2f}", reference_no,
                                message, return_url, language)

    @rpc(api.verify_payment_reply, sensitive_arguments=BANK_REPLY)
    def verify_payment_reply(self, bank_id, fields):
        try:
            bank = self._bank(bank_id)
            payment = payments.check_reply(bank, fields)
        except Exception as exc:
            outcome = getattr(exc, "code", None) or type(exc).__name__
            with self.db.unit_of_work() as uow:
                payments.log_reply(uow, bank_id, fields, outcome, str(exc))
            raise
        with self.db.unit_of_work() as uow:
            payments.log_reply(uow, bank.id, fields, f"payment-{payment['status']}")
        return payment

    def _bank(self, bank_id):
        bank = self.banks.get(bank_id)
        if bank is None:
            raise Unauthenticated(f"unknown bank {bank_id!r}", code="banklink-unknown-bank")
        return bank

    # -- sessions ----------------------------------------------------------------

    @rpc(api.resolve_session, sensitive_arguments=TOKEN)
    def resolve_session(self, token):
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

    @rpc(api.authorize_customer, sensitive_arguments=TOKEN)
    def authorize_customer(self, token, customer_id, scope, consumption_point_id=None,
                           action="read", resource="", what="", use=None, details=None,
                           log=True):
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
                if log:
                    # a change is logged as attempted now, its outcome comes after it
                    entry_id = mandates.log_access(
                        uow, customer_id, person_code, action, resource, what,
                        mandate["mandate_id"], use, details,
                        outcome="done" if action == "read" else None)
                    if action == "change":
                        return {**principal, "acting_for": acting,
                                "access_log_entry_id": entry_id,
                                "reusable_until": self._reusable_until(session)}
            return {**principal, "acting_for": acting,
                    "reusable_until": self._reusable_until(session)}

    @rpc(api.customer_overview, sensitive_arguments=TOKEN)
    def customer_overview(self, token, reads, own_customer_ids, banks=False,
                          use="portal:overview", principal=False):
        with self.db.unit_of_work() as uow:
            session = sessions.touch(uow, token, self._policy())
            if session["kind"] != "customer":
                raise Forbidden("this page is for a customer; your session is not",
                                code="wrong-principal")
            person_code = session["subject"]
            with_principal = principal
            principal = self._customer_principal(uow, person_code)
            own = {c["customer_id"]: c for c in principal["customers"]
                   if c["relation"] == "self"}
            held = {c["customer_id"]: c for c in principal["customers"]}
            acting, seen, granted = {}, {}, set()
            for read in reads:
                customer_id = read.customer_id
                if read.optional:
                    if customer_id not in held:     # as resolve_session's principal says
                        raise NotFound(f"no customer {customer_id}")
                    if (read.scope not in held[customer_id]["scopes"]
                            or (customer_id, read.part) in granted):
                        continue
                granted.add((customer_id, read.part))
                if customer_id in own:
                    acting[customer_id] = own[customer_id]
                    continue
                mandate = mandates.check(uow, person_code, customer_id, read.scope, None)
                acting[customer_id] = next(c for c in principal["customers"]
                                           if c.get("mandate_id") == mandate["mandate_id"])
                seen.setdefault(customer_id, (mandate, []))[1].append(read)
            # one entry per customer per page seen, naming the parts it showed
            for customer_id, (mandate, parts) in (seen.items() if use else ()):
                mandates.log_access(
                    uow, customer_id, person_code, "read", f"/customers/{customer_id}",
                    "; ".join(r.what for r in parts if r.what), mandate["mandate_id"], use,
                    {"parts": [r.part for r in parts if r.part]})
            mine = own_customer_ids
            for customer_id in mine:
                if customer_id not in own:
                    raise NotFound(f"no customer {customer_id}")
            return {"acting_for": acting,
                    "mandates": {c: mandates.of_customer(uow, c, person_code) for c in mine},
                    "access_log": {c: mandates.access_log_of(uow, c) for c in mine},
                    "banks": self.list_banks() if banks else None,
                    "principal": {**principal, "reusable_until": self._reusable_until(session)}
                    if with_principal else None}


    @rpc(api.record_access)
    def record_access(self, customer_id, person_code, action, resource, what, mandate_id,
                      use=None, details=None):
        with self.db.unit_of_work() as uow:
            mandates.log_access(uow, customer_id, person_code, action, resource, what,
                                mandate_id, use, details)

    @rpc(api.record_use_outcome)
    def record_use_outcome(self, entry_id, customer_id, outcome):
        with self.db.unit_of_work() as uow:
            mandates.record_outcome(uow, entry_id, customer_id, outcome)

    # -- mandates --------------------------------------------------------------------

    @rpc(api.grant_mandate)
    def grant_mandate(self, grantor_customer_id, grant, created_by):
        with self.db.unit_of_work() as uow:
            return mandates.grant(uow, grantor_customer_id, grant, "online", created_by)

    @rpc(api.register_mandate)
    def register_mandate(self, grant, operator):
        with self.db.unit_of_work() as uow:
            return mandates.register_at_office(uow, grant, operator)

    @rpc(api.revoke_mandate)
    def revoke_mandate(self, grantor_customer_id, mandate_id, revoked_by):
        with self.db.unit_of_work() as uow:
            mandates.revoke(uow, grantor_customer_id, mandate_id, revoked_by)

    @rpc(api.mandates_of)
    def mandates_of(self, customer_id, person_code):
        with self.db.unit_of_work() as uow:
            return mandates.of_customer(uow, customer_id, person_code)

    @rpc(api.access_log)
    def access_log(self, customer_id):
        with self.db.unit_of_work() as uow:
            return mandates.access_log_of(uow, customer_id)

    @rpc(api.mandate_sweep)
    def mandate_sweep(self, as_of=None):
        today = self.clock.today()
        # as every sweep: at most a day ahead (a later day would expire mandates early)
        day = operating_date(as_of, "as_of", today, ahead_days=1) if as_of else today
        with self.db.unit_of_work() as uow:
            return {"mandates_expired": mandates.expire(uow, day)}

    @timer(interval=3600)
    def hourly_mandate_sweep(self):
        self.mandate_sweep()

    @rpc(api.logout, sensitive_arguments=TOKEN)
    def logout(self, token):
        with self.db.unit_of_work() as uow:
            return sessions.end_session(uow, token)

    # -- operators ---------------------------------------------------------------

    @rpc(api.add_operator, sensitive_arguments=PASSWORD)
    def add_operator(self, username, role, password):
        with self.db.unit_of_work() as uow:
            return operators.add_operator(uow, username, role, password)

    @rpc(api.operator_login, sensitive_arguments=PASSWORD)
    def operator_login(self, username, password, client_address):
        client_address = client_address or "unknown"
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

    # -- sharing data with third-party applications (OAuth 2) ------------------------

    @rpc(api.register_application)
    def register_application(self, application, operator):
        with self.db.unit_of_work() as uow:
            return applications.register(uow, application, operator)

    @rpc(api.list_applications)
    def list_applications(self):
        with self.db.unit_of_work() as uow:
            return applications.all_of(uow)

    @rpc(api.check_authorization_request)
    def check_authorization_request(self, request):
        with self.db.unit_of_work() as uow:
            return grants.check_request(uow, request)

    @rpc(api.consent_to_sharing, sensitive_arguments=TOKEN)
    def consent_to_sharing(self, token, consent):
        with self.db.unit_of_work() as uow:
            session = sessions.touch(uow, token, self._policy())
            if session["kind"] != "customer":
                raise Forbidden("consent is a customer's; your session is not",
                                code="wrong-principal")
            return grants.consent(uow, session["subject"], consent)

    @rpc(api.exchange_sharing_token, sensitive_arguments=SHARING_SECRETS)
    def exchange_sharing_token(self, request, basic_client_id=None, basic_client_secret=None):
        try:
            with self.db.unit_of_work() as uow:
                return grants.exchange(uow, request, basic_client_id, basic_client_secret)
        except grants.TokenReuse as reuse:
            with self.db.unit_of_work() as uow:
                grants.revoke_for_reuse(uow, reuse.grant_id)
            raise Forbidden("the code or refresh token was used already: the grant is "
                            "revoked", code="invalid-grant") from None

    @rpc(api.use_shared_data, sensitive_arguments=("access_token",))
    def use_shared_data(self, access_token, scope, consumption_point_id=None, resource="",
                        what="", use=None, details=None):
        with self.db.unit_of_work() as uow:
            return grants.use(uow, access_token, scope, consumption_point_id, resource, what,
                              use, details or {})

    @rpc(api.sharing_grants_of)
    def sharing_grants_of(self, customer_id):
        with self.db.unit_of_work() as uow:
            return grants.of_customer(uow, customer_id)

    @rpc(api.revoke_sharing_grant)
    def revoke_sharing_grant(self, customer_id, grant_id, revoked_by):
        with self.db.unit_of_work() as uow:
            grants.revoke(uow, customer_id, grant_id, revoked_by)

    def _policy(self):
        return sessions.SessionPolicy(
            idle_timeout=timedelta(minutes=cfg.float_setting(
                self.config, "VOOL_SESSION_IDLE_MINUTES", 15)),
            lifetime=timedelta(hours=cfg.float_setting(
                self.config, "VOOL_SESSION_LIFETIME_HOURS", 8)))

    def _customer_login_limit(self):
        return login_limits.CustomerLoginLimit(
            starts_per_address=cfg.int_setting(
                self.config, "VOOL_CUSTOMER_LOGIN_STARTS_PER_ADDRESS", 300),
            failures_per_address=cfg.int_setting(
                self.config, "VOOL_CUSTOMER_LOGIN_FAILURES_PER_ADDRESS", 100),
            window=timedelta(minutes=cfg.float_setting(
                self.config, "VOOL_CUSTOMER_LOGIN_WINDOW_MINUTES", 15)))

    def _rate_limit(self):
        return operators.RateLimit(
            per_account=cfg.int_setting(self.config, "VOOL_LOGIN_FAILURES_PER_ACCOUNT", 5),
            per_address=cfg.int_setting(self.config, "VOOL_LOGIN_FAILURES_PER_ADDRESS", 20),
            window=timedelta(minutes=cfg.float_setting(
                self.config, "VOOL_LOGIN_FAILURE_WINDOW_MINUTES", 15)))
