"""A billing run's invoice_issued events on PostgreSQL: two billing replicas
publishing at once send every invoice's event exactly once (the run row is claimed
with FOR UPDATE SKIP LOCKED, one batch at a time)."""
from datetime import datetime, timezone
from pathlib import Path

import eventlet
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from services.billing import issued, runs
from services.billing.models import invoice_runs, metadata, tariff_components
from services.common import migrate
from services.common.clock import Clock
from services.common.db import UnitOfWork, make_engine
from services.common.identifiers import make_reference_number
from services.common.outbox import Outbox

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "billing" / "migrations"
CONTRACTS = 120


class SlowRecorder:
    """A replica's broker connection that yields while 'publishing', so two interleave."""

    def __init__(self, name, sent):
        self.name, self.sent = name, sent

    def publish(self, message, headers=None):
        eventlet.sleep(0.0005)
        self.sent.append((self.name, message["data"]["invoice_no"], message["event_id"]))

    def publish_many(self, messages, headers=None):
        for message in messages:
            self.publish(message, headers)


@pytest.fixture
def billed(database_urls):
    """A billing database on PostgreSQL with one run of CONTRACTS invoices committed."""
    engine = make_engine(database_urls["billing"])
    migrate.upgrade(engine, MIGRATIONS)
    clock = Clock()
    clock.set(datetime(2026, 5, 3, 9, tzinfo=timezone.utc))
    with engine.begin() as conn:   # the migrations seed the tariffs and the VAT history
        plan = conn.execute(sa.select(tariff_components.c.tariff_plan)
                            .where(tariff_components.c.kind == "monthly_fee")).scalars().first()
    outbox = Outbox(engine, metadata.tables["outbox"], SlowRecorder("outbox", []), clock)
    outbox.handled_table = metadata.tables["handled_events"]
    session_factory = sessionmaker(engine, expire_on_commit=False)
    for n in range(CONTRACTS):
        with UnitOfWork(session_factory, outbox, "billing", clock) as uow:
            runs.record_contract(uow, {
                "contract_no": f"VL-{n}", "customer_id": f"c-{n}",
                "reference_no": make_reference_number(str(3000 + n)), "tariff_plan": plan,
                "start_date": "2026-01-01"})
    with UnitOfWork(session_factory, outbox, "billing", clock) as uow:
        assert runs.run(uow, "2026-04", due_days=14)["invoices_issued"] == CONTRACTS
    yield engine, clock
    engine.dispose()


def published(engine):
    with engine.connect() as conn:
        return conn.execute(sa.select(invoice_runs.c.published_at)).scalar() is not None


def test_two_replicas_announce_every_invoice_once(billed):
    engine, clock = billed
    sent = []
    replicas = [SlowRecorder(name, sent) for name in ("replica-a", "replica-b")]

    def ticks(publisher):
        """A replica's timer: a batch per tick until the run is out (a replica that
        finds the run claimed by the other sends nothing that tick)."""
        count = 0
        while not published(engine):
            count += issued.publish_pending(engine, publisher, clock, batch_size=10,
                                            max_batches=1)
            eventlet.sleep(0)
        return count

    counts = list(eventlet.GreenPool().imap(ticks, replicas))

    numbers = [number for _, number, _ in sent]
    assert sorted(numbers) == [runs.invoice_number(2026, n) for n in range(1, CONTRACTS + 1)]
    assert len({event_id for _, _, event_id in sent}) == CONTRACTS
    assert sum(counts) == CONTRACTS and all(counts), f"both should have taken batches: {counts}"
    with engine.connect() as conn:
        done = conn.execute(sa.select(invoice_runs.c.published_through,
                                      invoice_runs.c.published_at)).one()
    assert done.published_through == runs.invoice_number(2026, CONTRACTS) and done.published_at
    assert issued.publish_pending(engine, SlowRecorder("late", sent), clock) == 0
