"""billing: the AMQP headers an event is published with (request id, traceparent),
for outbox rows and for the invoice_issued events of a billing run

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op

from services.common.tables import add_outbox_headers, drop_outbox_headers

revision = "0008"
down_revision = "0007"


def upgrade():
    add_outbox_headers(op)
    with op.batch_alter_table("invoice_runs") as batch:
        batch.add_column(sa.Column("headers", sa.JSON))


def downgrade():
    with op.batch_alter_table("invoice_runs") as batch:
        batch.drop_column("headers")
    drop_outbox_headers(op)
