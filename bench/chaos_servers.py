"""The chaos run's own servers, to break on purpose: a private PostgreSQL cluster
and private RabbitMQ nodes (one, or three clustered), each on its own ports and
in its own temporary directory, removed afterwards.

They never touch the machine's shared servers: PostgreSQL is its own ``initdb``
data directory driven by ``pg_ctl -D <that directory>``; a RabbitMQ node has its
own node name, ports, config, env file (the machine's ``rabbitmq-env.conf`` names
``rabbit@localhost``, so it is replaced, not read) and Mnesia directory, and every
``rabbitmqctl`` names that node with ``-n``. Processes are ended by pid, as found
below the process each server was started as (never epmd, which is shared).
"""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import requests

from bench.infra import free_port

PG_BIN = Path(os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
RABBIT_BIN = Path(os.environ.get("CHAOS_RABBIT_BIN", "/usr/lib/rabbitmq/bin"))
RABBIT_HOME = "/var/lib/rabbitmq"   # its .erlang.cookie is what rabbitmqctl must present


def _as(user, command, **kwargs):
    """``command`` run as ``user`` (runuser) when we are root, else as ourselves."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", user, "--", *command]
    return command


def _descendants(pid):
    """pid and every process below it (children are found through /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(
                        int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def _kill_tree(pid, sig=signal.SIGKILL):
    for p in _descendants(pid):
        if _comm(p) not in (None, "epmd"):   # epmd is the machine's, shared by every node
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, sig)


class PrivatePostgres:
    """A PostgreSQL cluster of our own: ``initdb`` in a temporary directory,
    loopback only, trust authentication, fsync off (a crash of the server, not of
    the machine, loses nothing that was committed)."""

    def __init__(self, root, port=None):
        self.dir = Path(root) / "postgres"
        self.data = self.dir / "data"
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args, check=True):
        return subprocess.run(_as("postgres", [str(PG_BIN / args[0]), *args[1:]]),
                              cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=check, timeout=120)

    def init(self):
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")
        return self

    def start(self):
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=400 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        """``mode="immediate"`` is a crash: every backend is gone at once."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def running(self):
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def version(self):
        out = self._run("postgres", "--version", check=False).stdout.decode().strip()
        return out.rsplit(" ", 1)[-1]

    def remove(self):
        with contextlib.suppress(Exception):
            if self.data.exists():
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitNode:
    """One RabbitMQ node of our own: node name ``<name>@localhost``, its AMQP,
    distribution and management ports, its config and Mnesia directory."""

    def __init__(self, root, name):
        self.name = name
        self.node = f"{name}@localhost"
        self.dir = Path(root) / name
        self.amqp_port, self.dist_port, self.management_port = (free_port(), free_port(),
                                                                free_port())
        self.process = None
        self.dir.mkdir(parents=True)
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.management_port}\n"
            "loopback_users = none\n"
            # a steady, CPU-starved two-core machine: no false partitions
            "net_ticktime = 30\n"
            "cluster_partition_handling = pause_minority\n")
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")   # not the machine's NODENAME
        if os.geteuid() == 0:
            for path in [self.dir, *self.dir.iterdir()]:
                shutil.chown(path, "rabbitmq", "rabbitmq")

    @property
    def management_url(self):
        return f"http://127.0.0.1:{self.management_port}"

    def amqp_uri(self, vhost_path="/"):
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}{vhost_path}"

    def _env(self):
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": RABBIT_HOME, "LANG": "C.UTF-8",
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port), "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, wait=True, timeout=90):
        env_args = [f"{k}={v}" for k, v in self._env().items()]
        log = open(self.dir / "server.out", "ab")
        self.process = subprocess.Popen(
            _as("rabbitmq", ["env", "-i", *env_args, str(RABBIT_BIN / "rabbitmq-server")]),
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        if wait:
            self.wait_up(timeout)

    def wait_up(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited; see {self.dir}/log")
            if self.answers():
                return
            time.sleep(0.3)
        raise RuntimeError(f"RabbitMQ node {self.node} did not start in {timeout}s")

    def answers(self):
        try:
            r = requests.get(f"{self.management_url}/api/overview", auth=("guest", "guest"),
                             timeout=2)
            return r.status_code == 200 and bool(r.json().get("listeners"))
        except Exception:
            return False

    def ctl(self, *args, timeout=60, check=True):
        env = {k: v for k, v in self._env().items()
               if k in ("PATH", "HOME", "LANG", "RABBITMQ_CONF_ENV_FILE", "ERL_EPMD_ADDRESS")}
        return subprocess.run(
            _as("rabbitmq", ["env", "-i", *[f"{k}={v}" for k, v in env.items()],
                             str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args]),
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=timeout, check=check)

    def kill(self):
        """kill -9 of the node and everything it started."""
        if self.process is not None:
            _kill_tree(self.process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)

    def stop(self):
        """A clean shutdown (what a restart by an operator does), kill -9 if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.ctl("stop", timeout=60, check=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.kill()

    def remove(self):
        with contextlib.suppress(Exception):
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitCluster:
    """``size`` private nodes on this machine, the 2nd and later joined to the 1st."""

    def __init__(self, root, size=1, label=None):
        label = label or f"vool-chaos{uuid.uuid4().hex[:4]}"
        self.nodes = [RabbitNode(root, f"{label}-{n}") for n in range(1, size + 1)]

    def start(self):
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_up()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
        for node in self.nodes:
            node.wait_up()
        return self

    def members(self):
        """The running nodes as the first node that answers sees them."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                r = requests.get(f"{node.management_url}/api/nodes", auth=("guest", "guest"),
                                 timeout=3)
                if r.status_code == 200:
                    return sorted(n["name"] for n in r.json() if n.get("running"))
        return []

    def up(self):
        """A node that answers (its management API), or None."""
        return next((n for n in self.nodes if n.answers()), None)

    def failover_uri(self, vhost_path):
        """kombu's failover form: ``amqp://h1/v;amqp://h2/v;...``, tried in order."""
        return ";".join(n.amqp_uri(vhost_path) for n in self.nodes)

    def remove(self):
        for node in self.nodes:
            node.remove()


def workspace():
    """A temporary directory the postgres and rabbitmq users can enter."""
    root = Path(tempfile.mkdtemp(prefix="vool-chaos-"))
    os.chmod(root, 0o755)
    return root
