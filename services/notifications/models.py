import sqlalchemy as sa

from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

# At most one pending reminder per consumption point (partial unique index).
reminders = sa.Table(
    "reminders", metadata,
    sa.Column("reminder_id", sa.String(36), primary_key=True),
    sa.Column("consumption_point_id", sa.String(36), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("reading_day", sa.Integer),
    sa.Column("status", sa.String(12), nullable=False),   # pending | cancelled | sent
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Index("ux_reminders_one_pending", "consumption_point_id", unique=True,
             postgresql_where=sa.text("status = 'pending'"),
             sqlite_where=sa.text("status = 'pending'")),
)

# The customer's in-app inbox: every notification, rendered in their language.
# ``dedupe_key`` (what caused it : recipient) makes a notification happen once.
inbox = sa.Table(
    "inbox", metadata,
    sa.Column("notification_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.Column("language", sa.String(2)),
    sa.Column("dedupe_key", sa.String(120)),
    sa.Index("ix_inbox_customer", "customer_id", "created_at"),
    sa.Index("ux_inbox_dedupe_key", "dedupe_key", unique=True),
)

# What goes out by e-mail or SMS: the rendered text and the address, stored with
# the notification and sent after commit by whichever replica claims it first.
deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("delivery_id", sa.String(36), primary_key=True),
    sa.Column("notification_id", sa.String(36), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("channel", sa.String(10), nullable=False),   # email | sms
    sa.Column("address", sa.String(320), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),    # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.String(1000)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("notification_id", "channel", name="ux_deliveries_once"),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# Our copy of each customer's contact details (contracts' events): where to
# write and in which language. ``as_of`` keeps an older event from undoing a newer.
contacts = sa.Table(
    "contacts", metadata,
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("email", sa.String(320)),
    sa.Column("phone", sa.String(32)),
    sa.Column("language", sa.String(2)),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
)

# Where each consumption point is (contract_signed), for reminders to name it.
points = sa.Table(
    "points", metadata,
    sa.Column("consumption_point_id", sa.String(36), primary_key=True),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("contract_no", sa.String(20)),
)

# Our copy of identity's mandates: who else hears about a customer's reminders.
mandates = sa.Table(
    "mandates", metadata,
    sa.Column("mandate_id", sa.String(36), primary_key=True),
    sa.Column("grantor_customer_id", sa.String(36), nullable=False),
    sa.Column("grantor_name", sa.String(200)),
    sa.Column("grantee_person_code", sa.String(11)),
    sa.Column("grantee_name", sa.String(200)),
    sa.Column("grantee_customer_id", sa.String(36)),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("consumption_point_ids", sa.JSON, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("expired_at", sa.DateTime(timezone=True)),
    sa.Index("ix_mandates_grantor", "grantor_customer_id"),
)

# The service desk's queue: customers' messages and what they should look at
# (contact-detail changes, consumption-point claims).
cases = sa.Table(
    "cases", metadata,
    sa.Column("case_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),    # open | answered | closed
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("source_event_id", sa.String(36), unique=True),
    sa.Column("opened_by", sa.String(100)),
    sa.Index("ix_cases_status", "status", "created_at"),
    sa.Index("ix_cases_customer", "customer_id", "created_at"),
)

case_replies = sa.Table(
    "case_replies", metadata,
    sa.Column("reply_id", sa.String(36), primary_key=True),
    sa.Column("case_id", sa.String(36), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("replied_by", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_case_replies_case", "case_id", "at"),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
