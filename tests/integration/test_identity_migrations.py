"""identity's migration 0006 on both stores: the access log's entries written
before it keep their meaning (a read was done; how a change ended nobody knows)."""
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from services.common.db import make_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "identity" / "migrations"
pytestmark = pytest.mark.both_stores


def migrate_to(engine, revision):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_earlier_entries_are_reads_done_and_changes_attempted(database_urls):
    engine = make_engine(database_urls["identity"])
    try:
        migrate_to(engine, "0005")
        at = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO access_log (at, customer_id, actor_person_code, action, "
                "resource, what) VALUES (:at, 'c1', '39001010008', :action, '/x', 'y')"),
                [{"at": at, "action": "read"}, {"at": at, "action": "change"}])
        migrate_to(engine, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT action, outcome, use, details FROM access_log ORDER BY entry_id")).all()
        assert [tuple(r) for r in rows] == [("read", "done", None, None),
                                            ("change", None, None, None)]
    finally:
        engine.dispose()
