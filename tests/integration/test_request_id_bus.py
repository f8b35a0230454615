"""The request id of an RPC caller (here a desk application through nameko's own
client, not the gateway) reaches the events its call caused, as AMQP headers beside
the unchanged envelope, seen through pika; on PostgreSQL and on SQLite."""
import json

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.client import VoolClient
from services.common.errors import NotFound
from services.contracts import api as contracts
from services.contracts.service import ContractsService
from services.metering.service import MeteringService
from tests.conftest import wait_for
from tests.samples import contract_command

pytestmark = pytest.mark.both_stores

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def known(rpc, point):
    try:
        return rpc.metering.list_readings(point) is not None
    except NotFound:
        return False


def test_a_callers_request_id_and_traceparent_travel_into_the_events_it_caused(
        run_services, config, bus):
    run_services(ContractsService, MeteringService)
    signed_tap = bus.bind_tap("contracts.events", "contract_signed")
    submitted_tap = bus.bind_tap("metering.events", "reading_submitted")
    context = {"request_id": "desk-call-17", "traceparent": TRACEPARENT}
    with ClusterRpcProxy(config, timeout=15, context_data=context) as rpc:
        signed = rpc.contracts.sign_contract(contract_command(initial={"T1": 1000}))
        point = signed["consumption_point_id"]
        wait_for(lambda: known(rpc, point), message="metering to learn the meter")
        rpc.metering.submit_reading({"consumption_point_id": point,
                                     "reading_date": "2026-01-20", "registers": {"T1": 1100}})
    for tap in (signed_tap, submitted_tap):
        [(properties, body)] = wait_for(lambda: bus.drain(tap), message=f"an event on {tap}")
        assert properties.headers["x-request-id"] == "desk-call-17"
        # the same trace, the emitting service's span (with nothing exported: the caller's)
        assert properties.headers["traceparent"].split("-")[1] == TRACEPARENT.split("-")[1]
        assert set(json.loads(body)) == {"event_id", "event_type", "occurred_at", "version",
                                         "source", "data"}


def test_a_caller_without_an_id_gets_one_per_call(run_services, config, bus):
    run_services(ContractsService)
    tap = bus.bind_tap("contracts.events", "contract_signed")
    with ClusterRpcProxy(config, timeout=15) as rpc:
        rpc.contracts.sign_contract(contract_command())
        rpc.contracts.sign_contract(contract_command())
    messages = []

    def both():
        messages.extend(bus.drain(tap))
        return len(messages) == 2
    wait_for(both, message="both events")
    ids = {properties.headers["x-request-id"] for properties, _ in messages}
    assert len(ids) == 2 and "traceparent" not in messages[0][0].headers


def test_a_program_calling_through_vool_client_names_its_own_request_id(
        run_services, config, bus):
    run_services(ContractsService)
    tap = bus.bind_tap("contracts.events", "contract_signed")
    with VoolClient(config["AMQP_URI"], timeout=15, request_id="crm-batch-0042") as vool:
        vool.call(contracts.sign_contract, contract_command())
    [(properties, _)] = wait_for(lambda: bus.drain(tap), message="contract_signed")
    assert properties.headers["x-request-id"] == "crm-batch-0042"
