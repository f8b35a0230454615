"""The whole system as `make run` starts it (`vool run`: every service, the test bank,
SQLite under a folder of its own, the demo story), on free ports and a fresh
RabbitMQ virtual host: for the end-to-end tests and `make screenshots`."""
import contextlib
import os
import signal
import subprocess
import sys

import requests
import yaml

from services.cli import BACKENDS
from services.common.config import PROJECT_ROOT
from tests.browser import forms
from tests.conftest import free_port, wait_for


@contextlib.contextmanager
def running_vool(broker, folder, args=(), env_extra=None, before_start=None):
    """``vool run`` in ``folder`` (its var/ and banks.yaml), stopped with Ctrl-C after;
    yields ``{"gateway", "bank", "process", "log", "amqp_uri", "var_dir", "ops"}`` (ops:
    each backend's ops port, free ones, not `vool run`'s 9101-9105 another run may hold).
    ``args`` go to `vool run`, ``env_extra`` into its environment; ``before_start(env)``
    runs first (a CLI command on the same databases)."""
    vhost, amqp_uri = broker.new_vhost()   # a fresh broker: no queue exists yet
    gateway_port, bank_port = free_port(), free_port()
    banks = yaml.safe_load((PROJECT_ROOT / "deploy" / "config" / "banks.yaml").read_text())
    for bank in banks["banks"]:
        bank["url"] = f"http://127.0.0.1:{bank_port}/banklink"
    (folder / "banks.yaml").write_text(yaml.safe_dump(banks))
    # the test bank's OpenID Connect provider is at its own address too
    providers = yaml.safe_load((PROJECT_ROOT / "deploy" / "config" / "oidc.yaml").read_text())
    for provider in providers["providers"]:
        if provider["issuer"].startswith("http://127.0.0.1:8100/"):
            provider["issuer"] = provider["issuer"].replace("127.0.0.1:8100",
                                                            f"127.0.0.1:{bank_port}")
    (folder / "oidc.yaml").write_text(yaml.safe_dump(providers, allow_unicode=True))
    env = {k: v for k, v in os.environ.items()
           if k != "DATABASE_URL" and not (k.startswith("VOOL_") and k.endswith("_DATABASE_URL"))}
    ops = {service: f"127.0.0.1:{free_port()}" for service in BACKENDS}
    env.update(ops_settings(ops))
    env.update({"AMQP_URI": amqp_uri, "VOOL_VAR_DIR": str(folder / "var"),
                "VOOL_GATEWAY_ADDRESS": f"127.0.0.1:{gateway_port}",
                "VOOL_TESTBANK_ADDRESS": f"127.0.0.1:{bank_port}",
                "VOOL_PUBLIC_URL": f"http://127.0.0.1:{gateway_port}",
                "VOOL_BANKS_FILE": str(folder / "banks.yaml"),
                "VOOL_OIDC_FILE": str(folder / "oidc.yaml"), "VOOL_LOG_LEVEL": "WARNING",
                "PYTHONWARNINGS": "ignore::DeprecationWarning", **(env_extra or {})})
    if before_start is not None:
        before_start(env)
    log = open(folder / "vool.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "run", *args],
                               cwd=PROJECT_ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        yield {"gateway": f"http://127.0.0.1:{gateway_port}",
               "bank": f"http://127.0.0.1:{bank_port}", "process": process, "log": log,
               "amqp_uri": amqp_uri, "var_dir": str(folder / "var"),
               "ops": {service: f"http://{address}" for service, address in ops.items()}}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
        broker.drop_vhost(vhost)


def ops_settings(addresses):
    """The environment that gives `vool run`'s backends these ops ports."""
    return {f"VOOL_{service.upper()}_OPS_ADDRESS": address
            for service, address in addresses.items()}


def output(run):
    run["log"].seek(0)
    return run["log"].read()


def wait_for_the_demo(run, timeout=180):
    """Until `vool run` has loaded the demo and told its history (invoices, payments,
    the desk's answer), so that every part of the portal shows something."""
    wait_for(lambda: "loaded the demo: 4 contracts" in output(run), timeout=timeout,
             message=f"the demo loaded; vool said: {output(run)[-2000:]}")
    wait_for(lambda: "the demo's history:" in output(run), timeout=timeout,
             message=f"the demo's history; vool said: {output(run)[-2000:]}")


def portal_login(gateway, person_index):
    """Through the test bank's own pages, choosing one of its demo persons."""
    browser = requests.Session()
    [to_bank] = forms(browser.post(f"{gateway}/login/testbank", timeout=10).text)
    bank_page = browser.post(to_bank["action"], data=to_bank["fields"], timeout=10)
    [login] = forms(bank_page.text, to_bank["action"])
    reply_page = browser.post(login["action"], data={**login["fields"],
                                                     "person": person_index}, timeout=10)
    [reply] = forms(reply_page.text, login["action"])
    return browser.post(reply["action"], data=reply["fields"], timeout=10)
