"""``vool operator add``: identity's own command-line tool, on identity's database."""
import getpass
import os
import sys
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from services.common import config as cfg
from services.common import migrate
from services.common.clock import clock
from services.common.db import UnitOfWork, make_engine
from services.common.errors import VoolError
from services.common.outbox import Outbox
from services.identity import operators
from services.identity.models import metadata

MIGRATIONS = Path(__file__).parent / "migrations"


class _NoPublishing:
    def publish_many(self, messages, headers=None):  # adding an operator emits no events
        raise AssertionError("unexpected event")


def add_operator_command(args):
    password = os.environ.get("VOOL_OPERATOR_PASSWORD")
    if not password:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("vool: the passwords differ", file=sys.stderr)
            return 2
    engine = make_engine(cfg.database_url(None, "identity"))
    try:
        migrate.upgrade(engine, MIGRATIONS)
        outbox = Outbox(engine, metadata.tables["outbox"], _NoPublishing(), clock)
        with UnitOfWork(sessionmaker(engine), outbox, "identity", clock) as uow:
            added = operators.add_operator(uow, args.name, args.role, password)
    except VoolError as exc:
        print(f"vool: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"operator {added['username']} ({added['role']}) added")
    return 0
