"""notifications' published interface: its RPC methods (what each takes, returns
and raises) and the data of the events it emits.

pydantic only (no SQLAlchemy, no nameko): what other services and other systems
may import from notifications. Dates are YYYY-MM-DD, moments ISO 8601 with offset.
"""
from datetime import date, datetime
from typing import Literal, Optional

from pydantic import BaseModel, Field

from services.common.errors import NotFound, ValidationFailed
from services.common.events import EventData
from services.common.rpc_methods import Arguments, Health, RpcMethod
from services.common.validation import Shape

#: what customers write to the desk themselves
CUSTOMER_KINDS = ("proposal", "complaint", "question")
CustomerKind = Literal[CUSTOMER_KINDS]
#: a case also opens from contracts' events: a contact change, a claimed point
CaseKind = Literal["proposal", "complaint", "question", "contact_change",
                   "consumption_point_claim"]
CaseStatus = Literal["open", "answered", "closed"]
NotificationKind = Literal[
    "reading_reminder", "reading_held", "reading_decided", "invoice_issued",
    "payment_received", "invoice_overdue", "mandate_granted", "mandate_revoked",
    "mandate_expired", "contract_signed", "claim_decided", "case_answered",
    "reading_estimated", "credit_note_issued"]
Channel = Literal["email", "sms"]
DeliveryStatus = Literal["pending", "sent", "failed"]


# -- events -------------------------------------------------------------------------

class CaseOpened(EventData):
    """A case joined the desk's queue (a customer wrote, or contracts told of a
    contact change or a claimed consumption point)."""
    event_type = "case_opened"
    version = 1

    case_id: str
    kind: CaseKind
    customer_id: str
    subject: str


class CaseAnswered(EventData):
    """The desk replied to a case."""
    event_type = "case_answered"
    version = 1

    case_id: str
    customer_id: str
    kind: CaseKind
    reply_id: str
    replied_by: str


class NotificationSent(EventData):
    """An e-mail or SMS of a notification left (the channel accepted it)."""
    event_type = "notification_sent"
    version = 1

    notification_id: str
    delivery_id: str
    customer_id: str
    # plain text, not the Literals: it is built after the message left, and a model
    # that refused it would leave the delivery unrecorded, to be sent again
    kind: str              # NotificationKind
    channel: str           # Channel


EVENTS = (CaseOpened, CaseAnswered, NotificationSent)


# -- RPC ----------------------------------------------------------------------------

class Feedback(Shape):
    """A customer's message to the desk."""
    kind: CustomerKind
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=10_000)


class Reply(Shape):
    """The desk's reply to a case."""
    body: str = Field(min_length=1, max_length=10_000)


class Delivery(BaseModel):
    """One e-mail or SMS of a notification and how sending it went."""
    delivery_id: str
    notification_id: str
    customer_id: str
    kind: NotificationKind
    channel: Channel
    address: str
    language: str
    subject: str
    status: DeliveryStatus
    attempts: int
    last_error: Optional[str] = None
    created_at: datetime
    next_attempt_at: Optional[datetime] = None
    sent_at: Optional[datetime] = None


class ReminderSweepReport(BaseModel):
    reminders_sent: int


class Reminder(BaseModel):
    reminder_id: str
    due_on: date
    status: Literal["pending", "cancelled", "sent"]


class Notification(BaseModel):
    """A notification in the customer's inbox."""
    notification_id: str
    kind: NotificationKind
    subject: str
    body: str
    created_at: datetime
    read: bool
    #: the language it was written in (the customer's then): a page in another
    #: language marks it so a screen reader reads it right
    language: Optional[str] = None


class CaseReceipt(BaseModel):
    case_id: str


class CustomerReply(BaseModel):
    """A reply as the customer sees it (which operator wrote it is the desk's)."""
    body: str
    at: datetime


class CustomerCase(BaseModel):
    """A case as the customer who wrote it sees it."""
    case_id: str
    kind: CustomerKind
    subject: str
    body: str
    status: CaseStatus
    created_at: datetime
    replies: list[CustomerReply]


class DeskReply(CustomerReply):
    by: str


class Case(BaseModel):
    """A case as the desk sees it."""
    case_id: str
    kind: CaseKind
    customer_id: str
    subject: str
    body: str
    status: CaseStatus
    created_at: datetime
    #: who wrote it (a person code; null for a case opened from an event)
    opened_by: Optional[str] = None
    replies: list[DeskReply]


class CustomerContact(BaseModel):
    email: Optional[str] = None
    phone: Optional[str] = None
    language: Optional[str] = None


class CaseCustomer(BaseModel):
    """The case's customer as notifications last heard of them (contracts' events):
    all null when it has not heard of them."""
    customer_id: str
    name: Optional[str] = None
    contact: CustomerContact


class QueuedCase(Case):
    customer: CaseCustomer


class DeliveriesArguments(Arguments):
    status: Literal["pending", "sent", "failed", "all"] = "failed"


class ReminderSweepArguments(Arguments):
    #: default today; at most tomorrow
    as_of: Optional[date] = None


class RemindersArguments(Arguments):
    consumption_point_id: str = Field(min_length=1, max_length=36)


class InboxArguments(Arguments):
    customer_id: str = Field(min_length=1, max_length=36)


class MarkReadArguments(Arguments):
    customer_id: str = Field(min_length=1, max_length=36)
    notification_id: str = Field(min_length=1, max_length=36)


class OpenCaseArguments(Arguments):
    customer_id: str = Field(min_length=1, max_length=36)
    feedback: Feedback
    #: who wrote it: the customer's or their delegate's person code, or an operator
    opened_by: str = Field(min_length=1, max_length=100)


MessagePart = Literal["inbox", "cases"]


class CustomerMessagesArguments(Arguments):
    #: {customer_id: the parts wanted: inbox (as inbox), cases (as cases_of)}
    parts_of: dict[str, list[MessagePart]] = Field(max_length=100)
    #: only the newest of each list (a page shows so many); None: all of them
    newest: Optional[int] = Field(default=None, ge=1, le=1000)


class CustomerMessages(BaseModel):
    inbox: Optional[list[Notification]] = None
    cases: Optional[list[CustomerCase]] = None


class CasesOfArguments(Arguments):
    customer_id: str = Field(min_length=1, max_length=36)


class ListCasesArguments(Arguments):
    status: Literal["open", "answered", "closed", "all"] = "open"


class ReplyToCaseArguments(Arguments):
    case_id: str = Field(min_length=1, max_length=36)
    reply: Reply
    replied_by: str = Field(min_length=1, max_length=100)


health = RpcMethod("notifications", "health", returns=Health,
                   summary="Whether notifications' database answers.")
deliveries = RpcMethod(
    "notifications", "deliveries", DeliveriesArguments, returns=list[Delivery],
    raises=(ValidationFailed,),
    summary="For operators: the latest 500 e-mails and SMS in a status (default "
            "failed), newest first.")
reminder_sweep = RpcMethod(
    "notifications", "reminder_sweep", ReminderSweepArguments, returns=ReminderSweepReport,
    raises=(ValidationFailed,),
    summary="Send the reading reminders whose window closed before as_of (default "
            "today), each once.")
reminders = RpcMethod(
    "notifications", "reminders", RemindersArguments, returns=list[Reminder],
    raises=(ValidationFailed,),
    summary="Every reading reminder of a consumption point, oldest first.")
inbox = RpcMethod(
    "notifications", "inbox", InboxArguments, returns=list[Notification],
    raises=(ValidationFailed,),
    summary="The customer's notifications, newest first.")
mark_read = RpcMethod(
    "notifications", "mark_read", MarkReadArguments, returns=None,
    raises=(ValidationFailed, NotFound),
    summary="Mark one of the customer's notifications read (again is fine); NotFound "
            "when it is not theirs. Answers null.")
open_case = RpcMethod(
    "notifications", "open_case", OpenCaseArguments, returns=CaseReceipt,
    raises=(ValidationFailed,),
    summary="A customer's proposal, complaint or question to the desk.")
customer_messages = RpcMethod(
    "notifications", "customer_messages", CustomerMessagesArguments,
    returns=dict[str, CustomerMessages], raises=(ValidationFailed,),
    summary="A page's customers in one call: the inbox and the cases asked of each.")
cases_of = RpcMethod(
    "notifications", "cases_of", CasesOfArguments, returns=list[CustomerCase],
    raises=(ValidationFailed,),
    summary="What the customer wrote to the desk, newest first, with the desk's replies.")
list_cases = RpcMethod(
    "notifications", "list_cases", ListCasesArguments, returns=list[QueuedCase],
    raises=(ValidationFailed,),
    summary="The desk's queue in a status (default open), oldest first, each case with "
            "its customer as notifications last heard of them.")
reply_to_case = RpcMethod(
    "notifications", "reply_to_case", ReplyToCaseArguments, returns=Case,
    raises=(ValidationFailed, NotFound),
    summary="The desk's reply: the case is answered, and a customer who wrote it is "
            "notified (case_answered).")
