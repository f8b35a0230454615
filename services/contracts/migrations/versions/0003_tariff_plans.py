"""contracts: the tariff plans billing has, as contracts knows them (seeded with
the plans billing's migration 0002 creates)

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    plans = op.create_table(
        "tariff_plans",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("learnt_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(plans, [{"code": "BASIC"}, {"code": "DAYNIGHT"}])


def downgrade():
    op.drop_table("tariff_plans")
