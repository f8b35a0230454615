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
from services.common.errors import ServiceUnavailable

DOCUMENT = PROJECT_ROOT / "docs" / "asyncapi.json"


@functools.lru_cache(maxsize=1)
def _text():
    return DOCUMENT.read_text(encoding="utf-8")


def document():
    try:
        return json.loads(_text())
    except FileNotFoundError:
        # an installation without docs/ (deploy/Dockerfile copies the file): a 503
        # saying so, not a 500
        raise ServiceUnavailable("the AsyncAPI document is not installed here "
                                 "(docs/asyncapi.json; `make docs` writes it)") from None
