"""identity: contracts are in force until their end date

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    with op.batch_alter_table("customer_contracts") as batch:
        batch.add_column(sa.Column("end_date", sa.Date))


def downgrade():
    with op.batch_alter_table("customer_contracts") as batch:
        batch.drop_column("end_date")
