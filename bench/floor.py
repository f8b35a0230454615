"""Scenario (a), the floor: HTTP -> RPC -> event through bare nameko (see
bench/floor_services.py), and (a') the same without the HTTP hop: the load
generator calls ``floor_echo.echo`` over RPC like (b) calls metering."""
import itertools
import json
import time

from nameko.standalone.rpc import ClusterRpcProxy

from bench.interrupts import shielded
from bench.infra import CpuMeter, ServiceProcesses, free_port, service_env
from bench.load import closed_loop, http_call, http_client, http_ok, percentile
from bench.report import scenario_summary, stage

# about the size of a reading command
PAYLOAD = {"consumption_point_id": "7d0c5b5e-2f4a-4a47-9b59-0d7f3c6e9a11",
           "reading_date": "2026-02-14", "registers": {"T1": 1300, "T2": 800},
           "source": "customer", "submitted_by": "49003136526"}

SERVICES = (("floor_listener", "bench.floor_services:FloorListener"),
            ("floor_echo", "bench.floor_services:FloorEcho"),
            ("floor_gateway", "bench.floor_services:FloorGateway"))
CLIENT_TIMEOUT = 10  # seconds; a bare nameko RpcProxy (the floor gateway's) waits forever
QUEUES = ("rpc-floor_echo", "rpc-floor_listener",
          "evt-floor_echo-echoed--floor_listener.on_echoed")


def run(broker, options, log_dir, say):
    """Both floor scenarios; returns their summaries ``[(a), (a')]``."""
    vhost, amqp_uri = broker.new_vhost("floor")
    processes = ServiceProcesses(log_dir / "floor")
    try:
        port = free_port()
        env = service_env(AMQP_URI=amqp_uri, VOOL_GATEWAY_ADDRESS=f"127.0.0.1:{port}")
        for label, module in SERVICES:
            processes.start(label, module, env)
        say(f"floor: starting {len(SERVICES)} processes on vhost {vhost}")
        wait_ready(broker, vhost, processes, port)
        config = {"AMQP_URI": amqp_uri}

        say(f"floor (a) HTTP->RPC->event: {options.concurrency} clients, "
            f"{options.warmup:g}s warm-up + {options.duration:g}s")
        ids = itertools.count()
        http_result = closed_loop(
            lambda n: http_client(port, timeout=CLIENT_TIMEOUT),
            lambda conn, n: post_echo(conn, f"h{next(ids)}"),
            options.concurrency, options.warmup, options.duration,
            close_client=lambda conn: conn.close(),
            meter=CpuMeter(processes.pids()))
        processes.check_alive()

        say(f"floor (a') RPC->event: {options.concurrency} clients, "
            f"{options.warmup:g}s warm-up + {options.duration:g}s")
        rpc_result = closed_loop(
            lambda n: _start_proxy(config),
            lambda client, n: rpc_echo(client[1], f"r{next(ids)}"),
            options.concurrency, options.warmup, options.duration,
            close_client=lambda client: client[0].stop(),
            meter=CpuMeter(processes.pids()))
        processes.check_alive()

        receipts = collect_receipts(config, len(http_result.all) + len(rpc_result.all)
                                    - len(http_result.errors) - len(rpc_result.errors))
        problems = processes.log_problems()
        return [summarize("a", "(a) floor HTTP->RPC->event", http_result, receipts, problems),
                summarize("a_rpc", "(a') floor RPC->event", rpc_result, receipts, problems)]
    finally:
        with shielded():
            processes.stop()
            broker.drop_vhost(vhost)


def _start_proxy(config):
    standalone = ClusterRpcProxy(config, timeout=CLIENT_TIMEOUT)
    return standalone, standalone.start()


def wait_ready(broker, vhost, processes, port, timeout=60, queues_consumed=QUEUES,
               what="the floor services"):
    """Until every queue has its consumer and the HTTP side answers /ready."""
    deadline = time.monotonic() + timeout
    while True:
        processes.check_alive()
        try:
            queues = broker.queues(vhost)
            consumed = all(queues.get(q, {}).get("consumers", 0) > 0 for q in queues_consumed)
            if consumed and http_ok(port, "/ready"):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} were not ready within {timeout}s")
        time.sleep(0.2)


def post_echo(conn, request_id):
    body = json.dumps({"id": request_id, "data": PAYLOAD})
    status, data = http_call(conn, "POST", "/echo", body, {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
    answer = json.loads(data)
    return request_id, answer["dispatched_at"]


def rpc_echo(proxy, request_id):
    answer = proxy.floor_echo.echo({"id": request_id, "data": PAYLOAD})
    return request_id, answer["dispatched_at"]


def collect_receipts(config, expected, timeout=20):
    """Every event the listener received; waits for the stragglers."""
    with ClusterRpcProxy(config, timeout=CLIENT_TIMEOUT) as proxy:
        deadline = time.monotonic() + timeout
        while proxy.floor_listener.count() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        return proxy.floor_listener.receipts()


def summarize(key, name, result, receipts, problems):
    lags, send_to_dispatch, dispatch_to_answer, missing = [], [], [], 0
    for s in result.ok:
        request_id, dispatched_at = s.result
        answered_at = s.sent_wall + s.latency
        send_to_dispatch.append(dispatched_at - s.sent_wall)
        dispatch_to_answer.append(answered_at - dispatched_at)
        receipt = receipts.get(request_id)
        if receipt is None:
            missing += 1
        else:
            lags.append(receipt[1] - receipt[0])
    stages = [stage("client send -> event dispatched (request leg)", send_to_dispatch),
              stage("event dispatched -> client has the answer (reply leg)", dispatch_to_answer),
              stage("event dispatched -> handler received it", lags)]
    summary = scenario_summary(name, result, lag_p50=percentile(lags, 50),
                               lag_p99=percentile(lags, 99), stages=stages, key=key)
    summary["lag_samples"] = len(lags)
    summary["lag_missing"] = missing
    summary["log_problems"] = {k: len(v) for k, v in problems.items()}
    return summary
