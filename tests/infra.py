"""Where the tests' RabbitMQ and PostgreSQL come from.

- AMQP_URI / DATABASE_URL set: those servers (CI, this machine kind).
- otherwise, where a Docker engine runs: testcontainers starts them.
- otherwise the local servers on their standard ports, if they answer.

Every test gets its own RabbitMQ virtual host and its own databases, created
fresh and dropped afterwards, so tests never see each other's messages or rows.
"""
import os
import socket
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import sqlalchemy as sa

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _docker_available():
    try:
        import docker
        docker.from_env().ping()
        return True
    except Exception:
        return False


class Broker:
    """A RabbitMQ server with its management API."""

    def __init__(self, amqp_uri, management_url):
        self.amqp_uri = amqp_uri
        self.management_url = management_url.rstrip("/")
        parts = urlsplit(amqp_uri)
        self.user = parts.username or "guest"
        self.password = parts.password or "guest"

    def api(self, method, path, **kwargs):
        response = requests.request(method, f"{self.management_url}/api/{path}",
                                    auth=(self.user, self.password), timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def new_vhost(self):
        name = f"vool-test-{uuid.uuid4().hex[:12]}"
        self.api("PUT", f"vhosts/{quote(name, safe='')}")
        self.api("PUT", f"permissions/{quote(name, safe='')}/{self.user}",
                 json={"configure": ".*", "write": ".*", "read": ".*"})
        parts = urlsplit(self.amqp_uri)
        return name, urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))

    def drop_vhost(self, name):
        requests.delete(f"{self.management_url}/api/vhosts/{quote(name, safe='')}",
                        auth=(self.user, self.password), timeout=10)


class PostgresServer:
    def __init__(self, url):
        self.url = sa.engine.make_url(url).set(drivername="postgresql+psycopg2")
        self._admin = sa.create_engine(self.url.set(database="postgres"),
                                       isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def new_database(self, label):
        name = f"vt_{uuid.uuid4().hex[:10]}_{label}"
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return name, self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name):
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_broker(stack):
    if os.environ.get("AMQP_URI"):
        return Broker(os.environ["AMQP_URI"],
                      os.environ.get("RABBIT_MANAGEMENT_URL", "http://127.0.0.1:15672"))
    if _docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer
        container = stack.enter_context(RabbitMqContainer("rabbitmq:3.13.7-management"))
        host = container.get_container_host_ip()
        return Broker(f"amqp://guest:guest@{host}:{container.get_exposed_port(5672)}/",
                      f"http://{host}:{container.get_exposed_port(15672)}")
    if _answers("127.0.0.1", 5672):
        return Broker(LOCAL_AMQP, "http://127.0.0.1:15672")
    raise RuntimeError("no RabbitMQ: set AMQP_URI, run a Docker engine, or start the local "
                       "server (rabbitmq-server -detached)")


def start_postgres(stack):
    if os.environ.get("DATABASE_URL"):
        return PostgresServer(os.environ["DATABASE_URL"])
    if _docker_available():
        from testcontainers.postgres import PostgresContainer
        container = stack.enter_context(PostgresContainer("postgres:16.4"))
        return PostgresServer(container.get_connection_url())
    if _answers("127.0.0.1", 5432):
        return PostgresServer(LOCAL_PG)
    raise RuntimeError("no PostgreSQL: set DATABASE_URL, run a Docker engine, or start the "
                       "local server")
