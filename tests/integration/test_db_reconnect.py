"""Without pool_pre_ping, a unit of work still survives PostgreSQL dropping its
pooled connections (a restart, make chaos's kill): a checkout sees the closed socket
and takes a new connection; should it not (nothing received yet), the transaction's
first statement runs again on a new one; a loss in mid-transaction is raised."""
import pytest
import sqlalchemy as sa

from services.common import db as db_module
from services.common.db import make_engine, session_factory


@pytest.fixture
def database(postgres):
    name, url = postgres.new_database("reconnect")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE readings (n integer primary key)"))
    yield name, engine
    engine.dispose()
    postgres.drop_database(name)


def kill_connections(engine, database_name):
    """What a PostgreSQL restart does to a pool: every backend of the database ends."""
    killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": database_name}).scalar()
    killer.dispose()
    return killed


def fill_pool(engine, sessions, count):
    """``count`` connections checked out at once and returned: all pooled."""
    opened = [sessions() for _ in range(count)]
    for session in opened:
        session.execute(sa.text("SELECT 1"))
    for session in opened:
        session.close()


@pytest.fixture(params=["seen at checkout", "seen at the first statement"])
def detection(request, monkeypatch):
    if request.param == "seen at the first statement":   # as when the network is lost
        monkeypatch.setattr(db_module, "_said_goodbye", lambda dbapi_connection: False)
    return request.param


def test_a_unit_of_work_after_the_database_dropped_every_pooled_connection(database,
                                                                           detection):
    name, engine = database
    sessions = session_factory(engine)
    fill_pool(engine, sessions, 3)
    assert engine.pool.checkedin() == 3
    assert kill_connections(engine, name) >= 3

    for n in range(4):   # every dead pooled connection is replaced, none fails a caller
        with sessions() as session:
            session.execute(sa.text("INSERT INTO readings (n) VALUES (:n)"), {"n": n})
            session.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM readings")).scalar() == 4


def test_a_connection_lost_in_mid_transaction_is_not_retried(database):
    name, engine = database
    sessions = session_factory(engine)
    with sessions() as session:
        session.execute(sa.text("INSERT INTO readings (n) VALUES (1)"))
        kill_connections(engine, name)
        with pytest.raises(sa.exc.DBAPIError) as raised:
            session.execute(sa.text("INSERT INTO readings (n) VALUES (2)"))
        assert raised.value.connection_invalidated
    with engine.connect() as conn:   # the first insert died with its transaction
        assert conn.execute(sa.text("SELECT count(*) FROM readings")).scalar() == 0


def test_a_checkout_costs_no_ping(database, monkeypatch):
    _, engine = database
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    sessions = session_factory(engine)
    for _ in range(3):
        with sessions() as session:
            assert session.execute(sa.text("SELECT count(*) FROM readings")).scalar() == 0
    assert pings == []


def test_a_plain_connection_after_the_database_dropped_every_pooled_connection(database):
    name, engine = database
    fill_pool(engine, session_factory(engine), 3)
    kill_connections(engine, name)
    for _ in range(4):
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM readings")).scalar() == 0


def test_the_health_check_after_the_database_dropped_its_connections(database):
    from services.common.db import Database
    name, engine = database
    health = Database.__new__(Database)   # only its engine is asked
    health.engine = engine
    assert health.health()["database"] == "ok"
    kill_connections(engine, name)
    assert health.health() == {"status": "ok", "database": "ok"}
