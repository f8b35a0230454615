"""identity: OpenID Connect logins (their flows) and how each login was made

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade():
    op.create_table(
        "oidc_flows",
        sa.Column("flow_id", sa.String(36), primary_key=True),
        sa.Column("provider_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(64), nullable=False, unique=True),
        sa.Column("nonce", sa.String(64), nullable=False, unique=True),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("redirect_uri", sa.String(255), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("browser_hash", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    with op.batch_alter_table("login_log") as batch:
        batch.add_column(sa.Column("method", sa.String(48)))
        batch.add_column(sa.Column("amr", sa.String(64)))


def downgrade():
    with op.batch_alter_table("login_log") as batch:
        batch.drop_column("amr")
        batch.drop_column("method")
    op.drop_table("oidc_flows")
