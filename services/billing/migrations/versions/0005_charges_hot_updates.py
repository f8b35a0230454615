"""billing: marking charges billed can be a HOT update

The billing run sets ``charges.invoice_no`` on a month's charges at once (700,000).
With an index on that column every such update writes a new entry into every
index of the table; without it, and with room left on each page, PostgreSQL
updates the row in place (HOT). Unbilled charges are found through
``ix_charges_contract`` (contract_no, period_to) and the contract.

Revision ID: 0005
"""
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    op.drop_index("ix_charges_unbilled", "charges")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE charges SET (fillfactor = 70)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE charges RESET (fillfactor)")
    op.create_index("ix_charges_unbilled", "charges", ["invoice_no", "period_to"])
