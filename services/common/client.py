"""Vool's services over RPC for other programs, typed with the published models.

    from services.common.client import VoolClient
    from services.metering import api as metering

    with VoolClient("amqp://guest:guest@127.0.0.1:5672/") as vool:
        receipt = vool.call(metering.submit_reading, metering.SubmitReading(
            consumption_point_id="EE-CP-0001", reading_date="2026-12-01",
            registers={"T1": 45710}, source="import", submitted_by="crm"))
        print(receipt.status, receipt.consumption)

The arguments are checked here before they travel (ValidationFailed naming the
field), the answer comes back as the method's result model, and a refusal as the
typed error the method declares (services/common/errors.py: NotFound, Conflict,
ValidationFailed, ...). A service that does not answer within ``timeout``, or is
not running at all, raises ServiceUnavailable. docs/rpc.md lists every method.
"""
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.errors import ServiceUnavailable
from services.common.rpc_methods import RpcMethod


class VoolClient:
    """``request_id``: the caller's correlation id (1-128 of ``[A-Za-z0-9._-]``), in
    every log line and event its calls cause; without one each call gets its own."""

    def __init__(self, amqp_uri, timeout=30, request_id=None):
        self._config = {"AMQP_URI": amqp_uri}
        self._timeout = timeout
        self._context = {"request_id": request_id} if request_id else None
        self._cluster = None
        self._proxy = None

    def __enter__(self):
        self._cluster = ClusterRpcProxy(self._config, timeout=self._timeout,
                                        context_data=self._context)
        self._proxy = self._cluster.start()
        return self

    def __exit__(self, *exc_info):
        self._cluster.stop()
        self._cluster = self._proxy = None

    def call(self, method: RpcMethod, *args, **kwargs):
        """Call ``method`` with its arguments (models or plain values, by position
        or by name, or its Arguments model) and return its result model."""
        if self._proxy is None:
            raise RuntimeError("use VoolClient as a context manager: with VoolClient(uri) as vool")
        wire = method.wire_kwargs(*args, **kwargs)
        try:
            raw = getattr(getattr(self._proxy, method.service), method.name)(**wire)
        except RpcTimeout:
            raise ServiceUnavailable(f"{method.service} did not answer within "
                                     f"{self._timeout} s") from None
        except UnknownService:
            # no queue of that service on the broker: it is not running (or never ran
            # here), which for the caller is the same as one that does not answer
            raise ServiceUnavailable(f"{method.service} is not running") from None
        return method.result_of(raw)
