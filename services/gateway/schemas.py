"""The gateway's request and response models (pydantic): the same models
validate requests and generate the OpenAPI document."""
from datetime import date
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from services.common.validation import Shape
from services.billing import api as billing
from services.contracts import api as contracts
from services.identity import api as identity
from services.metering import api as metering
from services.notifications import api as notifications


class FieldError(BaseModel):
    """What is wrong with one field: ``message`` for people; ``code`` names the rule
    and ``params`` its values, for a client to say it in the customer's language."""
    field: str
    message: str
    code: Optional[str] = None
    params: Optional[dict[str, str]] = None


class Problem(BaseModel):
    """application/problem+json (RFC 9457)."""
    type: str
    title: str
    status: int
    detail: str = ""
    errors: Optional[list[FieldError]] = None


class Health(BaseModel):
    status: str
    services: dict[str, str]


class Liveness(BaseModel):
    """The gateway's process answers: always ``{"status": "ok"}``."""
    status: str


class Readiness(BaseModel):
    """``status`` "ok" when the broker is usable; ``services`` for information only."""
    status: str
    broker: str
    services: dict[str, str]


class Me(BaseModel):
    """Who I am and the customers I may act for."""
    person: identity.Person
    customers: list[identity.ActingFor]


class OperatorCredentials(Shape):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1000)


class OidcCallback(BaseModel):
    """What an OpenID Connect provider sends the browser back with: the code and our
    state, or an error (``access_denied`` when the person cancelled)."""
    code: Optional[str] = Field(default=None, max_length=2000)
    state: Optional[str] = Field(default=None, max_length=200)
    error: Optional[str] = Field(default=None, max_length=200)
    error_description: Optional[str] = Field(default=None, max_length=1000)


class BanklinkReply(BaseModel):
    """The bank's signed reply (iPizza 3012/3013 for a login, 1111/1911 for a
    payment), posted as a form: the ``VK_*`` fields, each as text."""
    model_config = ConfigDict(extra="allow")

    VK_SERVICE: str
    VK_VERSION: str
    VK_SND_ID: str
    VK_REC_ID: str
    VK_MAC: str
    VK_ENCODING: Optional[str] = None
    VK_LANG: Optional[str] = None


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""
    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict
    paths: dict


# -- query parameters (each model's fields are a route's query parameters) ---------

class InvoicesQuery(Shape):
    status: Literal["unpaid", "paid", "overdue", "all"] = "all"


class InvoicePdfQuery(Shape):
    lang: Optional[Literal["et", "en"]] = Field(
        default=None, description="The invoice's language; the customer's by default")


class UnmatchedPaymentsQuery(Shape):
    status: Literal["unmatched"] = "unmatched"


class ClaimsQuery(Shape):
    status: Literal["pending", "approved", "rejected", "all"] = "pending"


class CasesQuery(Shape):
    status: Literal["open", "answered", "closed", "all"] = "open"


class DeliveriesQuery(Shape):
    status: Literal["failed", "pending", "sent", "all"] = "failed"


class ConsumptionQuery(Shape):
    months: int = Field(default=25, ge=1, le=120,
                        description="How many calendar months, through the current one")
    estimates: bool = Field(default=False, description=(
        "Count the pending estimated readings too (a month's estimated_days say how "
        "many of its days they cover)"))


class DeadLetter(BaseModel):
    """A parked message: why and where from, not its whole body."""
    error: Optional[str] = None
    queue: Optional[str] = None
    attempts: Optional[int] = None
    event_type: Optional[str] = None
    event_id: Optional[str] = None
    source: Optional[str] = None
    body: Optional[str] = Field(default=None, description="The first 200 characters of a "
                                                          "body that is not an event")


class DeadLetterQueue(BaseModel):
    queue: str
    messages: int
    first: list[DeadLetter]


class BanklinkPayment(identity.BanklinkForm):
    """The signed payment request (1011/1012) to post to the bank, and the order."""
    stamp: str
    amount: str = Field(description="Euros, two decimals")
    reference_no: str
    invoice_nos: list[str]


# -- answers the gateway puts together from more than one service ---------------------

class CustomerConsumptionPoint(contracts.SuppliedPoint):
    """A consumption point with metering's part: without metering, the two are null
    and ``unavailable`` names them (header Vool-Unavailable: metering)."""
    last_reading: Optional[metering.LastReading] = None
    next_reading_due: Optional[date] = None
    unavailable: Optional[list[str]] = None


class DeskContract(contracts.ContractWithCustomer):
    """A contract with its customer and everyone who held it."""
    holders: list[contracts.ContractHolder]


class PointSummary(BaseModel):
    id: str
    eic: str
    address: str


class CustomerPaymentBook(billing.PaymentBook):
    """A payment book with the consumption point its contract supplies."""
    consumption_point: PointSummary


class CaseContract(BaseModel):
    contract_no: str
    status: contracts.ContractStatus
    address: str


class DeskCaseCustomer(notifications.CaseCustomer):
    """The case's customer as contracts knows them now; without contracts,
    ``unavailable`` names what is missing (header Vool-Unavailable: contracts)."""
    person_code: Optional[str] = None
    contact: Union[contracts.CustomerContact, notifications.CustomerContact]
    contracts: Optional[list[CaseContract]] = None
    unavailable: Optional[list[str]] = None


class DeskCase(notifications.QueuedCase):
    customer: DeskCaseCustomer


class AsyncApiDocument(BaseModel):
    """An AsyncAPI 3.0 document (https://www.asyncapi.com/docs/reference/specification/v3.0.0)."""
    model_config = ConfigDict(extra="allow")

    asyncapi: str
    info: dict
    channels: dict
    operations: dict
