"""metering: a held reading its customer withdrew or replaced

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade():
    with op.batch_alter_table("readings") as batch:
        batch.add_column(sa.Column("replaced_by", sa.String(36)))


def downgrade():
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("replaced_by")
