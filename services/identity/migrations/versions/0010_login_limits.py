"""identity: customers' logins rate-limited per client address (whence each start
and each logged attempt came)

Revision ID: 0010
(0009 is the data sharing's, on its own branch: merged, this one follows it)
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade():
    for table in ("banklink_requests", "oidc_flows", "login_log"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("client_address", sa.String(64)))
    op.create_index("ix_banklink_requests_address", "banklink_requests",
                    ["client_address", "created_at"])
    op.create_index("ix_oidc_flows_address", "oidc_flows", ["client_address", "created_at"])
    op.create_index("ix_oidc_flows_created", "oidc_flows", ["created_at"])
    op.create_index("ix_login_log_address", "login_log", ["client_address", "at"])


def downgrade():
    op.drop_index("ix_login_log_address", "login_log")
    op.drop_index("ix_oidc_flows_created", "oidc_flows")
    op.drop_index("ix_oidc_flows_address", "oidc_flows")
    op.drop_index("ix_banklink_requests_address", "banklink_requests")
    for table in ("login_log", "oidc_flows", "banklink_requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("client_address")
