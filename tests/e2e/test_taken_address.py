"""A web server's address is its own: a second gateway or test bank started on an
address already listened on refuses at start with a message naming the address,
exits non-zero, and the first goes on answering every request (nameko's own web
server would have shared the port through SO_REUSEPORT and taken half of them)."""
import os
import socket
import subprocess
import sys

import pytest
import requests
import yaml

from services.cli import BACKENDS
from services.common import banklink
from services.common.config import PROJECT_ROOT
from tests.conftest import free_port, wait_for
from tests.e2e.system import ops_settings

CONFIGS = {"gateway": "nameko.yaml", "testbank": "testbank-nameko.yaml"}


@pytest.fixture
def environment(amqp_uri, tmp_path):
    banklink.generate_key_pair(tmp_path / "vool.key.pem", tmp_path / "vool.pub.pem")
    banklink.generate_key_pair(tmp_path / "bank.key.pem", tmp_path / "bank.pub.pem")
    (tmp_path / "testbank.yaml").write_text(yaml.safe_dump({
        "bank_id": "TESTBANK", "private_key": str(tmp_path / "bank.key.pem"),
        "merchants": {"VOOL": {"public_key": str(tmp_path / "vool.pub.pem"),
                               "account": "EE382200221020145685", "name": "Vool Energia AS"}},
        "persons": []}))
    # the backends' ops ports free ones: another `vool run` may hold 9101-9105
    return {**os.environ, **ops_settings({s: f"127.0.0.1:{free_port()}" for s in BACKENDS}),
            "AMQP_URI": amqp_uri, "PYTHONWARNINGS": "ignore::DeprecationWarning",
            "VOOL_TESTBANK_CONFIG": str(tmp_path / "testbank.yaml"),
            "VOOL_VAR_DIR": str(tmp_path / "var"), "VOOL_LOG_LEVEL": "WARNING"}


@pytest.fixture
def start(environment, tmp_path):
    """``start(service, address)``: ``nameko run`` of the gateway or the test bank
    on ``address``, as `vool run` and compose start them."""
    started = []

    def start(service, address):
        setting = "VOOL_GATEWAY_ADDRESS" if service == "gateway" else "VOOL_TESTBANK_ADDRESS"
        log = open(tmp_path / f"{service}-{len(started)}.log", "w+")
        process = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config",
             str(PROJECT_ROOT / "deploy" / "config" / CONFIGS[service]),
             f"services.{service}.service"],
            cwd=PROJECT_ROOT, env={**environment, setting: address},
            stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        process.log = log
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def said(process):
    process.log.seek(0)
    return process.log.read()


def answer(url):
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None


def is_gateway(response):
    return (response is not None and response.status_code == 200
            and response.json()["info"]["title"])


def is_testbank(response):
    return (response is not None and response.status_code == 200
            and "/banklink" in response.text and "<html" in response.text.lower())


@pytest.mark.parametrize("first, second, own_page, first_answers", [
    ("gateway", "testbank", "/api/v1/openapi.json", is_gateway),
    ("testbank", "gateway", "/", is_testbank),
    ("gateway", "gateway", "/api/v1/openapi.json", is_gateway),
])
def test_a_second_server_on_a_taken_address_refuses_and_the_first_answers_all(
        start, first, second, own_page, first_answers):
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}{own_page}"
    running = start(first, address)
    wait_for(lambda: first_answers(answer(url)), timeout=60,
             message=f"the {first} answering; it said {said(running)[-1500:]}")

    refused = start(second, address)
    assert refused.wait(timeout=60) != 0
    setting = "VOOL_GATEWAY_ADDRESS" if second == "gateway" else "VOOL_TESTBANK_ADDRESS"
    assert (f"{second}: the address {address} is already in use by another process; "
            f"stop that one or set {setting} to another address") in said(refused)
    assert "Traceback" not in said(refused)

    # every request reaches the first (a shared port would have sent some to the second)
    answers = [answer(url) for _ in range(60)]
    assert all(first_answers(response) for response in answers), \
        [getattr(response, "status_code", None) for response in answers]
    assert running.poll() is None


def test_vool_run_refuses_before_starting_anything_when_an_address_is_taken(environment):
    port = free_port()
    same = {**environment, "VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{port}",
            "VOOL_TESTBANK_ADDRESS": f"127.0.0.1:{port}"}
    shared = subprocess.run([sys.executable, "-m", "services.cli", "run", "--no-demo"],
                            cwd=PROJECT_ROOT, env=same, capture_output=True, text=True,
                            timeout=60)
    assert shared.returncode == 1
    assert (f"vool: testbank: the address 127.0.0.1:{port} is also the gateway's; "
            "set VOOL_TESTBANK_ADDRESS to another") in shared.stderr
    assert "nothing started" in shared.stderr and "started identity" not in shared.stdout

    with socket.create_server(("127.0.0.1", port)):   # someone else listens
        taken = subprocess.run(
            [sys.executable, "-m", "services.cli", "run", "--no-demo"], cwd=PROJECT_ROOT,
            env={**environment, "VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{port}",
                 "VOOL_TESTBANK_ADDRESS": f"127.0.0.1:{free_port()}"},
            capture_output=True, text=True, timeout=60)
    assert taken.returncode == 1
    assert (f"vool: gateway: the address 127.0.0.1:{port} is already in use by another "
            "process; stop that one or set VOOL_GATEWAY_ADDRESS to another address"
            ) in taken.stderr
    assert "started identity" not in taken.stdout
