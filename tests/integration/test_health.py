"""Liveness and readiness apart (issue #17): the gateway's ``/health/live`` and
``/health/ready``, and ``python -m services.healthcheck <service> --live|--ready``
against services running on the test broker and databases."""
from urllib.parse import unquote, urlsplit

import pytest
import requests

from services import healthcheck
from services.billing.service import BillingService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from tests.conftest import wait_for


def url(config, path):
    return f"http://{config['WEB_SERVER_ADDRESS']}{path}"


@pytest.fixture
def gateway_and_identity(run_services):
    """The gateway with one backend (identity) running and the other four down."""
    return run_services(GatewayService, IdentityService)


def test_the_gateway_is_ready_while_backends_are_down_and_says_which(gateway_and_identity,
                                                                       config):
    live = requests.get(url(config, "/health/live"), timeout=5)
    assert live.status_code == 200 and live.json() == {"status": "ok"}

    ready = requests.get(url(config, "/health/ready"), timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ok" and body["broker"] == "ok"
    assert body["services"] == {"identity": "ok", "contracts": "unavailable",
                                "metering": "unavailable", "billing": "unavailable",
                                "notifications": "unavailable"}

    # /health keeps its contract: 503 naming the services that are down
    everything = requests.get(url(config, "/health"), timeout=10)
    assert everything.status_code == 503
    assert everything.json()["services"]["billing"] == "unavailable"


def test_the_gateway_is_ready_even_with_no_backend_at_all(run_services, config):
    run_services(GatewayService)
    ready = requests.get(url(config, "/health/ready"), timeout=10)
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["services"].values()) == {"unavailable"}
    # the routes of a backend that is down answer 503 by themselves (identity's here)
    banks = requests.get(url(config, "/api/v1/auth/banks"), timeout=10)
    assert banks.status_code == 503, banks.text


def test_without_its_broker_the_gateway_is_alive_but_not_ready(gateway_and_identity, config,
                                                                 broker):
    assert requests.get(url(config, "/health/ready"), timeout=10).status_code == 200
    broker.drop_vhost(unquote(urlsplit(config["AMQP_URI"]).path[1:]))   # the broker is gone

    def unready():
        return requests.get(url(config, "/health/ready"), timeout=10).status_code == 503
    wait_for(unready, timeout=15, interval=0.5, message="/health/ready 503 without its broker")
    ready = requests.get(url(config, "/health/ready"), timeout=10).json()
    assert ready["status"] == "unavailable" and ready["broker"] == "unreachable"
    live = requests.get(url(config, "/health/live"), timeout=5)
    assert live.status_code == 200 and live.json() == {"status": "ok"}


def test_healthcheck_live_and_ready_of_running_services(run_services, config, monkeypatch,
                                                        capsys):
    run_services(GatewayService, BillingService)
    monkeypatch.setenv("AMQP_URI", config["AMQP_URI"])
    monkeypatch.setenv("VOOL_GATEWAY_ADDRESS", config["WEB_SERVER_ADDRESS"])

    for mode in ("--live", "--ready"):
        assert healthcheck.main(["billing", mode, "--timeout", "5"]) == 0, \
            capsys.readouterr().err
        assert healthcheck.main(["gateway", mode, "--timeout", "5"]) == 0, \
            capsys.readouterr().err
    out = capsys.readouterr().out
    assert "billing: alive" in out and "billing: ok" in out
    assert 'gateway: ok {"status": "ok", "broker": "ok"' in out

    # a service that is not running is neither alive nor ready
    for mode in ("--live", "--ready"):
        assert healthcheck.main(["metering", mode, "--timeout", "2"]) == 1
        assert "not running" in capsys.readouterr().err
    # the gateway's whole check still fails while a backend is down; its readiness not
    assert healthcheck.main(["gateway", "--timeout", "5"]) == 1
    assert "answered HTTP 503" in capsys.readouterr().err
