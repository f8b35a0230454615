"""The Quick start's `make run` (`vool run`) on a broker it has never seen and no
database configured: every service starts, the demo is loaded once everyone
listens, and the demo grandmother logs in to the portal through the test bank's
pages and sees both her consumption points; the demo's history (invoices, a
payment, a desk answer, a pending claim) is there; Ctrl-C stops it all; a service killed meanwhile is restarted and the system is
healthy again."""
import os
import signal
import subprocess
import sys
import time

from pathlib import Path

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client.parser import text_string_to_metric_families

from services.common.config import PROJECT_ROOT
from tests.conftest import free_port, wait_for
from tests.e2e.system import ops_settings, output, portal_login, running_vool


@pytest.fixture
def vool_run(broker, tmp_path):
    with running_vool(broker, tmp_path) as run:
        yield run


def test_make_run_starts_everything_loads_the_demo_and_the_portal_works(vool_run):
    gateway = vool_run["gateway"]
    wait_for(lambda: "loaded the demo: 4 contracts" in output(vool_run), timeout=120,
             message=f"the demo loaded; vool said: {output(vool_run)[-2000:]}")
    health = requests.get(f"{gateway}/health", timeout=10)
    assert health.status_code == 200, health.text
    # Õie Mäger, the test bank's first demo person: her contracts reached identity
    home = wait_for(lambda: (lambda page: page if page.status_code == 200 else None)(
        portal_login(gateway, "0")), timeout=30, message="the demo customer can log in")
    assert "Õie Mäger" in home.text
    assert "Pärnu mnt 10-5, Tallinn" in home.text and "Tallinna 7, Rapla" in home.text

    # the demo's history, so that every part of the portal shows something at once
    wait_for(lambda: "the demo's history:" in output(vool_run), timeout=120,
             message=f"the demo's history; vool said: {output(vool_run)[-2000:]}")
    with ClusterRpcProxy({"AMQP_URI": vool_run["amqp_uri"]}, timeout=10) as rpc:
        first = rpc.contracts.get_contract("VL-000001")
        grandmother = first["customer"]["customer_id"]
        invoices = rpc.billing.invoices_of(grandmother)
        months = rpc.metering.consumption_by_month(first["consumption_point"]["id"],
                                                   grandmother, 13)
        payments = rpc.billing.payments_of(grandmother)
        [case] = rpc.notifications.cases_of(grandmother)
        [claim] = rpc.contracts.claims_of(grandmother)
        queued = wait_for(lambda: [c for c in rpc.notifications.list_cases("open")
                                   if c["kind"] == "consumption_point_claim"], timeout=30,
                          message="the desk to have the demo's claim")
        cottage = rpc.contracts.get_contract("VL-000003")["consumption_point"]
    periods = {i["period"] for i in invoices}
    assert len(periods) >= 12                                  # every past month billed
    open_now = [i for i in invoices if i["status"] != "paid"]
    assert {i["period"] for i in open_now} == {max(periods)}   # the last month is to pay
    assert [p["source"] for p in payments] == ["statement"] * 2  # the rest paid, both contracts
    assert all(m["consumption"] for m in months[:-1])          # a year of the chart
    assert case["status"] == "answered"
    assert claim["status"] == "pending"                        # a claim with the desk
    assert [c["customer"]["customer_id"] for c in queued] == [grandmother]
    assert claim["address"] != cottage["address"]              # the cottage: hers to claim

    # each backend its own ops port, its own process's metrics; the gateway's /metrics
    for service, ops in vool_run["ops"].items():
        assert requests.get(f"{ops}/health/ready", timeout=10).json()["status"] == "ok"
        found = metric_samples(f"{ops}/metrics")
        assert {labels["service"] for _, labels, _ in found if "service" in labels} == {service}
        assert sum(v for name, labels, v in found if name == "vool_rpc_calls_total"
                   and labels["method"] == "health" and labels["outcome"] == "ok") >= 1, service
        assert [v for name, _, v in found if name == "process_resident_memory_bytes"][0] > 0
        # what names the process for its process_* series (they have no labels)
        assert [labels for name, labels, v in found if name == "vool_service_info"
                and v == 1] == [{"service": service}]
    found = metric_samples(f"{gateway}/metrics")
    assert [labels for name, labels, v in found if name == "vool_service_info"
            and v == 1] == [{"service": "gateway"}]
    assert any(name == "vool_http_requests_total" and labels["route"] == "/health"
               for name, labels, _ in found)

    vool_run["process"].send_signal(signal.SIGINT)      # Ctrl-C
    assert vool_run["process"].wait(timeout=30) == 0
    assert "vool: stopped" in output(vool_run)


def metric_samples(url):
    """``[(name, labels, value)]`` of a /metrics answer."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return [(sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples]


def processes_of(run):
    """``{pid: command line}`` of every process started for this run: the ones with
    its own var directory in their environment (wherever they were reparented)."""
    marker = f"VOOL_VAR_DIR={run['var_dir']}".encode()
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:   # gone meanwhile, or not ours
            continue
    return found


def service_pid(run, service):
    [pid] = [pid for pid, cmdline in processes_of(run).items()
             if cmdline.endswith(f"services.{service}.service ".encode())]
    return pid


def answers_health(amqp_uri, service):
    try:
        with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=5) as rpc:
            return getattr(rpc, service).health()["status"] == "ok"
    except Exception:
        return False


def test_a_killed_service_is_restarted_and_the_system_is_healthy_again(vool_run):
    gateway = vool_run["gateway"]
    wait_for(lambda: "loaded the demo: 4 contracts" in output(vool_run), timeout=120,
             message=f"the demo loaded; vool said: {output(vool_run)[-2000:]}")
    assert requests.get(f"{gateway}/health", timeout=10).status_code == 200
    killed = service_pid(vool_run, "notifications")
    os.kill(killed, signal.SIGKILL)

    wait_for(lambda: "notifications was killed by SIGKILL; restarting in 1 s (restart 1)"
             in output(vool_run), timeout=10, message="vool to notice the death")
    wait_for(lambda: "restarted notifications (pid" in output(vool_run), timeout=10,
             message="vool to restart notifications")
    restarted = service_pid(vool_run, "notifications")
    assert restarted != killed
    wait_for(lambda: answers_health(vool_run["amqp_uri"], "notifications"), timeout=60,
             interval=0.5, message="the restarted notifications to answer health")
    wait_for(lambda: requests.get(f"{gateway}/health", timeout=10).status_code == 200,
             timeout=30, interval=0.5, message="the gateway's /health to be 200 again")
    assert vool_run["process"].poll() is None, "vool run stopped"
    assert "stopping all" not in output(vool_run)

    started = processes_of(vool_run)
    assert len(started) == 1 + 7, started      # vool and its seven services
    vool_run["process"].send_signal(signal.SIGINT)      # Ctrl-C
    assert vool_run["process"].wait(timeout=30) == 0
    assert "vool: stopped" in output(vool_run)
    assert processes_of(vool_run) == {}, "a process outlived vool run"


def test_a_service_that_cannot_start_is_given_up_on_without_a_tight_loop(broker, tmp_path):
    vhost, amqp_uri = broker.new_vhost()
    var_dir = tmp_path / "var"
    env = {**os.environ, **ops_settings({"identity": f"127.0.0.1:{free_port()}"}),
           "AMQP_URI": amqp_uri, "VOOL_VAR_DIR": str(var_dir),
           # nothing listens on port 1: identity cannot migrate, so it cannot start
           "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/vool", "VOOL_LOG_LEVEL": "WARNING"}
    started = time.monotonic()
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "services.cli", "run", "--no-demo", "--give-up-after", "2",
             "identity"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=120)
    finally:
        broker.drop_vhost(vhost)
    said = [line for line in finished.stdout.splitlines() if line.startswith("vool: ")]
    assert finished.returncode == 1, said
    assert "vool: identity exited with 1; restarting in 1 s (restart 1)" in said
    assert "vool: identity exited with 1; restarting in 2 s (restart 2)" in said
    assert "vool: identity exited with 1; restarted 2 times in a row, never up 30 s: " \
           "giving up, stopping all" in said
    assert sum(line.startswith("vool: restarted identity") for line in said) == 2
    assert time.monotonic() - started >= 3       # it waited 1 s, then 2 s
    assert said[-1] == "vool: stopped"
    assert processes_of({"var_dir": str(var_dir)}) == {}
