"""Billing keeps each plan's prices in its process (pricing.PlanPrices), and a price
an operator adds still applies to the very next reading priced, in every replica.

Two replicas of billing — two engines on one database, migrated by the real
migrations — on PostgreSQL and on SQLite: one prices readings (and so caches the
plan's prices), the other adds a tariff; the first one's next charge uses it."""
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from services.billing import api, pricing, tariffs
from services.billing.models import charge_lines, charges, metadata
from services.common import migrate
from services.common.clock import Clock
from services.common.db import UnitOfWork, make_engine
from services.common.outbox import Outbox
from services.common.validation import parse
from tests.unit.fakes import PublishedEvents

pytestmark = pytest.mark.both_stores

MIGRATIONS = Path(pricing.__file__).parent / "migrations"


class Replica:
    def __init__(self, url):
        self.engine = make_engine(url)
        migrate.upgrade(self.engine, MIGRATIONS)
        self.clock = Clock()
        self.clock.set(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
        self.outbox = Outbox(self.engine, metadata.tables["outbox"], PublishedEvents(),
                             self.clock)
        self.outbox.handled_table = metadata.tables["handled_events"]
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def unit_of_work(self):
        return UnitOfWork(self.sessions, self.outbox, "billing", self.clock)

    def charge(self, reading_id, previous, on, kwh=100, plan="BASIC"):
        with self.unit_of_work() as uow:
            return pricing.charge_reading(uow, {
                "reading_id": reading_id, "consumption_point_id": "cp-1",
                "contract_no": "VL-1", "customer_id": "c-1", "tariff_plan": plan,
                "reading_date": on, "previous_reading_date": previous,
                "consumption": {"T1": kwh}})

    def energy_lines(self, reading_id):
        with self.engine.connect() as conn:
            return [(row.unit_price, row.kwh, row.net) for row in conn.execute(
                sa.select(charge_lines.c.unit_price, charge_lines.c.kwh, charge_lines.c.net)
                .join(charges, charges.c.charge_id == charge_lines.c.charge_id)
                .where(charges.c.reading_id == reading_id, charge_lines.c.kind == "energy")
                .order_by(charge_lines.c.line_no))]

    def add_energy_price(self, price, valid_from, plan="BASIC"):
        with self.unit_of_work() as uow:
            tariffs.add_tariff(uow, parse(api.TariffPlan, {"code": plan, "components": [
                {"kind": "energy", "price": price, "valid_from": valid_from}]}))


@pytest.fixture
def replicas(database_urls):
    first, second = Replica(database_urls["billing"]), Replica(database_urls["billing"])
    yield first, second
    first.engine.dispose()
    second.engine.dispose()


def test_a_price_added_in_another_replica_applies_to_the_next_reading(replicas):
    pricing_replica, operators_replica = replicas
    assert pricing_replica.charge("r-1", "2026-01-31", "2026-02-01")
    # the launch price (migration 0002), now in the pricing replica's cache
    assert pricing_replica.energy_lines("r-1") == [
        (Decimal("0.129"), Decimal("100"), Decimal("12.90"))]

    operators_replica.add_energy_price("0.200000", "2026-02-02")
    assert pricing_replica.charge("r-2", "2026-02-01", "2026-02-02")
    assert pricing_replica.energy_lines("r-2") == [
        (Decimal("0.2"), Decimal("100"), Decimal("20.00"))]

    # and the days before the new price keep theirs: a reading across it splits
    operators_replica.add_energy_price("0.300000", "2026-02-04")
    assert pricing_replica.charge("r-3", "2026-02-02", "2026-02-04", kwh=10)
    assert pricing_replica.energy_lines("r-3") == [
        (Decimal("0.2"), Decimal("5"), Decimal("1.00")),
        (Decimal("0.3"), Decimal("5"), Decimal("1.50"))]


def test_a_plan_added_in_another_replica_prices_a_reading_flagged_before(replicas):
    pricing_replica, operators_replica = replicas
    assert pricing_replica.charge("r-1", "2026-01-31", "2026-02-01", plan="GREEN") is None
    operators_replica.add_energy_price("0.110000", "2026-01-01", plan="GREEN")  # reprices r-1
    assert pricing_replica.charge("r-2", "2026-02-01", "2026-02-02", plan="GREEN")
    assert pricing_replica.energy_lines("r-1") == [
        (Decimal("0.11"), Decimal("100"), Decimal("11.00"))]
    assert pricing_replica.energy_lines("r-2") == [
        (Decimal("0.11"), Decimal("100"), Decimal("11.00"))]
    # sent again, a charged reading is not charged twice
    assert pricing_replica.charge("r-2", "2026-02-01", "2026-02-02", plan="GREEN") is None
    with pricing_replica.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(charges)).scalar() == 2
