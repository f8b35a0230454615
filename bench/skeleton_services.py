"""The skeleton: the way of a reading with Vool's plumbing and no domain.

The floor's HTTP -> RPC -> event, but shaped like scenario (c) and built from
services/common as the real services are, each in its own process with its own
PostgreSQL database:

- ``skeleton_gateway``: the floor's gateway (``@http`` -> RPC), nothing more;
- ``skeleton_metering``: an ``@rpc`` that writes a row and a ``reading_stored``
  event in one unit of work (the outbox), which publishes it after commit;
- ``skeleton_billing`` and ``skeleton_notifications``: Vool's batching event
  handler (as billing's and notifications' reading handlers), each writing a row
  per event with the handled event ids, a batch of what was delivered per
  transaction.

No validation, no authorization, no business rule: what this costs is what the
shape of the reading's path costs (two services' transactions more than the
floor, two consumers, the outbox), the least any implementation of that path
with these parts can cost.
"""
import json
import time
import uuid

import sqlalchemy as sa
from nameko.rpc import RpcProxy
from nameko.web.handlers import http

from services.common.db import Database
from services.common.messaging import batch_event_handler
from services.common.rpc import rpc
from services.common.tables import handled_events_table, outbox_table


def _metadata(table):
    metadata = sa.MetaData()
    outbox_table(metadata)
    handled_events_table(metadata)
    sa.Table(table, metadata,
             sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("body", sa.JSON, nullable=False),
             sa.Column("created_at", sa.DateTime(timezone=True), nullable=False))
    return metadata


class SkeletonDatabase(Database):
    """The real provider (unit of work, outbox, relay); tables without migrations."""

    def __init__(self, table):
        super().__init__(_metadata(table), migrations_dir=None)
        self.table = self.metadata.tables[table]

    def create_schema(self):
        self.metadata.create_all(self.engine)

    def count(self):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar()


class SkeletonGateway:
    name = "skeleton_gateway"

    metering = RpcProxy("skeleton_metering")

    @http("POST", "/readings")
    def post_reading(self, request):
        body = json.loads(request.get_data(as_text=True))
        answer = self.metering.store(body)
        return 201, {"Content-Type": "application/json"}, json.dumps(answer)

    @http("GET", "/ready")
    def ready(self, request):
        return 200, "ok"


class SkeletonMetering:
    name = "skeleton_metering"

    db = SkeletonDatabase("readings")

    @rpc
    def store(self, payload):
        reading_id = str(uuid.uuid4())
        with self.db.unit_of_work() as uow:
            uow.session.execute(sa.insert(self.db.table).values(
                id=reading_id, body=payload, created_at=uow.now))
            uow.emit("reading_stored", {"reading_id": reading_id, "at": time.time()})
        return {"reading_id": reading_id}

    @rpc
    def count(self):
        return self.db.count()


def _apply(uow, event, table):
    uow.session.execute(sa.insert(table).values(
        id=event.data["reading_id"], body=event.data, created_at=uow.now))


class _SkeletonConsumer:
    """billing's and notifications' part: a row per reading, once per event."""

    @batch_event_handler("skeleton_metering", "reading_stored")
    def on_reading_stored(self, events):
        self.db.apply_each(events, self.name, _apply, self.db.table)

    @rpc
    def count(self):
        return self.db.count()


class SkeletonBilling(_SkeletonConsumer):
    name = "skeleton_billing"
    db = SkeletonDatabase("charges")


class SkeletonNotifications(_SkeletonConsumer):
    name = "skeleton_notifications"
    db = SkeletonDatabase("reminders")
