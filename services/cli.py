"""The ``vool`` command: ``vool run`` starts the whole system for development;
``vool bus`` inspects the bus (dead letters, replay, tail); ``vool jobs`` starts and
follows long jobs (services/operator_jobs.py); ``vool docs`` writes the
published interfaces' documents (docs/rpc.md, docs/asyncapi.json)."""
import argparse
import os
import signal
import sys
import threading
import time
import warnings

# eventlet announces its own deprecation on import; nameko 2 depends on it.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from services import bustools, demo_story, operator_jobs  # noqa: E402
from services.common.clock import clock  # noqa: E402
from services.common.config import PROJECT_ROOT  # noqa: E402
from services.identity import admin  # noqa: E402
from services.supervisor import (GIVE_UP_AFTER, STABLE_AFTER, RestartPolicy,  # noqa: E402
                                 Supervisor)
from services.testbank.devkeys import ensure_dev_keys  # noqa: E402

SERVICES = ("identity", "contracts", "metering", "billing", "notifications", "gateway",
            "testbank")
NAMEKO_CONFIG = PROJECT_ROOT / "deploy" / "config" / "nameko.yaml"
# the test bank listens on its own port (VOOL_TESTBANK_ADDRESS)
CONFIG_OF = {"testbank": PROJECT_ROOT / "deploy" / "config" / "testbank-nameko.yaml"}
#: the setting that moves each web server (its nameko config reads it)
ADDRESS_SETTING = {"gateway": "VOOL_GATEWAY_ADDRESS", "testbank": "VOOL_TESTBANK_ADDRESS"}


def web_address(service):
    """The WEB_SERVER_ADDRESS a service's nameko config gives it in this environment."""
    import yaml
    from nameko.cli.main import ENV_VAR_MATCHER, _replace_env_var
    config = yaml.safe_load(CONFIG_OF.get(service, NAMEKO_CONFIG).read_text())
    return ENV_VAR_MATCHER.sub(_replace_env_var, str(config["WEB_SERVER_ADDRESS"]))


#: each backend's ops port (/metrics, /health/live, /health/ready; services/common/ops.py)
#: under `vool run`, moved by VOOL_<SERVICE>_OPS_ADDRESS; a container has 0.0.0.0:9100
OPS_PORTS = {"identity": 9101, "contracts": 9102, "metering": 9103, "billing": 9104,
             "notifications": 9105}


def ops_setting(service):
    return f"VOOL_{service.upper()}_OPS_ADDRESS"


def ops_address(service):
    return os.environ.get(ops_setting(service)) or f"127.0.0.1:{OPS_PORTS[service]}"


def listeners(services):
    """``(who, address, the setting that moves it)`` of every port ``services`` listen on."""
    for service in services:
        if service in ADDRESS_SETTING:
            yield service, web_address(service), ADDRESS_SETTING[service]
        if service in OPS_PORTS:
            yield f"{service}'s ops port", ops_address(service), ops_setting(service)


def taken_addresses(services):
    """Why each listener of ``services`` could not listen now (another `vool run`,
    or two of them given one address): refused before anything starts. Each server
    checks again when it starts, which is what holds."""
    from nameko.web.server import parse_address

    from services.common.web import AddressInUse, ensure_address_free
    refusals, wanted = [], {}
    for who, address, setting in listeners(services):
        host, port = parse_address(address)
        clash = [other for (other_host, other_port), other in wanted.items()
                 if other_port == port and (host == other_host or
                                            {host, other_host} & {"", "0.0.0.0"})]
        if clash:
            refusals.append(f"{who}: the address {address} is also the "
                            f"{clash[0]}'s; set {setting} to another")
            continue
        wanted[(host, port)] = who
        try:
            ensure_address_free(address, who, setting)
        except AddressInUse as exc:
            refusals.append(str(exc))
    return refusals


def run(args):
    """Start every service as its own process and keep them running: one that dies
    is started again with backoff (services/supervisor.py); Ctrl-C or SIGTERM stops
    them all."""
    refusals = taken_addresses(args.services or SERVICES)
    if refusals:
        for refusal in refusals:
            print(f"vool: {refusal}", file=sys.stderr, flush=True)
        print("vool: nothing started", file=sys.stderr, flush=True)
        return 1
    created = ensure_dev_keys()
    if created:
        print(f"vool: generated development keys for {', '.join(created)}", flush=True)
    supervisor = Supervisor(RestartPolicy(give_up_after=args.give_up_after))
    # a signal while they start stops them too, once started
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    env = {"PYTHONWARNINGS": "ignore::DeprecationWarning", **os.environ}
    for service in args.services or SERVICES:
        config = CONFIG_OF.get(service, NAMEKO_CONFIG)
        command = [sys.executable, "-m", "nameko", "run", "--config", str(config),
                   f"services.{service}.service"]
        # own session: a Ctrl-C reaches vool alone, which stops each child once
        own = {"VOOL_OPS_ADDRESS": ops_address(service)} if service in OPS_PORTS else {}
        supervisor.start(service, command, cwd=PROJECT_ROOT, env={**env, **own},
                         start_new_session=True)
    if "gateway" in supervisor.children:
        address = os.environ.get("VOOL_GATEWAY_ADDRESS", "0.0.0.0:8000")
        print(f"vool: gateway on http://{address.replace('0.0.0.0', 'localhost')}/ "
              "— Ctrl-C stops everything", flush=True)

    if "contracts" in supervisor.children and not args.no_demo:
        # beside the supervision: a service that dies while the demo waits for it
        # is restarted meanwhile
        threading.Thread(target=load_demo, name="demo", daemon=True, args=(
            [s for s in supervisor.children if s in BACKENDS],)).start()
    supervisor.supervise()
    supervisor.stop_all()
    print("vool: stopped", flush=True)
    return 1 if supervisor.failed else 0


#: the services with RPC (and event queues); the gateway and the test bank have neither
BACKENDS = ("identity", "contracts", "metering", "billing", "notifications")


def load_demo(services=BACKENDS, timeout=90):
    """Load the demo into an empty contracts database once every service answers:
    a service that has not started has not declared its event queues yet, and the
    demo's contract_signed would pass it by (a fresh broker keeps no queue)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.common import config as cfg
    deadline = time.monotonic() + timeout
    with ClusterRpcProxy({"AMQP_URI": cfg.amqp_uri()}, timeout=60) as rpc:
        for service in services:
            while True:
                try:
                    getattr(rpc, service).health()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        print(f"vool: {service} did not answer; the demo was not loaded",
                              file=sys.stderr, flush=True)
                        return
                    time.sleep(1)
        try:
            signed = rpc.contracts.load_demo()
        except Exception as exc:   # e.g. contracts died meanwhile: a restart does not retry it
            print(f"vool: the demo was not loaded: {exc!r}", file=sys.stderr, flush=True)
            return
        if not signed:
            print("vool: the database has data; the demo was not loaded", flush=True)
            return
        print(f"vool: loaded the demo: {len(signed)} contracts "
              f"({', '.join(c['contract_no'] for c in signed)})", flush=True)
        try:
            told = demo_story.tell(rpc, signed, clock.today(), _waiter(deadline + 120))
        except Exception as exc:
            print(f"vool: the demo's history was not told: {exc!r}", file=sys.stderr, flush=True)
            return
    print(f"vool: the demo's history: {told['readings']} readings, {told['periods']} months "
          f"billed, {told['payments']} payments, an answered question, a pending claim",
          flush=True)


def _waiter(deadline):
    def wait(check, what):
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(what)
            time.sleep(0.5)
    return wait


def write_docs(args):
    from services import docs
    if args.check:
        stale = docs.stale()
        for path in stale:
            print(f"out of date: {path.relative_to(PROJECT_ROOT)} (run `vool docs`)")
        return 1 if stale else 0
    changed = docs.write()
    print("written: " + (", ".join(str(p.relative_to(PROJECT_ROOT)) for p in changed)
                         or "nothing, all up to date"))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vool", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start every service and the gateway")
    run_parser.add_argument("services", nargs="*", metavar="SERVICE",
                            help=f"only these, of {', '.join(SERVICES)} (default: all)")
    run_parser.add_argument("--no-demo", action="store_true",
                            help="do not load the demo into an empty database")
    run_parser.add_argument(
        "--give-up-after", type=int, default=GIVE_UP_AFTER, metavar="N",
        help="stop everything when a service was restarted N times in a row without "
             f"staying up {STABLE_AFTER:g} s (default {GIVE_UP_AFTER}; 0: never give up)")
    run_parser.set_defaults(handler=run)

    keys_parser = commands.add_parser("dev-keys", help="generate missing development keys")
    keys_parser.set_defaults(handler=lambda args: print(
        "generated: " + (", ".join(ensure_dev_keys()) or "nothing, all present")) or 0)

    operator_parser = commands.add_parser("operator", help="manage service-desk operators")
    operator_commands = operator_parser.add_subparsers(dest="operator_command", required=True)
    add = operator_commands.add_parser(
        "add", help="add an operator (password from VOOL_OPERATOR_PASSWORD, or asked for)")
    add.add_argument("name")
    add.add_argument("--role", choices=("desk", "admin"), required=True)
    add.set_defaults(handler=lambda args: admin.add_operator_command(args))

    bus_parser = commands.add_parser("bus", help="inspect the bus: dead letters, replay, tail")
    bus_commands = bus_parser.add_subparsers(dest="bus_command", required=True)
    bus_commands.add_parser("dead-letters", help="every dead-letter queue and its depth")
    show = bus_commands.add_parser("show", help="the messages in a dead-letter queue")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    replay = bus_commands.add_parser("replay", help="move dead letters back to their queue")
    replay.add_argument("queue")
    tail = bus_commands.add_parser("tail", help="print events as they are published")
    tail.add_argument("exchanges", nargs="*")
    bus_parser.set_defaults(handler=lambda args: bustools.main(args))

    jobs_parser = commands.add_parser(
        "jobs", help="start a long job through the gateway (billing run, statement or "
                     "readings import) or look one up; a progress bar until it is done")
    operator_jobs.add_arguments(jobs_parser)
    jobs_parser.set_defaults(handler=operator_jobs.main)

    docs_parser = commands.add_parser(
        "docs", help="write docs/rpc.md and docs/asyncapi.json from the services' api.py")
    docs_parser.add_argument("--check", action="store_true",
                             help="only say which are out of date (exit status 1 if any)")
    docs_parser.set_defaults(handler=write_docs)
    args = parser.parse_args(argv)
    unknown = set(getattr(args, "services", None) or ()) - set(SERVICES)
    if unknown:
        parser.error(f"unknown service(s): {', '.join(sorted(unknown))}")
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
