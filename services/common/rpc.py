"""The ``@rpc`` entrypoint every service uses: our typed errors are expected
outcomes (logged briefly), anything else is a bug (logged with its traceback)."""
from functools import partial

from nameko.rpc import rpc as nameko_rpc

from services.common.errors import VoolError

rpc = partial(nameko_rpc, expected_exceptions=(VoolError,))
