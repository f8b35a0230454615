"""metering: long jobs (readings imports) with their state and progress

Revision ID: 0005
"""
from alembic import op

from services.common.jobs import create_jobs_table

revision = "0005"
down_revision = "0004"


def upgrade():
    create_jobs_table(op)


def downgrade():
    op.drop_table("jobs")
