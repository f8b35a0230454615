"""identity: the AMQP headers an event is published with (request id, traceparent)

Revision ID: 0007
"""
from alembic import op

from services.common.tables import add_outbox_headers, drop_outbox_headers

revision = "0007"
down_revision = "0006"


def upgrade():
    add_outbox_headers(op)


def downgrade():
    drop_outbox_headers(op)
