import sqlalchemy as sa

from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

# The people identity knows, and the customer records they hold contracts under
# (from contracts' events): the ground of eligibility to log in.
persons = sa.Table(
    "persons", metadata,
    sa.Column("person_code", sa.String(11), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

customer_contracts = sa.Table(
    "customer_contracts", metadata,
    sa.Column("contract_no", sa.String(20), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("person_code", sa.String(11), sa.ForeignKey("persons.person_code"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
