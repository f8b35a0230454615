"""identity: third-party applications, customers' sharing grants and their
tokens; the access log names the application of a use

Revision ID: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade():
    op.create_table(
        "sharing_applications",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=False),
        sa.Column("redirect_uris", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "sharing_grants",
        sa.Column("grant_id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=False),
        sa.Column("granted_by", sa.String(11), nullable=False),
        sa.Column("mandate_id", sa.String(36)),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("consumption_point_ids", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_by", sa.String(80)),
    )
    op.create_index("ix_sharing_grants_customer", "sharing_grants", ["customer_id"])
    op.create_table(
        "sharing_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("grant_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("redirect_uri", sa.String(500)),
        sa.Column("code_challenge", sa.String(128)),
    )
    op.create_index("ix_sharing_tokens_grant", "sharing_tokens", ["grant_id"])
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("client_id", sa.String(64)))


def downgrade():
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("client_id")
    op.drop_index("ix_sharing_tokens_grant", "sharing_tokens")
    op.drop_table("sharing_tokens")
    op.drop_index("ix_sharing_grants_customer", "sharing_grants")
    op.drop_table("sharing_grants")
    op.drop_table("sharing_applications")
