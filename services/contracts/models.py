import sqlalchemy as sa

from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

customers = sa.Table(
    "customers", metadata,
    sa.Column("customer_id", sa.String(36), primary_key=True),
    sa.Column("person_code", sa.String(11), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("postal_address", sa.String(500)),
    sa.Column("phone", sa.String(32)),
    sa.Column("email", sa.String(320)),
    sa.Column("language", sa.String(2), nullable=False, server_default="et"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

consumption_points = sa.Table(
    "consumption_points", metadata,
    sa.Column("consumption_point_id", sa.String(36), primary_key=True),
    sa.Column("eic", sa.String(16), nullable=False, unique=True),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("meter_serial", sa.String(64), nullable=False, unique=True),
    # [{"code": "T1", "digits": 6}, ...]
    sa.Column("registers", sa.JSON, nullable=False),
)

# The tariff plans billing has, as far as contracts knows (a contract is signed on
# no other): those billing starts with (its migration 0002) and those learnt from
# billing's ``tariff_plans`` when a contract names a plan not known here yet.
# Billing never removes a plan, so a plan known here stays right.
DEFAULT_TARIFF_PLANS = ("BASIC", "DAYNIGHT")
tariff_plans = sa.Table(
    "tariff_plans", metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("learnt_at", sa.DateTime(timezone=True)),   # NULL: one of the defaults
)
# the migration seeds them; so does create_all (the unit tests' in-memory databases)
sa.event.listen(tariff_plans, "after_create", lambda table, connection, **_: connection.execute(
    table.insert(), [{"code": code} for code in DEFAULT_TARIFF_PLANS]))

contracts = sa.Table(
    "contracts", metadata,
    sa.Column("contract_id", sa.String(36), primary_key=True),
    sa.Column("contract_no", sa.String(20), nullable=False, unique=True),
    sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("consumption_point_id", sa.String(36),
              sa.ForeignKey("consumption_points.consumption_point_id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("tariff_plan", sa.String(32), nullable=False),
    sa.Column("reading_day", sa.Integer, nullable=False),
    sa.Column("reference_no", sa.String(20), nullable=False, unique=True),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("signed_at_office", sa.String(100)),
)

# Every change of a customer's contact details: what, by whom, when.
contact_changes = sa.Table(
    "contact_changes", metadata,
    sa.Column("change_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_by", sa.String(64), nullable=False),   # person code or operator
    sa.Column("before", sa.JSON, nullable=False),
    sa.Column("after", sa.JSON, nullable=False),
    sa.Index("ix_contact_changes_customer", "customer_id", "changed_at"),
)

# Who held a contract when: a contract moves to another customer when a claim
# for its consumption point is approved, and its past holders stay on record.
contract_holders = sa.Table(
    "contract_holders", metadata,
    sa.Column("contract_no", sa.String(20), sa.ForeignKey("contracts.contract_no"),
              primary_key=True),
    sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"),
              primary_key=True),
    sa.Column("held_from", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("held_until", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.String(200), nullable=False),
)

# A customer's report of a consumption point that is not linked to them.
claims = sa.Table(
    "claims", metadata,
    sa.Column("claim_id", sa.String(36), primary_key=True),
    sa.Column("customer_id", sa.String(36), sa.ForeignKey("customers.customer_id"), nullable=False),
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("eic", sa.String(16)),
    sa.Column("meter_serial", sa.String(64)),
    sa.Column("contract_no", sa.String(20)),
    sa.Column("note", sa.String(2000)),
    # the same claim twice is one claim: its identifying values, normalised
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),        # pending | approved | rejected
    sa.Column("reason", sa.String(1000)),
    sa.Column("linked_contract_no", sa.String(20)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_by", sa.String(64), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(64)),
    sa.UniqueConstraint("customer_id", "fingerprint", name="uq_claims_customer_fingerprint"),
)

# One row per kind of number; taken under a row lock so numbers never repeat.
number_sequences = sa.Table(
    "number_sequences", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("last_value", sa.BigInteger, nullable=False),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
