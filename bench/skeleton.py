"""Scenario (d), the skeleton: the reading's path built from services/common with
no domain (bench/skeleton_services.py), HTTP POSTs like (a) and (c). It measures
what the shape of (c) costs before any rule of Vool's runs: the least (c) could
cost with these parts, so (d)/(a) bounds what (c)/(a) can reach."""
import itertools
import json
import time

from nameko.standalone.rpc import ClusterRpcProxy

from bench.floor import CLIENT_TIMEOUT, PAYLOAD, wait_ready
from bench.interrupts import shielded
from bench.infra import CpuMeter, ServiceProcesses, free_port, service_env
from bench.load import closed_loop, http_call, http_client
from bench.report import scenario_summary

SERVICES = (("skeleton_billing", "bench.skeleton_services:SkeletonBilling"),
            ("skeleton_notifications", "bench.skeleton_services:SkeletonNotifications"),
            ("skeleton_metering", "bench.skeleton_services:SkeletonMetering"),
            ("skeleton_gateway", "bench.skeleton_services:SkeletonGateway"))
QUEUES = ("rpc-skeleton_metering",
          "evt-skeleton_metering-reading_stored--skeleton_billing.on_reading_stored",
          "evt-skeleton_metering-reading_stored--skeleton_notifications.on_reading_stored")


def run(broker, postgres, options, log_dir, say):
    vhost, amqp_uri = broker.new_vhost("skeleton")
    prefix, database_url = postgres.new_prefix()
    processes = ServiceProcesses(log_dir / "skeleton")
    try:
        port = free_port()
        env = service_env(AMQP_URI=amqp_uri, DATABASE_URL=database_url,
                          VOOL_GATEWAY_ADDRESS=f"127.0.0.1:{port}")
        for label, module in SERVICES:
            processes.start(label, module, env)
        say(f"skeleton: starting {len(SERVICES)} processes on vhost {vhost}, "
            f"databases {prefix}_*")
        wait_ready(broker, vhost, processes, port, queues_consumed=QUEUES,
                   what="the skeleton services")

        say(f"skeleton (d) POST reading->row+event->two consumers' rows: "
            f"{options.concurrency} clients, {options.warmup:g}s warm-up + "
            f"{options.duration:g}s")
        ids = itertools.count()
        result = closed_loop(
            lambda n: http_client(port, timeout=CLIENT_TIMEOUT),
            lambda conn, n: _post(conn, next(ids)),
            options.concurrency, options.warmup, options.duration,
            close_client=lambda conn: conn.close(),
            meter=CpuMeter(processes.pids()))
        processes.check_alive()
        behind = _drain({"AMQP_URI": amqp_uri}, options.drain_timeout)
        summary = scenario_summary("(d) skeleton POST->row+event->2 consumers", result,
                                   key="d", log_problems={
                                       k: len(v) for k, v in processes.log_problems().items()})
        if behind:
            summary["incomplete"] = behind
        return summary
    finally:
        with shielded():
            processes.stop()
            broker.drop_vhost(vhost)
            postgres.drop_prefix(prefix)


def _post(conn, n):
    body = json.dumps({"id": n, "data": PAYLOAD})
    status, data = http_call(conn, "POST", "/readings", body,
                             {"Content-Type": "application/json"})
    if status != 201:
        raise RuntimeError(f"HTTP {status}: {data[:200]!r}")
    return n


def _drain(config, timeout):
    """How many stored readings the two consumers had not written when time ran out."""
    with ClusterRpcProxy(config, timeout=CLIENT_TIMEOUT) as proxy:
        stored = proxy.skeleton_metering.count()
        deadline = time.monotonic() + timeout
        while True:
            behind = (2 * stored - proxy.skeleton_billing.count()
                      - proxy.skeleton_notifications.count())
            if behind <= 0 or time.monotonic() > deadline:
                return max(behind, 0)
            time.sleep(0.2)
