"""billing: long jobs (the billing run and statement imports) with their state and progress

Revision ID: 0009
"""
from alembic import op

from services.common.jobs import create_jobs_table

revision = "0009"
down_revision = "0008"


def upgrade():
    create_jobs_table(op)


def downgrade():
    op.drop_table("jobs")
