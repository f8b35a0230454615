"""``python -m services.healthcheck <service>``: the containers' healthcheck.

No broker needed: the RPC is faked, or pointed at a port nobody listens on; the
gateway's /health is a tiny HTTP server on a free local port.
"""
import http.server
import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from nameko.exceptions import RpcTimeout, UnknownService

from services import healthcheck
from services.common.config import PROJECT_ROOT

BACKEND = ("identity", "contracts", "metering", "billing", "notifications")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeClusterRpcProxy:
    """Stands in for nameko's ClusterRpcProxy: ``cluster[service].health()``
    returns (or raises) ``answer``; records how it was built."""

    instances = []

    def __init__(self, answer):
        self.answer = answer

    def __call__(self, config, timeout=None):
        self.config, self.timeout = config, timeout
        FakeClusterRpcProxy.instances.append(self)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __getitem__(self, service):
        self.service = service
        return self

    def health(self):
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


@pytest.fixture
def fake_rpc(monkeypatch):
    def install(answer):
        fake = FakeClusterRpcProxy(answer)
        monkeypatch.setattr(healthcheck, "ClusterRpcProxy", fake)
        monkeypatch.setattr(healthcheck, "probe_broker", lambda uri, timeout: None)
        return fake
    return install


# --- usage ---------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["nonsense"], [], ["identity", "--timeout", "0"]],
                         ids=["unknown service", "no service", "zero timeout"])
def test_a_usage_error_exits_2_with_the_usage(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        healthcheck.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m services.healthcheck"), err
    assert "Traceback" not in err


def test_every_service_is_a_choice():
    parsed = {healthcheck.parse_args([name]).service for name in BACKEND + ("gateway",)}
    assert parsed == set(BACKEND) | {"gateway"}


# --- backend services: the health RPC -----------------------------------------------

def test_ok_when_the_service_answers_status_ok(fake_rpc, monkeypatch, capsys):
    monkeypatch.setenv("AMQP_URI", "amqp://u:p@broker.example:5672/vh")
    fake = fake_rpc({"status": "ok", "database": "ok"})
    assert healthcheck.main(["billing", "--timeout", "3"]) == 0
    assert fake.service == "billing"
    assert fake.config == {"AMQP_URI": "amqp://u:p@broker.example:5672/vh"}
    assert fake.timeout == 3
    assert capsys.readouterr().out.startswith("billing: ok")


def test_without_amqp_uri_the_default_broker_is_asked(fake_rpc, monkeypatch):
    monkeypatch.delenv("AMQP_URI", raising=False)
    fake = fake_rpc({"status": "ok"})
    assert healthcheck.main(["identity"]) == 0
    assert fake.config == {"AMQP_URI": "amqp://guest:guest@localhost:5672/"}
    assert 0 < fake.timeout <= 10, "a healthcheck waits briefly"


@pytest.mark.parametrize("answer, reason", [
    ({"status": "degraded", "database": "unreachable"}, "'degraded'"),
    ({"database": "ok"}, "None"),
    ("ok", "None"),
    (RpcTimeout(2), "no answer within"),
    (UnknownService("metering"), "not running"),
    (ConnectionResetError(104, "Connection reset by peer"), "message broker unreachable"),
    (RuntimeError("boom"), "RuntimeError: boom"),
], ids=["degraded", "no status", "not a dict", "timeout", "not running",
                               "broker went away", "unexpected error"])
def test_unhealthy_answers_exit_1_with_a_reason_and_no_traceback(fake_rpc, capsys,
                                                                 answer, reason):
    fake_rpc(answer)
    assert healthcheck.main(["metering"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("metering: unhealthy:"), captured.err
    assert reason in captured.err
    assert "Traceback" not in captured.err


def test_an_unreachable_broker_exits_1_quickly(monkeypatch, capsys):
    monkeypatch.setenv("AMQP_URI", "amqp://guest:s3cret@127.0.0.1:1/")
    started = time.monotonic()
    assert healthcheck.main(["identity", "--timeout", "2"]) == 1
    assert time.monotonic() - started < 1
    err = capsys.readouterr().err
    assert err.startswith("identity: unhealthy: message broker unreachable at "
                          "amqp://guest:***@127.0.0.1:1/"), err
    assert "s3cret" not in err, "the broker password must not reach the logs"
    assert "Traceback" not in err


def test_runs_as_a_module(monkeypatch):
    """As the containers run it: `python -m services.healthcheck <service>`."""
    monkeypatch.setenv("AMQP_URI", "amqp://guest:guest@127.0.0.1:1/")
    done = subprocess.run([sys.executable, "-m", "services.healthcheck", "billing"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("billing: unhealthy: message broker unreachable"), \
        done.stderr
    assert "Traceback" not in done.stderr
    # nameko imports eventlet, which warns it is deprecated: not in a health report
    assert "Eventlet" not in done.stderr, done.stderr


def test_a_check_that_hangs_is_cut_off(monkeypatch, capsys):
    release = threading.Event()
    monkeypatch.setattr(healthcheck, "check_backend",
                        lambda service, timeout, mode: release.wait(10))
    started = time.monotonic()
    try:
        assert healthcheck.main(["contracts", "--timeout", "0.2"]) == 1
    finally:
        release.set()
    assert time.monotonic() - started < 2
    assert "no answer within 0.2 s" in capsys.readouterr().err


# --- the gateway: GET /health ---------------------------------------------------------

@pytest.mark.parametrize("address, url", [
    (None, "http://127.0.0.1:8000/health"),
    ("0.0.0.0:8000", "http://127.0.0.1:8000/health"),
    ("8081", "http://127.0.0.1:8081/health"),
    ("10.1.2.3:9000", "http://10.1.2.3:9000/health"),
])
def test_gateway_url_follows_its_listening_address(monkeypatch, address, url):
    if address is None:
        monkeypatch.delenv("VOOL_GATEWAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("VOOL_GATEWAY_ADDRESS", address)
    assert healthcheck.gateway_health_url() == url


def test_a_malformed_gateway_address_is_unhealthy(monkeypatch, capsys):
    monkeypatch.setenv("VOOL_GATEWAY_ADDRESS", "localhost:http")
    assert healthcheck.main(["gateway"]) == 1
    assert "not [address:]port" in capsys.readouterr().err


def test_gateway_not_listening_exits_1(monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("VOOL_GATEWAY_ADDRESS", f"127.0.0.1:{port}")
    assert healthcheck.main(["gateway", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/health not reachable" in err, err
    assert "Traceback" not in err


@pytest.fixture
def gateway(monkeypatch):
    """A stand-in gateway answering GET /health with ``gateway.answer``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = server.answer
            payload = json.dumps(body).encode()
            server.paths.append(self.path)
            self.send_response(status if self.path in ("/health", "/health/live",
                                                       "/health/ready") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.answer = (200, {"status": "ok"})
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("VOOL_GATEWAY_ADDRESS", f"0.0.0.0:{server.server_port}")
    yield server
    server.shutdown()
    server.server_close()


def test_gateway_ok_on_200(gateway, capsys):
    gateway.answer = (200, {"status": "ok", "services": {"identity": "ok"}})
    assert healthcheck.main(["gateway", "--timeout", "2"]) == 0
    assert capsys.readouterr().out.startswith('gateway: ok {"status": "ok"')


def test_gateway_unhealthy_on_503_says_which_service(gateway, capsys):
    gateway.answer = (503, {"status": "unavailable", "services": {"billing": "unavailable"}})
    assert healthcheck.main(["gateway", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert "answered HTTP 503" in err and '"billing": "unavailable"' in err, err
    assert "Traceback" not in err


# --- liveness and readiness apart ------------------------------------------------------

def test_live_and_ready_are_exclusive_and_default_to_the_whole_check(capsys):
    assert healthcheck.parse_args(["billing"]).mode == "all"
    assert healthcheck.parse_args(["billing", "--live"]).mode == "live"
    assert healthcheck.parse_args(["gateway", "--ready"]).mode == "ready"
    with pytest.raises(SystemExit) as exit_:
        healthcheck.parse_args(["billing", "--live", "--ready"])
    assert exit_.value.code == 2


def test_a_backend_whose_database_is_down_is_alive_but_not_ready(fake_rpc, capsys):
    fake_rpc({"status": "degraded", "database": "unreachable"})
    assert healthcheck.main(["billing", "--live"]) == 0
    assert capsys.readouterr().out.startswith("billing: alive")
    assert healthcheck.main(["billing", "--ready"]) == 1
    assert "'degraded'" in capsys.readouterr().err


@pytest.mark.parametrize("answer", [RpcTimeout(2), UnknownService("billing")],
                         ids=["timeout", "not running"])
def test_a_backend_that_does_not_answer_is_not_alive(fake_rpc, capsys, answer):
    fake_rpc(answer)
    assert healthcheck.main(["billing", "--live"]) == 1


@pytest.mark.parametrize("flag, path", [("--live", "/health/live"),
                                        ("--ready", "/health/ready"), (None, "/health")])
def test_the_gateway_is_asked_the_path_of_the_mode(gateway, capsys, flag, path):
    argv = ["gateway", "--timeout", "2"] + ([flag] if flag else [])
    assert healthcheck.main(argv) == 0
    assert gateway.paths == [path]
