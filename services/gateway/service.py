"""gateway: the customers' and operators' HTTP API and the web portal."""
import json

import eventlet
from nameko.dependency_providers import Config
from werkzeug.wrappers import Response

from services.common import config as cfg
from services.gateway import openapi
from services.gateway.clients import ServiceRpc
from services.gateway.http import route
from services.gateway.schemas import Health

API_VERSION = "0.1.0"
BACKEND_SERVICES = ("identity", "contracts", "metering", "billing", "notifications")


class GatewayService:
    name = "gateway"

    services = ServiceRpc()
    config = Config()

    @route("GET", "/health", access="public", summary="The state of every service",
           response_model=Health)
    def health(self, request):
        timeout = cfg.float_setting(self.config, "VOOL_HEALTH_TIMEOUT", 2.0)

        def state(service):
            try:
                answer = self.services.call(service, "health", timeout=timeout)
                return service, answer.get("status", "unknown")
            except Exception:
                return service, "unavailable"

        pool = eventlet.GreenPool(len(BACKEND_SERVICES))
        states = dict(pool.imap(state, BACKEND_SERVICES))
        healthy = all(s == "ok" for s in states.values())
        body = {"status": "ok" if healthy else "unavailable", "services": states}
        return Response(json.dumps(body), status=200 if healthy else 503,
                        content_type="application/json")

    @route("GET", "/api/v1/openapi.json", access="public", summary="This document")
    def openapi_document(self, request):
        return openapi.build_document(GatewayService, API_VERSION)

    @route("GET", "/api/docs", access="public", summary="A human-readable page of the API")
    def api_docs(self, request):
        document = openapi.build_document(GatewayService, API_VERSION)
        return Response(openapi.docs_page(document), content_type="text/html; charset=utf-8")
