"""A unit of work on an in-memory SQLite database, with the publishing side
replaced by a list: domain rules run for real, no broker involved."""
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from services.common.clock import Clock
from services.common.db import UnitOfWork
from services.common.outbox import Outbox


class PublishedEvents(list):
    def publish(self, message, headers=None):
        self.append(message)

    def publish_many(self, messages, headers=None):
        self.extend(messages)


class FakeDatabase:
    def __init__(self, metadata, service_name):
        self.engine = sa.create_engine("sqlite://", poolclass=StaticPool,
                                       connect_args={"check_same_thread": False})
        metadata.create_all(self.engine)
        self.published = PublishedEvents()
        self.clock = Clock()
        self.outbox = Outbox(self.engine, metadata.tables["outbox"], self.published, self.clock)
        self.outbox.handled_table = metadata.tables["handled_events"]
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.service_name = service_name

    def unit_of_work(self):
        return UnitOfWork(self.session_factory, self.outbox, self.service_name, self.clock)

    def events(self, event_type=None):
        return [m for m in self.published if event_type in (None, m["event_type"])]
