"""The outbox and inbox tables every service keeps in its own database."""
import sqlalchemy as sa


def outbox_table(metadata):
    """Events written in the transaction that caused them, published after commit."""
    return sa.Table(
        "outbox", metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        # the AMQP headers it is published with: the request id and traceparent of
        # the request that caused it (services/common/correlation.py)
        sa.Column("headers", sa.JSON),
        sa.Index("ix_outbox_unpublished", "published_at", "created_at"),
    )


def handled_events_table(metadata):
    """Event ids each handler has already applied (the idempotent-consumer inbox)."""
    return sa.Table(
        "handled_events", metadata,
        sa.Column("handler", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )


def create_messaging_tables(op):
    """For a service's first Alembic migration."""
    op.create_table(
        "outbox",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("message", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "created_at"])
    op.create_table(
        "handled_events",
        sa.Column("handler", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )


def add_outbox_headers(op):
    """For the migration that gives an existing outbox its headers column."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("headers", sa.JSON))


def drop_outbox_headers(op):
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("headers")
