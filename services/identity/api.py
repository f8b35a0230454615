"""identity's published interface: its RPC methods (what each takes, returns and
raises) and the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from identity.
"""
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, Field, field_validator, model_validator

from services.common.errors import (
    Conflict, Forbidden, NotFound, TooManyAttempts, Unauthenticated, ValidationFailed)
from services.common.events import EventData, Moment, Money
from services.common.identifiers import valid_personal_code
from services.common.rpc_methods import Arguments, Health, RpcMethod
from services.common.scopes import SCOPES, SHARING_SCOPES
from services.common.validation import Shape, rule_error


class MandateEvent(EventData):
    """A mandate as it stands after the change the event type names."""
    mandate_id: str
    grantor_customer_id: str
    grantee_person_code: str
    scopes: list[str]
    valid_from: date
    consumption_point_ids: list[str] = []      # none: all of the grantor's
    valid_until: Optional[date] = None
    ends_on: Optional[date] = None             # the grantor's last contract's last day
    grantor_name: Optional[str] = None
    grantee_name: Optional[str] = None
    grantee_customer_id: Optional[str] = None  # when the grantee is a customer too
    created_via: Optional[str] = None          # online | office
    revoked_at: Optional[Moment] = None
    status: Optional[str] = None


class MandateGranted(MandateEvent):
    event_type = "mandate_granted"
    version = 1


class MandateRevoked(MandateEvent):
    event_type = "mandate_revoked"
    version = 1


class MandateExpired(MandateEvent):
    event_type = "mandate_expired"
    version = 1


class SessionEnded(EventData):
    """A session logged out or ended: gateways forget what they kept of it."""
    event_type = "session_ended"
    version = 1

    session: str


class AccessChanged(EventData):
    """Whom these persons may act for has changed (a contract signed, ended, moved)."""
    event_type = "access_changed"
    version = 1

    person_codes: list[str]


EVENTS = (MandateGranted, MandateRevoked, MandateExpired, SessionEnded, AccessChanged)


# -- RPC ----------------------------------------------------------------------------

#: what a banklink request or reply holds: its VK_* fields as the form posts them
BankFields = dict[str, str]
#: the languages the portal and the banks' pages speak
Language = Literal["et", "en"]
OperatorRole = Literal["desk", "admin"]
MandateStatus = Literal["live", "not_yet_valid", "expired", "revoked"]
#: a person code (isikukood) as identity stores it
PERSON_CODE = 11
#: a customer's, a consumption point's or a mandate's id
ID = 36
#: the longest value the banks accept in each field of a payment request (iPizza)
PAYMENT_MAX_LENGTH = {"stamp": 20, "reference_no": 35, "message": 95, "return_url": 255}
#: euros and cents as the banks take VK_AMOUNT: at most 12 characters, no leading zeros
BANK_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,8})\.[0-9]{2}")
HTTP_URL = r"^https?://"


def _bank_amount(value):
    # text goes to the bank as it is, so it must already be in the banks' form; a
    # Decimal (a program calling with the model) is written in it when whole cents
    if isinstance(value, Decimal) and value.is_finite() and value == round(value, 2):
        value = f"{value:.2f}"
    if not (isinstance(value, str) and value != "0.00" and BANK_AMOUNT.fullmatch(value)):
        raise ValueError('a positive sum of euros with two decimals, like "12.34"')
    return value


#: a payment's sum as the banks take it: "12.34" on the wire, a Decimal inside
BankAmount = Annotated[Money, BeforeValidator(_bank_amount)]


class MandateGrant(Shape):
    """What the grantor asks for online (API.md POST .../mandates)."""
    grantee_person_code: str
    scopes: list[str] = Field(min_length=1)
    consumption_point_ids: list[str] = Field(default_factory=list, max_length=100)
    valid_from: Optional[date] = None
    valid_until: Optional[date] = None

    @field_validator("grantee_person_code")
    @classmethod
    def _person_code(cls, value):
        return valid_personal_code(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value):
        unknown = sorted(set(value) - set(SCOPES))
        if unknown:
            raise rule_error("scope-unknown", f"unknown scope {', '.join(unknown)}; one of "
                                              f"{', '.join(SCOPES)}", scopes=", ".join(unknown))
        return sorted(set(value))

    @model_validator(mode="after")
    def _period(self):
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise rule_error("date-before-start", "valid_until is before valid_from",
                             valid_from=self.valid_from.isoformat())
        return self


class OfficeMandate(MandateGrant):
    """A mandate signed at the office (POST /api/v1/operator/mandates)."""
    grantor_person_code: str

    @field_validator("grantor_person_code")
    @classmethod
    def _grantor_code(cls, value):
        return valid_personal_code(value)


class Bank(BaseModel):
    id: str
    name: str


class LoginProvider(BaseModel):
    """A way to log in: a bank (banklink) or an OpenID Connect provider."""
    id: str
    name: str
    kind: Literal["bank", "oidc"]


class OidcAuthorization(BaseModel):
    """Where to send the browser: the provider's authorization request (code flow,
    PKCE S256, state and nonce)."""
    authorization_url: str


class BanklinkForm(BaseModel):
    """A signed banklink request: the browser posts ``fields`` to ``action``."""
    action: str
    method: Literal["POST"]
    fields: BankFields


class Person(BaseModel):
    person_code: str
    name: str


class CustomerLogin(BaseModel):
    """A customer's new session."""
    token: str
    expires_at: datetime
    person: Person


class OidcLogin(CustomerLogin):
    """A customer's new session from an OpenID Connect login, and where the flow was
    started (the portal answers with its page, the API with this)."""
    via: Literal["api", "portal"]
    amr: list[str] = []


class ActingFor(BaseModel):
    """A customer the person may act for: themselves, or a grantor under a live mandate."""
    customer_id: str
    name: Optional[str]               # a grantor's name may be unknown to identity
    relation: Literal["self", "mandate"]
    scopes: list[str]
    mandate_id: Optional[str] = None                        # mandate only
    consumption_point_ids: Optional[list[str]] = None       # mandate only; [] for all
    #: mandate only: its last valid day (None: until revoked or the contract ends)
    valid_until: Optional[date] = None


class CustomerPrincipal(BaseModel):
    kind: Literal["customer"]
    person: Person
    customers: list[ActingFor]
    #: the answer holds until then unless identity announces a change
    #: (session_ended, access_changed, mandate_granted)
    reusable_until: datetime


class Operator(BaseModel):
    username: str
    role: OperatorRole


class OperatorPrincipal(BaseModel):
    kind: Literal["operator"]
    operator: Operator
    reusable_until: datetime


Principal = Annotated[Union[CustomerPrincipal, OperatorPrincipal], Field(discriminator="kind")]


class Authorized(CustomerPrincipal):
    """The principal, and the entry of ``customers`` the call acts for.
    ``access_log_entry_id``: a change under a mandate was logged as attempted; the
    caller records how it ended (record_use_outcome)."""
    acting_for: ActingFor
    access_log_entry_id: Optional[int] = None


class PaymentReply(BaseModel):
    """What a bank's 1111 (paid) or 1911 (cancelled) reply says; the fields from
    ``amount`` to ``payer_account`` are None for a 1911. ``auto``: the bank itself
    posted the reply (VK_AUTO=Y). The same reply may come more than once: record a
    payment once per stamp."""
    status: Literal["paid", "cancelled"]
    stamp: str
    reference_no: str
    message: str
    amount: Optional[Money]
    currency: Optional[str]
    transaction_no: Optional[str]
    paid_at: Optional[datetime]
    payer_name: Optional[str]
    payer_account: Optional[str]
    auto: bool


class Mandate(BaseModel):
    """A mandate as API.md lists it, with its state today."""
    mandate_id: str
    grantor_customer_id: str
    grantor_name: Optional[str]
    grantee_person_code: str
    grantee_name: Optional[str]
    scopes: list[str]
    consumption_point_ids: list[str]          # none: all of the grantor's
    valid_from: date
    valid_until: Optional[date]
    ends_on: Optional[date]                   # the grantor's last contract's last day
    created_via: Literal["online", "office"]
    revoked_at: Optional[datetime]
    status: MandateStatus


class CustomersMandates(BaseModel):
    granted: list[Mandate]    # by the customer
    received: list[Mandate]   # by the person


#: how a use ended: done; refused by the service; attempted (a change whose
#: outcome never came: the gateway stopped, or the service did not answer)
UseOutcome = Literal["done", "refused", "attempted"]


class AccessLogEntry(BaseModel):
    """One use of the customer's data under a mandate: a page seen, an API call."""
    at: datetime
    actor_person_code: str
    actor_name: Optional[str]
    action: Literal["read", "change"]
    resource: str
    what: Optional[str]
    mandate_id: Optional[str]
    #: which use, as a stable code the gateway puts in words (services/gateway/uses):
    #: the route's operation (``submit_reading``, ``invoice_pdf``) or a portal page
    #: (``portal:overview``); None for entries older than the codes
    use: Optional[str] = None
    #: what the use was about: consumption_point_id, invoice_no, reference_no,
    #: parts (of a page: consumption_points, invoices, contact, claims, desk)
    details: dict[str, Union[str, list[str]]] = {}
    outcome: UseOutcome = "done"
    #: a third-party application's use under a sharing grant: its client_id and
    #: name (the actor is the person who granted it)
    client_id: Optional[str] = None
    application: Optional[str] = None


class MandateSweepReport(BaseModel):
    mandates_expired: int


class OperatorLogin(BaseModel):
    token: str
    expires_at: datetime


class IsEligibleArguments(Arguments):
    person_code: str


class StartBanklinkLoginArguments(Arguments):
    bank_id: str
    return_url: str = Field(max_length=PAYMENT_MAX_LENGTH["return_url"], pattern=HTTP_URL)
    #: a secret the starting browser keeps: the reply then logs in only a
    #: finish_banklink_login that shows it
    browser_key: Optional[str] = Field(default=None, min_length=32, max_length=200)
    #: the language the bank's pages should speak (VK_LANG)
    language: Language = "et"
    #: where the login comes from, as the gateway sees it: customer logins are
    #: rate-limited per client address (services/identity/login_limits.py)
    client_address: Optional[str] = Field(default=None, max_length=64)


class StartOidcLoginArguments(Arguments):
    provider_id: str = Field(max_length=32)
    #: our callback, as registered with the provider
    redirect_uri: str = Field(max_length=255, pattern=HTTP_URL)
    #: a secret the starting browser or client keeps: only a finish_oidc_login that
    #: shows it finishes the flow
    browser_key: Optional[str] = Field(default=None, min_length=32, max_length=200)
    via: Literal["api", "portal"] = "api"
    language: Language = "et"
    #: where the login comes from, as the gateway sees it: customer logins are
    #: rate-limited per client address (services/identity/login_limits.py)
    client_address: Optional[str] = Field(default=None, max_length=64)


class FinishOidcLoginArguments(Arguments):
    provider_id: str = Field(max_length=32)
    code: Optional[str] = Field(default=None, max_length=2000)
    state: Optional[str] = Field(default=None, max_length=200)
    browser_key: Optional[str] = Field(default=None, max_length=200)
    #: the provider's error (error=access_denied, ...) when it sent one instead of a code
    error: Optional[str] = Field(default=None, max_length=200)
    #: where the login comes from, as the gateway sees it: customer logins are
    #: rate-limited per client address (services/identity/login_limits.py)
    client_address: Optional[str] = Field(default=None, max_length=64)


class FinishBanklinkLoginArguments(Arguments):
    bank_id: str
    fields: BankFields = Field(max_length=100)
    browser_key: Optional[str] = None
    #: where the login comes from, as the gateway sees it: customer logins are
    #: rate-limited per client address (services/identity/login_limits.py)
    client_address: Optional[str] = Field(default=None, max_length=64)


class PaymentRequestArguments(Arguments):
    bank_id: str
    #: the payment order's id, given back in the reply
    stamp: str = Field(min_length=1, max_length=PAYMENT_MAX_LENGTH["stamp"])
    amount: BankAmount
    reference_no: str = Field(max_length=PAYMENT_MAX_LENGTH["reference_no"])
    message: str = Field(max_length=PAYMENT_MAX_LENGTH["message"])
    #: where the bank posts its 1111 (paid) or 1911 (cancelled)
    return_url: str = Field(max_length=PAYMENT_MAX_LENGTH["return_url"], pattern=HTTP_URL)
    #: the language the bank's pages should speak (VK_LANG)
    language: Language = "et"


class VerifyPaymentReplyArguments(Arguments):
    bank_id: str
    fields: BankFields = Field(max_length=100)


class TokenArguments(Arguments):
    token: str


class AuthorizeCustomerArguments(Arguments):
    token: str
    customer_id: str
    #: the route's scope; "self" for what only the customer themselves may do
    scope: Optional[str] = Field(max_length=64)
    consumption_point_id: Optional[str] = None
    #: how a use under a mandate is written to the customer's access log
    action: Literal["read", "change"] = "read"
    resource: str = ""
    what: str = ""
    #: the use's code and what it is about, for the access log (AccessLogEntry)
    use: Optional[str] = Field(default=None, max_length=64)
    details: dict[str, str] = Field(default_factory=dict, max_length=10)
    #: False: only decide (the caller logs the use itself, e.g. a page's one entry)
    log: bool = True


class RecordAccessArguments(Arguments):
    customer_id: str = Field(max_length=ID)
    person_code: str = Field(max_length=PERSON_CODE)
    action: Literal["read", "change"]
    resource: str
    what: Optional[str]
    mandate_id: str = Field(max_length=ID)
    use: Optional[str] = Field(default=None, max_length=64)
    details: dict[str, str] = Field(default_factory=dict, max_length=10)


class RecordUseOutcomeArguments(Arguments):
    #: authorize_customer's access_log_entry_id
    entry_id: int
    customer_id: str = Field(max_length=ID)
    outcome: Literal["done", "refused"]


class GrantMandateArguments(Arguments):
    grantor_customer_id: str
    grant: MandateGrant
    #: who granted it, as histories record it (a person code)
    created_by: str = Field(min_length=1, max_length=80)


class RegisterMandateArguments(Arguments):
    grant: OfficeMandate
    #: the operator's user name
    operator: str = Field(min_length=1, max_length=64)


class RevokeMandateArguments(Arguments):
    grantor_customer_id: str
    mandate_id: str
    revoked_by: str = Field(min_length=1, max_length=80)


class MandatesOfArguments(Arguments):
    customer_id: str
    person_code: str


class AccessLogArguments(Arguments):
    customer_id: str


class MandateSweepArguments(Arguments):
    #: default today
    as_of: Optional[date] = None


class AddOperatorArguments(Arguments):
    username: str = Field(min_length=1, max_length=64)
    role: OperatorRole
    password: str = Field(min_length=12, max_length=1000)


class OperatorLoginArguments(Arguments):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1000)
    client_address: str = Field(max_length=64)


NOTHING = type(None)

class PageRead(Shape):
    """A read a page makes of a customer's data under the route's scope."""
    customer_id: str = Field(min_length=1, max_length=36)
    scope: str = Field(min_length=1, max_length=64)
    #: how the read is written to a grantor's access log
    what: str = Field(default="", max_length=300)
    #: the part of the page it is (consumption_points, invoices, contact, claims, desk)
    part: Optional[str] = Field(default=None, max_length=40)
    #: made only if the person holds ``scope`` for the customer and no earlier read of
    #: the same part was (a page asking before it knows the principal: every part it
    #: could show, each under the scopes that would show it, in order)
    optional: bool = False


class CustomerOverviewArguments(Arguments):
    token: str
    reads: list[PageRead] = Field(max_length=100)
    #: the person's own customers whose mandates and access log the page shows
    own_customer_ids: list[str] = Field(max_length=100)
    banks: bool = False
    #: the page, as the access log's use code: one entry per customer under a mandate
    #: per page seen, listing the parts read. None: checked, not logged (the page
    #: answering a form whose change is logged already: one use, one entry)
    use: Optional[str] = Field(default="portal:overview", max_length=64)
    #: also the session's principal, as resolve_session gives it: one call instead
    #: of two for a page whose principal the gateway does not keep
    principal: bool = False


class CustomerOverview(BaseModel):
    """identity's part of a page about several customers."""
    acting_for: dict[str, ActingFor]
    mandates: dict[str, CustomersMandates]
    access_log: dict[str, list[AccessLogEntry]]
    banks: Optional[list[Bank]] = None
    principal: Optional[CustomerPrincipal] = None


health = RpcMethod("identity", "health", returns=Health,
                   summary="Whether identity's database answers.")
is_eligible = RpcMethod(
    "identity", "is_eligible", IsEligibleArguments, returns=bool, raises=(ValidationFailed,),
    summary="Whether the person may log in: they hold an active contract or a live mandate.")
list_banks = RpcMethod(
    "identity", "list_banks", returns=list[Bank],
    summary="The banks customers can log in and pay through.")
start_banklink_login = RpcMethod(
    "identity", "start_banklink_login", StartBanklinkLoginArguments, returns=BanklinkForm,
    raises=(ValidationFailed, Unauthenticated, TooManyAttempts),
    summary="The signed banklink login request (4011/4012) the browser posts to the bank; "
            "Unauthenticated (code banklink-unknown-bank) for a bank not configured; "
            "TooManyAttempts (too-many-attempts, with retry_after) past the client "
            "address's login limits.")
finish_banklink_login = RpcMethod(
    "identity", "finish_banklink_login", FinishBanklinkLoginArguments, returns=CustomerLogin,
    raises=(ValidationFailed, Unauthenticated, Forbidden, TooManyAttempts),
    summary="Check a bank's 3012/3013 reply and open a session. Unauthenticated, its code "
            "naming the failed rule (banklink-other-browser when the login was started with "
            "a browser_key this call does not show); Forbidden (no-active-contract) for a "
            "person with no active contract and no mandate. Every attempt is logged; "
            "TooManyAttempts (too-many-attempts, with retry_after) past the client "
            "address's login limits.")
list_login_providers = RpcMethod(
    "identity", "list_login_providers", returns=list[LoginProvider],
    summary="Every way customers can log in: the banks (kind bank) and the OpenID Connect "
            "providers (kind oidc), as configured.")
start_oidc_login = RpcMethod(
    "identity", "start_oidc_login", StartOidcLoginArguments, returns=OidcAuthorization,
    raises=(ValidationFailed, Unauthenticated, TooManyAttempts),
    summary="The provider's authorization URL for a new OpenID Connect login (code flow, "
            "PKCE S256, state and nonce, kept for 10 minutes, one use each); "
            "Unauthenticated (oidc-unknown-provider, oidc-provider-unavailable); "
            "TooManyAttempts (too-many-attempts, with retry_after) past the client "
            "address's login limits.")
finish_oidc_login = RpcMethod(
    "identity", "finish_oidc_login", FinishOidcLoginArguments, returns=OidcLogin,
    raises=(ValidationFailed, Unauthenticated, Forbidden, TooManyAttempts),
    summary="The provider's callback: redeem the code, check the ID token (signature, iss, "
            "aud, exp, iat, nonce, acr) and open a session. Unauthenticated, its code "
            "naming the failed rule (oidc-reused-state, oidc-bad-signature, "
            "oidc-acr-too-low, ...); Forbidden (no-active-contract) for a person with no "
            "active contract and no mandate. Every attempt is logged (method "
            "oidc:<provider>, amr); "
            "TooManyAttempts (too-many-attempts, with retry_after) past the client "
            "address's login limits.")
payment_request = RpcMethod(
    "identity", "payment_request", PaymentRequestArguments, returns=BanklinkForm,
    raises=(ValidationFailed, NotFound),
    summary="The signed banklink payment request (1012, or 1011 into our account where the "
            "bank's configuration says so) the customer's browser posts to the bank; "
            "NotFound (code banklink-unknown-bank) for a bank not configured.")
verify_payment_reply = RpcMethod(
    "identity", "verify_payment_reply", VerifyPaymentReplyArguments, returns=PaymentReply,
    raises=(ValidationFailed, Unauthenticated),
    summary="Check a bank's 1111 (paid) or 1911 (cancelled) reply to a payment request; "
            "Unauthenticated, its code naming the failed rule, as for a login reply.")
resolve_session = RpcMethod(
    "identity", "resolve_session", TokenArguments, returns=Principal,
    raises=(ValidationFailed, Unauthenticated),
    summary="Who holds this session token (the session is seen now): a customer with the "
            "customers they may act for, or an operator.")
authorize_customer = RpcMethod(
    "identity", "authorize_customer", AuthorizeCustomerArguments, returns=Authorized,
    raises=(ValidationFailed, Unauthenticated, Forbidden, NotFound),
    summary="May the holder of the token use a route needing the scope for the customer "
            "(and the consumption point, if the route names one)? Decided from the mandates "
            "as they are now; a use under a mandate is written to the customer's access log. "
            "Forbidden's code: wrong-principal, self-only, scope-missing, mandate-revoked, "
            "mandate-expired, mandate-not-yet-valid, mandate-consumption-point; NotFound when "
            "the person has nothing to do with the customer.")
record_access = RpcMethod(
    "identity", "record_access", RecordAccessArguments, returns=NOTHING,
    raises=(ValidationFailed,),
    summary="Write a use of the customer's data under a mandate to their access log, for "
            "routes that learn whose data it is only from the answer (a payment book).")
grant_mandate = RpcMethod(
    "identity", "grant_mandate", GrantMandateArguments, returns=Mandate,
    raises=(ValidationFailed, Conflict),
    summary="The grantor authorises a person online; both must hold an active contract. "
            "Conflict (mandate-overlaps) when a mandate for the person covers some of that "
            "time already.")
register_mandate = RpcMethod(
    "identity", "register_mandate", RegisterMandateArguments, returns=Mandate,
    raises=(ValidationFailed, Conflict),
    summary="Register a mandate signed at the office, its grantor named by person code.")
revoke_mandate = RpcMethod(
    "identity", "revoke_mandate", RevokeMandateArguments, returns=NOTHING,
    raises=(ValidationFailed, NotFound),
    summary="Revoke a mandate of the grantor's at once; revoking it again changes nothing.")
mandates_of = RpcMethod(
    "identity", "mandates_of", MandatesOfArguments, returns=CustomersMandates,
    raises=(ValidationFailed,),
    summary="The mandates the customer has granted and those the person has received.")
access_log = RpcMethod(
    "identity", "access_log", AccessLogArguments, returns=list[AccessLogEntry],
    raises=(ValidationFailed,),
    summary="Who used the customer's data under a mandate, newest first (at most 1000).")
record_use_outcome = RpcMethod(
    "identity", "record_use_outcome", RecordUseOutcomeArguments, returns=NOTHING,
    raises=(ValidationFailed,),
    summary="How a change under a mandate ended (done, or refused by the service), for "
            "the entry authorize_customer logged as attempted; once: a later outcome "
            "changes nothing.")
mandate_sweep = RpcMethod(
    "identity", "mandate_sweep", MandateSweepArguments, returns=MandateSweepReport,
    raises=(ValidationFailed,),
    summary="Mandates whose last day is before as_of (default today, at most tomorrow) "
            "have expired: mandate_expired, once each. Also runs every hour.")
customer_overview = RpcMethod(
    "identity", "customer_overview", CustomerOverviewArguments, returns=CustomerOverview,
    raises=(ValidationFailed, Unauthenticated, Forbidden, NotFound),
    summary="A page's part of identity in one call: each read authorized as "
            "authorize_customer does (a use under a mandate written to the access log), "
            "the mandates and access log of the person's own customers, and the banks.")
logout = RpcMethod(
    "identity", "logout", TokenArguments, returns=bool, raises=(ValidationFailed,),
    summary="End the session at once; whether it was live.")
add_operator = RpcMethod(
    "identity", "add_operator", AddOperatorArguments, returns=Operator,
    raises=(ValidationFailed, Conflict),
    summary="Add a service-desk operator; Conflict when the user name is taken.")
operator_login = RpcMethod(
    "identity", "operator_login", OperatorLoginArguments, returns=OperatorLogin,
    raises=(ValidationFailed, Unauthenticated, TooManyAttempts),
    summary="An operator's login with user name and password; TooManyAttempts (with "
            "retry_after) after too many failures from the client's address.")


# -- sharing consumption data with third-party applications (OAuth 2) ------------------

#: the longest a sharing grant may last, and how long it lasts unless chosen
SHARING_MAX_DAYS = 365
SHARING_DEFAULT_DAYS = 90
SharingScope = Literal[SHARING_SCOPES]   # type: ignore[valid-type]
RedirectUri = Annotated[str, Field(min_length=8, max_length=500, pattern=r"^https?://[^\s#]+$")]


class NewApplication(Shape):
    """An operator registers a third party's application (POST
    /api/v1/operator/sharing/applications)."""
    name: str = Field(min_length=1, max_length=120)
    #: what the application does with the data, in its own words: shown to the
    #: customer on the consent page
    purpose: str = Field(min_length=1, max_length=500)
    #: where the customer's browser returns after consent; matched exactly
    redirect_uris: list[RedirectUri] = Field(min_length=1, max_length=10)


class Application(BaseModel):
    client_id: str
    name: str
    purpose: str
    redirect_uris: list[str]
    created_at: datetime
    disabled_at: Optional[datetime] = None


class RegisteredApplication(Application):
    """The application as registered, with its secret: shown this once, kept only
    as a hash."""
    client_secret: str


class AuthorizationRequest(Shape):
    """What an application asks for at /oauth/authorize."""
    client_id: str = Field(min_length=1, max_length=64)
    redirect_uri: str = Field(min_length=1, max_length=500)
    #: space-separated OAuth scopes; none: readings:read
    scope: str = Field(default="", max_length=200)


class ApplicationRequest(BaseModel):
    """An authorization request checked: the application, and the scopes it asks for."""
    application: Application
    redirect_uri: str
    scopes: list[SharingScope]


class Consent(Shape):
    """What the person allowed on the consent page."""
    client_id: str = Field(min_length=1, max_length=64)
    redirect_uri: str = Field(min_length=1, max_length=500)
    customer_id: str = Field(min_length=1, max_length=ID)
    scopes: list[SharingScope] = Field(min_length=1)
    consumption_point_ids: list[str] = Field(min_length=1, max_length=100)
    #: the last day the application may read; at most a year away
    valid_until: date
    #: PKCE (RFC 7636): the S256 challenge of the application's code verifier
    code_challenge: Optional[str] = Field(default=None, min_length=43, max_length=128,
                                          pattern=r"^[A-Za-z0-9_~.-]+$")
    code_challenge_method: Optional[Literal["S256"]] = None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value):
        return sorted(set(value))

    @model_validator(mode="after")
    def _pkce(self):
        if self.code_challenge_method and not self.code_challenge:
            raise rule_error("pkce-without-challenge",
                             "code_challenge_method without code_challenge")
        return self


class AuthorizationCode(BaseModel):
    """Where the browser goes with the code (the application's redirect_uri)."""
    code: str
    grant_id: str
    redirect_uri: str


class TokenRequest(Shape):
    """POST /oauth/token, as the form says (RFC 6749 §4.1.3, §6)."""
    grant_type: Literal["authorization_code", "refresh_token"]
    code: Optional[str] = Field(default=None, max_length=200)
    redirect_uri: Optional[str] = Field(default=None, max_length=500)
    code_verifier: Optional[str] = Field(default=None, min_length=43, max_length=128)
    refresh_token: Optional[str] = Field(default=None, max_length=200)
    scope: Optional[str] = Field(default=None, max_length=200)
    client_id: Optional[str] = Field(default=None, max_length=64)
    client_secret: Optional[str] = Field(default=None, max_length=200)


class SharingTokens(BaseModel):
    """RFC 6749 §5.1."""
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_token: str
    scope: str


class SharingGrant(BaseModel):
    """A grant as the customer's list shows it."""
    grant_id: str
    client_id: str
    application: str
    purpose: str
    customer_id: str
    granted_by: str
    granted_by_name: Optional[str] = None
    mandate_id: Optional[str] = None
    scopes: list[str]
    consumption_point_ids: list[str]
    valid_from: date
    valid_until: date
    created_at: datetime
    last_used_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    status: Literal["live", "expired", "revoked"]


class SharedAccess(BaseModel):
    """What a sharing access token lets its application read now."""
    grant_id: str
    client_id: str
    application: str
    customer_id: str
    scopes: list[str]
    consumption_point_ids: list[str]
    valid_from: date
    valid_until: date


class RegisterApplicationArguments(Arguments):
    application: NewApplication
    operator: str = Field(min_length=1, max_length=64)


class NoArgs(Arguments):
    pass


class CheckAuthorizationRequestArguments(Arguments):
    request: AuthorizationRequest


class ConsentArguments(Arguments):
    #: the session of the person consenting (the customer, or a delegate)
    token: str
    consent: Consent


class ExchangeTokenArguments(Arguments):
    request: TokenRequest
    #: the client's credentials from HTTP Basic, when it used that
    basic_client_id: Optional[str] = Field(default=None, max_length=64)
    basic_client_secret: Optional[str] = Field(default=None, max_length=200)


class SharedUseArguments(Arguments):
    access_token: str = Field(max_length=200)
    scope: SharingScope
    consumption_point_id: Optional[str] = Field(default=None, max_length=ID)
    resource: str = Field(default="", max_length=300)
    what: str = Field(default="", max_length=200)
    use: Optional[str] = Field(default=None, max_length=64)
    details: dict[str, str] = Field(default_factory=dict, max_length=10)


class SharingGrantsArguments(Arguments):
    customer_id: str = Field(max_length=ID)


class RevokeSharingGrantArguments(Arguments):
    customer_id: str = Field(max_length=ID)
    grant_id: str = Field(max_length=ID)
    revoked_by: str = Field(min_length=1, max_length=80)


register_application = RpcMethod(
    "identity", "register_application", RegisterApplicationArguments,
    returns=RegisteredApplication, raises=(ValidationFailed,),
    summary="Register a third party's application: a new client_id and client secret "
            "(returned this once, kept as an argon2 hash).")
list_applications = RpcMethod(
    "identity", "list_applications", NoArgs, returns=list[Application],
    summary="The registered applications (never their secrets).")
check_authorization_request = RpcMethod(
    "identity", "check_authorization_request", CheckAuthorizationRequestArguments,
    returns=ApplicationRequest, raises=(ValidationFailed, NotFound),
    summary="An /oauth/authorize request checked: the application (NotFound, code "
            "unknown-client) and its redirect_uri (ValidationFailed, code "
            "redirect-uri-mismatch: matched exactly); the scopes asked for (code "
            "invalid_scope).")
consent_to_sharing = RpcMethod(
    "identity", "consent_to_sharing", ConsentArguments, returns=AuthorizationCode,
    raises=(ValidationFailed, Unauthenticated, Forbidden, NotFound),
    summary="The person allows the application: a sharing grant and a one-time "
            "authorization code (10 minutes). A delegate's consent needs a live mandate "
            "with sharing:grant, and no more than it covers (scopes, points, dates).")
exchange_sharing_token = RpcMethod(
    "identity", "exchange_sharing_token", ExchangeTokenArguments, returns=SharingTokens,
    raises=(ValidationFailed, Unauthenticated, Forbidden),
    summary="The token endpoint: authorization_code (PKCE checked) or refresh_token "
            "(rotated: the old one refused after use, and used again it revokes the "
            "grant). Unauthenticated (invalid-client) for bad client credentials; "
            "Forbidden (invalid-grant) for a code or refresh token that is not valid.")
use_shared_data = RpcMethod(
    "identity", "use_shared_data", SharedUseArguments, returns=SharedAccess,
    raises=(ValidationFailed, Unauthenticated, Forbidden, NotFound),
    summary="May the access token read under the scope (and the consumption point)? "
            "Decided from the grant as it is now (revoked: refused at once); the use is "
            "written to the customer's access log with the application's name. "
            "NotFound for a point outside the grant.")
sharing_grants_of = RpcMethod(
    "identity", "sharing_grants_of", SharingGrantsArguments, returns=list[SharingGrant],
    raises=(ValidationFailed,),
    summary="Every sharing grant of the customer, newest first.")
revoke_sharing_grant = RpcMethod(
    "identity", "revoke_sharing_grant", RevokeSharingGrantArguments, returns=NOTHING,
    raises=(ValidationFailed, NotFound),
    summary="Revoke a sharing grant at once: its tokens stop working; again changes "
            "nothing.")
