"""identity: an access-log entry names its use by code, what it was about, and how
it ended (a change the service refused is not a change)

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade():
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("use", sa.String(64)))
        batch.add_column(sa.Column("details", sa.JSON))
        batch.add_column(sa.Column("outcome", sa.String(10)))
    # a read was done when it was logged; how an earlier change ended nobody knows
    # (it was logged before it was tried), so it stays without an outcome: attempted
    op.execute("UPDATE access_log SET outcome = 'done' WHERE action = 'read'")


def downgrade():
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("outcome")
        batch.drop_column("details")
        batch.drop_column("use")
