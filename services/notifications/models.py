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

# The customer's in-app inbox (and, later, what went out by e-mail or SMS).
inbox = sa.Table(
    "inbox", metadata,
    sa.Column("notification_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.Index("ix_inbox_customer", "customer_id", "created_at"),
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
    sa.Index("ix_cases_status", "status", "created_at"),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
