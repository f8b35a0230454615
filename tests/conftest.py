import contextlib
import json
import os
import socket
import time

import eventlet
import pika
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.common import errors  # noqa: F401  typed errors come back as themselves
from services.common.clock import clock
from services.common.rpc_methods import CHECK_RESULTS_SETTING
from tests import infra

# every typed RPC method checks its answer against its published result model
# (services/common/rpc_methods.py), here and in the processes the tests start
os.environ[CHECK_RESULTS_SETTING] = "1"

SERVICE_NAMES = ("identity", "contracts", "metering", "billing", "notifications")


@pytest.fixture(scope="session")
def servers():
    with contextlib.ExitStack() as stack:
        yield infra.start_broker(stack), infra.start_postgres(stack)


@pytest.fixture(scope="session")
def broker(servers):
    return servers[0]


@pytest.fixture(scope="session")
def postgres(servers):
    return servers[1]


@pytest.fixture
def amqp_uri(broker):
    name, uri = broker.new_vhost()
    yield uri
    broker.drop_vhost(name)


STORES = ("postgresql", "sqlite")


def pytest_generate_tests(metafunc):
    """A test marked ``both_stores`` runs once on PostgreSQL and once on SQLite
    (what ``make run`` uses): ``test_x[postgresql]``, ``test_x[sqlite]``."""
    if "store" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
            "both_stores"):
        metafunc.parametrize("store", STORES, indirect=True)


@pytest.fixture
def store(request):
    """Which database the services of a test run on; PostgreSQL unless the test is
    marked ``both_stores``."""
    return getattr(request, "param", "postgresql")


@pytest.fixture
def database_urls(store, request):
    if store == "sqlite":   # a file per service, as `make run` keeps them
        folder = request.getfixturevalue("tmp_path_factory").mktemp("stores")
        yield {service: f"sqlite:///{folder / (service + '.sqlite3')}"
               for service in SERVICE_NAMES}
        return
    postgres = request.getfixturevalue("postgres")
    created = {service: postgres.new_database(service) for service in SERVICE_NAMES}
    yield {service: url for service, (_, url) in created.items()}
    list(eventlet.GreenPool().imap(postgres.drop_database,
                                   [name for name, _ in created.values()]))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def config(amqp_uri, database_urls):
    """The nameko config every service of one test runs with."""
    settings = {
        "AMQP_URI": amqp_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
        "VOOL_RETRY_DELAYS": "0.2,0.4,0.8",
        "VOOL_OUTBOX_RELAY_INTERVAL": 0.3,
        "VOOL_OUTBOX_RELAY_GRACE": 0,
        "VOOL_RPC_TIMEOUT": 3,
        "VOOL_HEALTH_TIMEOUT": 1,
    }
    for service, url in database_urls.items():
        settings[f"VOOL_{service.upper()}_DATABASE_URL"] = url
    return settings


@pytest.fixture
def run_services(config):
    """Start service classes in-process: ``run_services(BillingService, ...)``."""
    containers = []

    def start(*service_classes, **overrides):
        started = []
        for cls in service_classes:
            container = ServiceContainer(cls, {**config, **overrides})
            container.start()
            containers.append(container)
            started.append(container)
        return started[0] if len(started) == 1 else started

    yield start
    stop_all(containers)


def stop_all(containers):
    """Kill what a test started: a graceful stop waits about a second per consumer,
    and the test is over anyway (each test has its own vhost and databases)."""
    def kill(container):
        with contextlib.suppress(Exception):
            container.kill()
    list(eventlet.GreenPool().imap(kill, containers))


@pytest.fixture
def rpc(config):
    with ClusterRpcProxy(config, timeout=15) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def real_time_clock():
    clock.reset()
    yield clock
    clock.reset()


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Poll until ``predicate()`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Bus:
    """The bus seen through pika, the client that is not the one services use."""

    def __init__(self, amqp_uri):
        self.params = pika.URLParameters(amqp_uri)

    @contextlib.contextmanager
    def channel(self):
        connection = pika.BlockingConnection(self.params)
        try:
            yield connection.channel()
        finally:
            connection.close()

    def publish_raw(self, exchange, routing_key, body, content_type="application/json",
                    headers=None):
        with self.channel() as channel:
            channel.confirm_delivery()
            channel.basic_publish(
                exchange, routing_key, body if isinstance(body, bytes) else body.encode(),
                pika.BasicProperties(content_type=content_type, content_encoding="utf-8",
                                     delivery_mode=2, headers=headers))

    def publish_event(self, source, envelope):
        self.publish_raw(f"{source}.events", envelope["event_type"], json.dumps(envelope))

    def drain(self, queue):
        """Every message now in ``queue``, removed: ``[(properties, body)]``."""
        messages = []
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return messages
                messages.append((properties, body))

    def depth(self, queue):
        with self.channel() as channel:
            return channel.queue_declare(queue, passive=True).method.message_count

    def bind_tap(self, exchange, routing_key="#"):
        """A queue of ours that receives a copy of what is published to ``exchange``."""
        with self.channel() as channel:
            channel.exchange_declare(exchange, "topic", durable=True, passive=False)
            name = channel.queue_declare("", exclusive=False, auto_delete=False).method.queue
            channel.queue_bind(name, exchange, routing_key)
        return name


@pytest.fixture
def bus(amqp_uri):
    return Bus(amqp_uri)
