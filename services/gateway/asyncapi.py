"""The AsyncAPI 3.0 document of Vool's events, served at /api/v1/asyncapi.json.

It is the document ``vool docs`` wrote to docs/asyncapi.json from the services'
api.py and their event handlers (services/docs.py, services/common/asyncapi.py),
served as it is: who receives an event is declared on the services' own classes,
which the gateway does not import (it knows other services by their api.py only).
tests/unit/test_asyncapi.py keeps the file equal to what the models say.
"""
import functools
import json

from services.common.config import PROJECT_ROOT

DOCUMENT = PROJECT_ROOT / "docs" / "asyncapi.json"


@functools.lru_cache(maxsize=1)
def _text():
    return DOCUMENT.read_text(encoding="utf-8")


def document():
    return json.loads(_text())
