"""notifications: the AMQP headers an event is published with (request id, traceparent)

Revision ID: 0005
"""
from alembic import op

from services.common.tables import add_outbox_headers, drop_outbox_headers

revision = "0005"
down_revision = "0004"


def upgrade():
    add_outbox_headers(op)


def downgrade():
    drop_outbox_headers(op)
