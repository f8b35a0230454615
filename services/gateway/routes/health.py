"""The gateway's health: ``/health`` (every service), ``/health/live`` and ``/health/ready``.

Liveness and readiness are apart so that an orchestrator neither restarts the gateway
nor takes it out of service because one backend is down: that backend's routes
answer 503 on their own, the rest of the API keeps working.
"""
import json

import eventlet
from kombu import Connection
from werkzeug.wrappers import Response

from services.common import config as cfg
from services.gateway import schemas
from services.gateway.http import route

BACKEND_SERVICES = ("identity", "contracts", "metering", "billing", "notifications")


def _json(body, status):
    return Response(json.dumps(body), status=status, content_type="application/json")


class HealthRoutes:

    def _health_timeout(self):
        return cfg.float_setting(self.config, "VOOL_HEALTH_TIMEOUT", 2.0)

    def _backend_states(self, timeout):
        def state(service):
            try:
                answer = self.services.call(service, "health", timeout=timeout)
                return service, answer.get("status", "unknown")
            except Exception:
                return service, "unavailable"

        pool = eventlet.GreenPool(len(BACKEND_SERVICES))
        return dict(pool.imap(state, BACKEND_SERVICES))

    def _broker_state(self, timeout):
        """Can the gateway open a connection to its broker? A fresh connection, not the
        RPC reply consumer's: that one reconnects on its own and says nothing of it."""
        try:
            with eventlet.Timeout(timeout + 1.0):
                with Connection(cfg.amqp_uri(self.config), connect_timeout=timeout) as conn:
                    conn.ensure_connection(max_retries=1)
            return "ok"
        except (Exception, eventlet.Timeout):
            return "unreachable"

    @route("GET", "/health", access="public", summary="The state of every service",
           response_model=schemas.Health, responses={503: schemas.Health},
           description="503, with the same body, naming the services that are down.")
    def health(self, request):
        states = self._backend_states(self._health_timeout())
        healthy = all(s == "ok" for s in states.values())
        return _json({"status": "ok" if healthy else "unavailable", "services": states},
                     200 if healthy else 503)

    @route("GET", "/health/live", access="public", response_model=schemas.Liveness,
           summary="The gateway's process answers (liveness; asks nothing of anyone)")
    def health_live(self, request):
        return _json({"status": "ok"}, 200)

    @route("GET", "/health/ready", access="public", response_model=schemas.Readiness,
           responses={503: schemas.Readiness},
           summary="The gateway can serve: its message broker is reachable (readiness)",
           description="`services` tells each backend's state for information only: a "
                       "backend that is down does not make the gateway unready (its routes "
                       "answer 503 by themselves). 503 only when the broker is unreachable.")
    def health_ready(self, request):
        timeout = self._health_timeout()
        pool = eventlet.GreenPool(2)
        broker = pool.spawn(self._broker_state, timeout)
        states = self._backend_states(timeout)
        # a backend that answered proves the broker works, whatever the fresh connection said
        broker_state = "ok" if "ok" in states.values() else broker.wait()
        ready = broker_state == "ok"
        return _json({"status": "ok" if ready else "unavailable", "broker": broker_state,
                      "services": states}, 200 if ready else 503)
