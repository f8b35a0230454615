import sqlalchemy as sa

from services.common.jobs import jobs_table
from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

# metering's own copy of each meter, from contracts' events.
meters = sa.Table(
    "meters", metadata,
    sa.Column("consumption_point_id", sa.String(36), primary_key=True),
    sa.Column("contract_no", sa.String(20), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("eic", sa.String(16), nullable=False),
    sa.Column("meter_serial", sa.String(64), nullable=False),
    sa.Column("registers", sa.JSON, nullable=False),   # [{"code", "digits"}]
    sa.Column("tariff_plan", sa.String(32), nullable=False),
    sa.Column("reading_day", sa.Integer, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    # an operator switched estimates off for this point (services/metering/estimates.py)
    sa.Column("estimates_off", sa.Boolean, nullable=False, server_default=sa.false()),
    # the contract's first day out of force (contract_terminated): not estimated from then
    sa.Column("end_date", sa.Date),
)

# Tariff plans whose points are not estimated.
plans_without_estimates = sa.Table(
    "plans_without_estimates", metadata,
    sa.Column("tariff_plan", sa.String(32), primary_key=True),
    sa.Column("switched_off_by", sa.String(64), nullable=False),
    sa.Column("switched_off_at", sa.DateTime(timezone=True), nullable=False),
)

readings = sa.Table(
    "readings", metadata,
    sa.Column("reading_id", sa.String(36), primary_key=True),
    sa.Column("consumption_point_id", sa.String(36),
              sa.ForeignKey("meters.consumption_point_id"), nullable=False),
    sa.Column("reading_date", sa.Date, nullable=False),
    sa.Column("registers", sa.JSON, nullable=False),     # {"T1": 12345}
    sa.Column("consumption", sa.JSON, nullable=False),   # {"T1": 300}
    # accepted | held_for_review | rejected | withdrawn (by its customer, while held)
    # | estimated (by metering, when a reading window closed without a reading)
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source", sa.String(20), nullable=False),  # initial | customer | delegate | operator | import | estimate
    sa.Column("submitted_by", sa.String(64)),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("mandate_id", sa.String(36)),                # a delegate's mandate
    sa.Column("review_reason", sa.String(300)),            # why it was held or rejected
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("replaced_by", sa.String(36)),               # the reading that replaced a withdrawn one
    #                                                        or settled an estimate
    sa.Column("estimate_method", sa.String(32)),           # how an estimate was made
    sa.Index("ix_readings_point_date", "consumption_point_id", "reading_date"),
    sa.Index("ux_readings_one_estimate_a_day", "consumption_point_id", "reading_date",
             unique=True, postgresql_where=sa.text("status = 'estimated'"),
             sqlite_where=sa.text("status = 'estimated'")),
)

# A client's Idempotency-Key: the same key and body get the first answer again.
idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)
# long jobs (services/common/jobs.py)
jobs = jobs_table(metadata)
