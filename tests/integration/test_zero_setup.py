"""Without any database URL a service keeps its data in a SQLite file under
VOOL_VAR_DIR, migrated on start: the zero-setup single-machine run."""
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from services.common.errors import NotFound
from services.contracts.service import ContractsService
from services.metering.service import MeteringService
from tests.conftest import wait_for
from tests.samples import contract_command


def test_services_run_on_sqlite_files_when_no_database_is_configured(
        run_services, rpc, monkeypatch, tmp_path, amqp_uri):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    no_database = {"VOOL_CONTRACTS_DATABASE_URL": None, "VOOL_METERING_DATABASE_URL": None,
                   "VOOL_VAR_DIR": str(tmp_path)}
    run_services(ContractsService, MeteringService, **no_database)

    signed = rpc.contracts.sign_contract(contract_command())
    point = signed["consumption_point_id"]
    wait_for(lambda: _initial_reading(rpc, point))
    result = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-02-15", "registers": {"T1": 1200}})
    assert result["consumption"] == {"T1": 200}

    # each beside its write-ahead log (-wal, -shm) while the services run
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == [
        "contracts.sqlite3", "metering.sqlite3"]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'metering.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("SELECT count(*) FROM readings")).scalar() == 2
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == \
            metering_head()
    engine.dispose()


def metering_head():
    config = Config()
    config.set_main_option("script_location", str(
        Path(__file__).resolve().parents[2] / "services" / "metering" / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def _initial_reading(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except NotFound:
        return None
