"""``vool docs``: the published interfaces as documents, written from the models.

- docs/rpc.md: every RPC method of every service (services/common/rpc_docs.py);
- docs/asyncapi.json: every event, who sends and who receives it
  (services/common/asyncapi.py); the gateway serves it at /api/v1/asyncapi.json.

Both are committed; tests/unit/test_published_docs.py fails when a model changed
and they were not written again.
"""
import importlib
import inspect
import json

from nameko.events import BROADCAST, EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.common.config import PROJECT_ROOT

SERVICES = ("identity", "contracts", "metering", "billing", "notifications")
DOCS = PROJECT_ROOT / "docs"
RPC_DOC = DOCS / "rpc.md"
ASYNCAPI_DOC = DOCS / "asyncapi.json"


def apis():
    """``[(service, its api module)]``."""
    return [(name, importlib.import_module(f"services.{name}.api")) for name in SERVICES]


def rpc_markdown():
    from services.common import rpc_docs
    return rpc_docs.render(apis())


#: where `make run` has the broker (deploy/config/nameko.yaml's AMQP_URI default)
SERVERS = {"development": {
    "host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
    "description": "The broker of `make run`; elsewhere the services' AMQP_URI."}}


def service_class(name):
    """The nameko service class of ``services.<name>.service``."""
    module = importlib.import_module(f"services.{name}.service")
    [cls] = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if c.__module__ == module.__name__ and getattr(c, "name", None) == name]
    return cls


def consumers():
    """Every event handler of the services and the gateway, as asyncapi.Consumer."""
    from services.common.asyncapi import Consumer
    found = []
    for name in (*SERVICES, "gateway"):
        for method_name, method in inspect.getmembers(service_class(name), inspect.isfunction):
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, EventHandler):
                    found.append(Consumer(name, method_name, entrypoint.source_service,
                                          entrypoint.event_type,
                                          broadcast=entrypoint.handler_type == BROADCAST,
                                          versions=tuple(getattr(entrypoint, "versions",
                                                                 (1,)))))
    return found


def asyncapi_document():
    from services.common.asyncapi import build
    from services.gateway.service import API_VERSION
    publishers = [(name, module.EVENTS) for name, module in apis()]
    return build(publishers, consumers(), API_VERSION, servers=SERVERS)


def documents():
    """``{path: the text it should hold now}``."""
    return {RPC_DOC: rpc_markdown(), ASYNCAPI_DOC: dumps(asyncapi_document())}


def write():
    """Write every document; the paths that changed."""
    changed = []
    for path, text in documents().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale():
    """The documents whose file differs from what the models say now."""
    return [path for path, text in documents().items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def dumps(document):
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
