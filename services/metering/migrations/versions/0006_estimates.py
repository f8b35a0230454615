"""metering: estimated readings (issue #20)

A reading's ``estimate_method`` says how an estimate (status ``estimated``) was
made; one estimate per point and day (a partial unique index: two replicas
estimating at once store it once). Estimates can be switched off per point
(``meters.estimates_off``) and per tariff plan (``plans_without_estimates``); a
terminated contract's meter is not estimated from its end (``meters.end_date``).

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade():
    op.add_column("readings", sa.Column("estimate_method", sa.String(32)))
    op.create_index("ux_readings_one_estimate_a_day", "readings",
                    ["consumption_point_id", "reading_date"], unique=True,
                    postgresql_where=sa.text("status = 'estimated'"),
                    sqlite_where=sa.text("status = 'estimated'"))
    op.add_column("meters", sa.Column("estimates_off", sa.Boolean, nullable=False,
                                      server_default=sa.false()))
    # the contract's first day out of force (contract_terminated): no estimates from then
    op.add_column("meters", sa.Column("end_date", sa.Date))
    op.create_table(
        "plans_without_estimates",
        sa.Column("tariff_plan", sa.String(32), primary_key=True),
        sa.Column("switched_off_by", sa.String(64), nullable=False),
        sa.Column("switched_off_at", sa.DateTime(timezone=True), nullable=False))


def downgrade():
    op.drop_table("plans_without_estimates")
    op.drop_index("ux_readings_one_estimate_a_day", "readings")
    with op.batch_alter_table("meters") as batch:
        batch.drop_column("end_date")
        batch.drop_column("estimates_off")
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("estimate_method")
