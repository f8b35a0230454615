"""What a benchmark run borrows and gives back: a RabbitMQ virtual host, a set of
PostgreSQL databases, nameko service processes, and CPU counters to tell where
the time went."""
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NAMEKO_CONFIG = PROJECT_ROOT / "deploy" / "config" / "nameko.yaml"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
OTHER = "other (kernel, anything else running)"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """RabbitMQ through its management API: one fresh virtual host per scenario."""

    def __init__(self, amqp_uri, management_url):
        self.amqp_uri = amqp_uri
        self.management_url = management_url.rstrip("/")
        parts = urlsplit(amqp_uri)
        self.auth = (parts.username or "guest", parts.password or "guest")

    def api(self, method, path, **kwargs):
        response = requests.request(method, f"{self.management_url}/api/{path}",
                                    auth=self.auth, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def version(self):
        return self.api("GET", "overview").get("rabbitmq_version", "?")

    def new_vhost(self, label):
        name = f"vool-bench-{label}-{uuid.uuid4().hex[:8]}"
        self.api("PUT", f"vhosts/{quote(name, safe='')}")
        self.api("PUT", f"permissions/{quote(name, safe='')}/{quote(self.auth[0], safe='')}",
                 json={"configure": ".*", "write": ".*", "read": ".*"})
        parts = urlsplit(self.amqp_uri)
        return name, urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), "", ""))

    def drop_vhost(self, name):
        with contextlib.suppress(Exception):
            requests.delete(f"{self.management_url}/api/vhosts/{quote(name, safe='')}",
                            auth=self.auth, timeout=10)

    def queues(self, vhost):
        """``{name: {"messages": n, "consumers": n}}`` of every queue of ``vhost``."""
        rows = self.api("GET", f"queues/{quote(vhost, safe='')}?columns=name,messages,consumers")
        return {q["name"]: {"messages": q.get("messages") or 0,
                            "consumers": q.get("consumers") or 0} for q in rows}


class Postgres:
    """A PostgreSQL server on which the services create ``<prefix>_<service>``."""

    def __init__(self, url):
        self.url = sa.engine.make_url(url).set(drivername="postgresql+psycopg2")
        self.admin = sa.create_engine(self.url.set(database="postgres"),
                                      isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def version(self):
        with self.admin.connect() as conn:
            return conn.execute(sa.text("SHOW server_version")).scalar()

    def new_prefix(self):
        """A database-name prefix no database uses yet; DATABASE_URL for the services."""
        prefix = f"vbench_{uuid.uuid4().hex[:10]}"
        return prefix, self.url.set(drivername="postgresql", database=prefix).render_as_string(
            hide_password=False)

    def engine(self, database):
        return sa.create_engine(self.url.set(database=database), poolclass=sa.pool.NullPool)

    def drop_prefix(self, prefix):
        with self.admin.connect() as conn:
            names = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": prefix + "\\_%"}).scalars().all()
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return names


def _die_with_parent():
    """In the child: get SIGTERM if the benchmark dies without cleaning up."""
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServiceProcesses:
    """nameko service processes, each started like production starts it
    (``python -m nameko run --config deploy/config/nameko.yaml <module>``), each
    logging to its own file; ``stop()`` ends every one of them."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes = {}  # label -> Popen
        self.ops_addresses = {}  # label -> host:port of its ops port
        self._logs = []

    def start(self, label, module, env, profile=False, trace=False):
        """Start one service; with ``profile``, under cProfile, its stats written
        to ``<log_dir>/<label>.prof`` when it stops; with ``trace``, under
        tracemalloc (bench/traced.py), where it grew in ``<log_dir>/<label>.tracemalloc.txt``."""
        log_path = self.log_dir / f"{label}.log"
        log = open(log_path, "ab")
        self._logs.append(log)
        command = [sys.executable, "-m", "nameko", "run", "--config", str(NAMEKO_CONFIG), module]
        # each its own ops port (/metrics, /health): nameko.yaml's :9100 is one per host
        env = {**env, "VOOL_OPS_ADDRESS": f"127.0.0.1:{free_port()}"}
        self.ops_addresses[label] = env["VOOL_OPS_ADDRESS"]
        if profile:
            command[1:1] = ["-m", "cProfile", "-o", str(self.log_dir / f"{label}.prof")]
        if trace:
            command[1:1] = ["-m", "bench.traced", str(self.trace_file(label))]
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   preexec_fn=_die_with_parent)
        self.processes[label] = process
        return process

    def trace_file(self, label):
        return self.log_dir / f"{label}.tracemalloc.txt"

    def check_alive(self):
        for label, process in self.processes.items():
            code = process.poll()
            if code is not None:
                how = (f"was killed by signal {-code} (from outside the benchmark?)"
                       if code < 0 else f"exited with {code}")
                raise RuntimeError(f"{label} {how}; last lines of its log "
                                   f"({self.log_dir / (label + '.log')}):\n{self.tail(label)}")

    def tail(self, label, lines=25):
        path = self.log_dir / f"{label}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_problems(self):
        """``{label: [lines]}``: WARNING/ERROR/Traceback lines each service logged."""
        found = {}
        for label in self.processes:
            path = self.log_dir / f"{label}.log"
            try:
                text = path.read_text(errors="replace").splitlines()
            except OSError:
                continue
            bad = [line for line in text
                   if (" WARNING " in line or " ERROR " in line or " CRITICAL " in line
                       or line.startswith("Traceback"))]
            if bad:
                found[label] = bad
        return found

    def pids(self):
        return {label: p.pid for label, p in self.processes.items() if p.poll() is None}

    def event_batches(self):
        """``{(label, event_type): (batches, events, share of lone events, largest
        bucket)}`` of each batching handler, from its process's ops port."""
        from prometheus_client.parser import text_string_to_metric_families
        found = {}
        for label, address in self.ops_addresses.items():
            if self.processes[label].poll() is not None:
                continue
            try:
                text = requests.get(f"http://{address}/metrics", timeout=2).text
            except requests.RequestException:
                continue
            for family in text_string_to_metric_families(text):
                if family.name != "vool_event_batch_size":
                    continue
                for sample in family.samples:
                    entry = found.setdefault((label, sample.labels["event_type"]),
                                             {"buckets": {}})
                    if sample.name.endswith("_bucket"):
                        entry["buckets"][float(sample.labels["le"])] = sample.value
                    else:
                        entry[sample.name.rsplit("_", 1)[1]] = sample.value
        summary = {}
        for key, entry in found.items():
            count = entry.get("count", 0)
            if count:
                largest = min(le for le, n in entry["buckets"].items() if n >= count)
                summary[key] = (int(count), int(entry.get("sum", 0)),
                                entry["buckets"].get(1.0, 0) / count, largest)
        return summary

    def stop(self, timeout=15.0):
        """SIGTERM everyone (nameko stops gracefully), SIGKILL whoever is left;
        first the batch sizes of the batching event handlers are printed."""
        with contextlib.suppress(Exception):
            for (label, event_type), (batches, events, alone, largest) in sorted(
                    self.event_batches().items()):
                print(f"  event batches: {label} {event_type}: {events} events in {batches} "
                      f"batches, {events / batches:.1f} on average, {alone:.0%} of them alone,"
                      f" the largest <= {largest:g}")
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()


def service_env(**overrides):
    """The environment of a service process: ours, minus anything that would
    point a service elsewhere than the benchmark's own vhost and databases."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("VOOL_") and k.endswith("_DATABASE_URL"))}
    env.pop("DATABASE_URL", None)
    env.update({"VOOL_LOG_LEVEL": "WARNING", "PYTHONWARNINGS": "ignore::DeprecationWarning",
                "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in overrides.items()})
    return env


# --- CPU accounting -------------------------------------------------------------------

def _proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _pids_named(names):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() in names:
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def cpu_model():
    """The processor's name as /proc/cpuinfo gives it ("?" where it does not)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def memory_gib():
    """The machine's memory in GiB, to a tenth (None where /proc does not say)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def machine_busy_seconds():
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU seconds spent by each of our processes, RabbitMQ, PostgreSQL and the
    whole machine between ``start()`` and ``stop()``."""

    def __init__(self, service_pids):
        self.service_pids = dict(service_pids)

    def _snapshot(self):
        snap = {label: _proc_cpu_seconds(pid) or 0.0 for label, pid in self.service_pids.items()}
        snap["load generator (bench)"] = _proc_cpu_seconds(os.getpid()) or 0.0
        # PostgreSQL backends come and go: count per pid, compare pid by pid
        snap["_postgres"] = {pid: _proc_cpu_seconds(pid) for pid in _pids_named({"postgres"})}
        snap["_rabbitmq"] = {pid: _proc_cpu_seconds(pid) for pid in _pids_named({"beam.smp"})}
        snap["_machine"] = machine_busy_seconds()
        return snap

    def start(self):
        self._t0 = time.monotonic()
        self._before = self._snapshot()

    def stop(self):
        after = self._snapshot()
        elapsed = time.monotonic() - self._t0
        used = {}
        for label in self.service_pids:
            used[label] = after[label] - self._before[label]
        used["load generator (bench)"] = (after["load generator (bench)"]
                                          - self._before["load generator (bench)"])
        for key, label in (("_postgres", "postgresql"), ("_rabbitmq", "rabbitmq")):
            before = self._before[key]
            used[label] = sum((v or 0.0) - (before.get(pid) or 0.0)
                              for pid, v in after[key].items())
        machine = after["_machine"] - self._before["_machine"]
        used[OTHER] = max(0.0, machine - sum(used.values()))
        return {"elapsed": elapsed, "machine_busy": machine, "by_process": used}


# --- sampling profiles ----------------------------------------------------------------

def py_spy_binary():
    """py-spy next to our Python (``pip install py-spy``), else on PATH, else None."""
    import shutil
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Spy:
    """``py-spy record`` on some service processes during the measured window, as
    the meter's companion: ``Spy(...).wrap(meter)`` starts and stops both. Each
    profile is written as collapsed stacks to ``<out_dir>/<label>.spy.txt``.
    Sampling (not tracing, unlike cProfile) barely slows the services down."""

    def __init__(self, pids, out_dir, rate=100):
        self.binary = py_spy_binary()
        if self.binary is None:
            raise RuntimeError("--spy needs py-spy: .venv/bin/pip install py-spy")
        self.pids = dict(pids)
        self.out_dir = Path(out_dir)
        self.rate = rate
        self.running = {}
        self.files = {}
        self.logs = []
        self.cpu_seconds = 0.0

    def wrap(self, meter):
        spy = self

        class Both:
            def start(self):
                spy.start()
                meter.start()

            def stop(self):
                value = meter.stop()
                spy.stop()
                return value

        return Both()

    def start(self):
        for label, pid in self.pids.items():
            path = self.out_dir / f"{label}.spy.txt"
            self.files[label] = path
            self.running[label] = subprocess.Popen(
                [self.binary, "record", "--pid", str(pid), "--rate", str(self.rate),
                 "--format", "raw", "--full-filenames", "--nolineno", "--nonblocking",
                 "--output", str(path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._log(label), preexec_fn=_die_with_parent)

    def _log(self, label):
        log = open(self.out_dir / f"{label}.spy.log", "ab")
        self.logs.append(log)
        return log

    def stop(self):
        # its own CPU lands in the meter's "other": say how much of it was py-spy
        self.cpu_seconds = sum(_proc_cpu_seconds(p.pid) or 0.0 for p in self.running.values())
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
        for process in self.running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()
        for log in self.logs:
            log.close()
        self.logs.clear()
