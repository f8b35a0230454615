"""Alembic migrations per service, applied when the service starts."""
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# Arbitrary but fixed: replicas starting together take turns migrating.
MIGRATION_LOCK_KEY = 730_1730


def ensure_database(url):
    """Create a PostgreSQL database that does not exist yet (idempotent, race-safe)."""
    url = make_url(url)
    if not url.drivername.startswith("postgresql"):
        return
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                              poolclass=sa.pool.NullPool)
    try:
        with server.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": url.database}).scalar()
            if not exists:
                try:
                    conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
                    log.info("created database %s", url.database)
                except sa.exc.ProgrammingError as exc:
                    if "already exists" not in str(exc):
                        raise
    finally:
        server.dispose()


def upgrade(engine, migrations_dir):
    config = Config()
    config.set_main_option("script_location", str(Path(migrations_dir)))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def run_env(target_metadata):
    """The body of every service's migrations/env.py."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through services.common.migrate.upgrade")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
