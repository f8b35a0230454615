"""billing: each tariff plan's prices version, for the per-process price cache

A new random token whenever the plan's components change: a charge compares it,
inside its own transaction, with the version its process cached the prices under.

Revision ID: 0010
"""
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade():
    op.add_column("tariff_plans", sa.Column("prices_version", sa.String(36)))
    plans = sa.table("tariff_plans", sa.column("code"), sa.column("prices_version"))
    connection = op.get_bind()
    for code in connection.execute(sa.select(plans.c.code)).scalars().all():
        connection.execute(sa.update(plans).where(plans.c.code == code)
                           .values(prices_version=str(uuid.uuid4())))


def downgrade():
    with op.batch_alter_table("tariff_plans") as batch:
        batch.drop_column("prices_version")
