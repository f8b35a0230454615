"""identity: a login request remembers the browser that started it

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    with op.batch_alter_table("banklink_requests") as batch:
        batch.add_column(sa.Column("browser_hash", sa.String(64)))


def downgrade():
    with op.batch_alter_table("banklink_requests") as batch:
        batch.drop_column("browser_hash")
