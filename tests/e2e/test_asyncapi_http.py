"""The gateway serves the AsyncAPI document of the events, publicly, as
`vool docs` wrote it (tests/unit/test_asyncapi.py validates the document)."""
import json

import requests

from services import docs
from services.gateway.service import GatewayService


def test_the_gateway_serves_the_asyncapi_document(run_services, config):
    run_services(GatewayService)
    response = requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/api/v1/asyncapi.json",
                            timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == json.loads(docs.ASYNCAPI_DOC.read_text(encoding="utf-8"))
    assert response.json()["asyncapi"] == "3.0.0"
