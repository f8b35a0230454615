"""The floor: bare nameko, HTTP -> RPC -> event, laid out like the real system.

Three services, each run in its own process by ``nameko run`` with the same
config as Vool's services (deploy/config/nameko.yaml):

- ``floor_gateway``: a plain nameko ``@http`` entrypoint (``POST /echo``) that
  calls ``floor_echo.echo`` over RPC, like Vool's gateway calls a service;
- ``floor_echo``: an ``@rpc`` method that dispatches an ``echoed`` event with
  nameko's EventDispatcher, carrying the dispatch time, and answers;
- ``floor_listener``: an ``@event_handler`` that records when each event arrived;
  ``floor_listener.receipts()`` hands the records back at the end of the run.

No database, no validation, no outbox: what is left is nameko, kombu, eventlet
and RabbitMQ, i.e. the cost every Vool request pays before doing any work.
"""
import json
import time

from nameko.events import EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http

# one listener process: its receipts, {request id: (dispatched_at, received_at)}
_receipts = {}


class FloorGateway:
    name = "floor_gateway"

    echo = RpcProxy("floor_echo")

    @http("POST", "/echo")
    def post_echo(self, request):
        body = json.loads(request.get_data(as_text=True))
        answer = self.echo.echo(body)
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    @http("GET", "/ready")
    def ready(self, request):
        return 200, "ok"


class FloorEcho:
    name = "floor_echo"

    dispatch = EventDispatcher()

    @rpc
    def echo(self, payload):
        dispatched_at = time.time()
        self.dispatch("echoed", {"id": payload.get("id"), "dispatched_at": dispatched_at,
                                 "data": payload.get("data")})
        return {"id": payload.get("id"), "dispatched_at": dispatched_at,
                "data": payload.get("data")}


class FloorListener:
    name = "floor_listener"

    @event_handler("floor_echo", "echoed")
    def on_echoed(self, payload):
        _receipts[payload["id"]] = (payload["dispatched_at"], time.time())

    @rpc
    def count(self):
        return len(_receipts)

    @rpc
    def receipts(self):
        """``{id: [dispatched_at, received_at]}`` of every event received so far."""
        return {key: list(value) for key, value in _receipts.items()}
