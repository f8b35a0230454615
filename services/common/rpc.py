"""The ``@rpc`` entrypoint every service uses: our typed errors are expected
outcomes (logged briefly, see services/common/logs.py), anything else is a bug
(logged with its traceback)."""
from nameko.rpc import rpc as nameko_rpc

from services.common.errors import VoolError


def rpc(fn=None, **options):
    """``@rpc`` or ``@rpc(sensitive_arguments=...)``. (nameko's decorator drops
    keyword arguments when it is handed the function directly, so they go to
    ``nameko_rpc(**options)`` and the function to what that returns.)"""
    options.setdefault("expected_exceptions", (VoolError,))
    decorate = nameko_rpc(**options)
    return decorate if fn is None else decorate(fn)
