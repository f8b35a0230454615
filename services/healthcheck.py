"""The containers' healthcheck: ``python -m services.healthcheck <service> [--live|--ready]``.

A backend service (identity, contracts, metering, billing, notifications) is asked
for its ``health`` RPC over the broker at ``AMQP_URI``. ``--live``: it is alive when
it answers at all in time (the process runs and consumes its queue, whatever its
database says); ``--ready`` and the default: when it answers ``{"status": "ok", ...}``
(its database answered too).

The gateway is asked over HTTP on the port of ``VOOL_GATEWAY_ADDRESS``: ``--live``
``GET /health/live``; ``--ready`` ``GET /health/ready`` (its broker is usable; a
backend that is down does not make it unready); with neither, ``GET /health``,
which is 200 only when every backend service is healthy.

Exit status: 0 healthy, 1 unhealthy or unreachable (the reason on stderr, never a
traceback), 2 usage error. The whole check takes about ``--timeout`` seconds at most.
"""
import argparse
import json
import logging
import os
import re
import socket
import sys
import threading
import urllib.error
import urllib.request
import warnings
from urllib.parse import urlsplit, urlunsplit

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # nameko imports it

# Imported here, not lazily inside the check: importing eventlet (through nameko)
# from the check's thread leaves that thread impossible to join.
from kombu.exceptions import OperationalError  # noqa: E402
from nameko.exceptions import RpcTimeout, UnknownService  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from services.common import config as cfg  # noqa: E402
from services.common import errors  # noqa: E402,F401  registers our typed errors for replies

# every service with a ``health`` RPC, and the gateway with its GET /health
BACKEND_SERVICES = ("identity", "contracts", "metering", "billing", "notifications")
SERVICES = BACKEND_SERVICES + ("gateway",)
DEFAULT_TIMEOUT = 5.0
DEFAULT_GATEWAY_ADDRESS = "0.0.0.0:8000"
# the same shape nameko accepts for its web server: ``[address:]port``
_ADDRESS = re.compile(r"^((?P<host>[^:]+):)?(?P<port>\d+)$")
_WILDCARD_HOSTS = ("", "0.0.0.0", "*")


class Unhealthy(Exception):
    """The check ran and the answer was not good (the message says why)."""


_GATEWAY_PATHS = {"all": "/health", "live": "/health/live", "ready": "/health/ready"}


def gateway_health_url(address=None, mode="all"):
    """``http://127.0.0.1:<port>/health[/live|/ready]`` for where the gateway listens."""
    address = address or os.environ.get("VOOL_GATEWAY_ADDRESS") or DEFAULT_GATEWAY_ADDRESS
    match = _ADDRESS.match(address.strip())
    if match is None:
        raise Unhealthy(f"VOOL_GATEWAY_ADDRESS {address!r} is not [address:]port")
    host = match.group("host") or ""
    if host in _WILDCARD_HOSTS:  # listening everywhere: ask over loopback
        host = "127.0.0.1"
    return f"http://{host}:{int(match.group('port'))}{_GATEWAY_PATHS[mode]}"


def _without_password(uri):
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def probe_broker(amqp_uri, timeout):
    """Fail fast when nothing listens at the broker's address: kombu would wait 2 s
    and try again before saying so. (Skipped for a failover list of URIs.)"""
    parts = urlsplit(amqp_uri)
    if ";" in amqp_uri or not parts.hostname:
        return
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    socket.create_connection((parts.hostname, port), timeout=timeout).close()


def check_backend(service, timeout, mode="all"):
    """Call ``<service>.health()``; return a one-line report or raise Unhealthy.
    Alive is any answer; ready (and "all") is an answer with status "ok"."""
    amqp_uri = cfg.amqp_uri()
    try:
        probe_broker(amqp_uri, timeout)
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout) as cluster:
            answer = cluster[service].health()
    except RpcTimeout:
        raise Unhealthy(f"no answer within {timeout:g} s") from None
    except UnknownService:
        raise Unhealthy("not running (nobody consumes its RPC queue)") from None
    except (OperationalError, OSError) as exc:
        raise Unhealthy(f"message broker unreachable at {_without_password(amqp_uri)}: "
                        f"{exc}") from None
    status = answer.get("status") if isinstance(answer, dict) else None
    if mode == "live":
        return f"alive {json.dumps(answer, default=str)}"
    if status != "ok":
        raise Unhealthy(f"status {status!r}: {json.dumps(answer, default=str)}")
    return f"ok {json.dumps(answer, default=str)}"


def check_gateway(timeout, mode="all"):
    """``GET /health[/live|/ready]`` on the gateway; a one-line report or Unhealthy."""
    url = gateway_health_url(mode=mode)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read(2048)
    except urllib.error.HTTPError as exc:
        body = exc.read(2048).decode("utf-8", "replace").strip()
        raise Unhealthy(f"{url} answered HTTP {exc.code}: {body}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unhealthy(f"{url} not reachable: {reason}") from None
    if status != 200:
        raise Unhealthy(f"{url} answered HTTP {status}")
    return f"ok {body.decode('utf-8', 'replace').strip()}"


def run_check(service, timeout, mode="all"):
    """Run one check within about ``timeout`` seconds (a little more to connect) and
    return ``(healthy, report)``. A broker that accepts the connection but never
    speaks would otherwise hang the check until Docker kills it."""
    outcome = {}

    def check():
        try:
            if service == "gateway":
                outcome["report"] = check_gateway(timeout, mode)
            else:
                outcome["report"] = check_backend(service, timeout, mode)
        except Unhealthy as exc:
            outcome["error"] = str(exc)
        except BaseException as exc:  # noqa: BLE001  a healthcheck never shows a traceback
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=check, name=f"healthcheck-{service}", daemon=True)
    worker.start()
    worker.join(timeout + min(timeout, 1.0))  # the RPC timeout does not cover connecting
    if worker.is_alive():
        return False, f"no answer within {timeout:g} s"
    if "error" in outcome:
        return False, outcome["error"]
    return True, outcome["report"]


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m services.healthcheck",
        description="Exit 0 when the service is healthy, 1 when not, 2 on a usage error.")
    parser.add_argument("service", choices=SERVICES, metavar="SERVICE",
                        help=f"one of {', '.join(SERVICES)}")
    parser.add_argument("--timeout", type=_positive_seconds, default=DEFAULT_TIMEOUT,
                        help=f"seconds to wait for the answer (default {DEFAULT_TIMEOUT:g})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--live", dest="mode", action="store_const", const="live",
                      help="liveness: the process answers (a restart would help if not)")
    mode.add_argument("--ready", dest="mode", action="store_const", const="ready",
                      help="readiness: its broker and database are usable; for the "
                           "gateway, its broker (a backend down does not count)")
    parser.set_defaults(mode="all")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)  # exits 2 with the usage on a bad argument
    # kombu and nameko log their connection troubles; the one line below says it all
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    healthy, report = run_check(args.service, args.timeout, args.mode)
    if healthy:
        print(f"{args.service}: {report}", flush=True)
        return 0
    print(f"{args.service}: unhealthy: {report}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
