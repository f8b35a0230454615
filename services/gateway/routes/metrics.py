"""The gateway's ``/metrics``: the Prometheus text format of this process (HTTP
requests by route, its RPC clients' process, RSS; services/common/metrics.py)."""
from werkzeug.wrappers import Response

from services.common import metrics
from services.gateway.http import route


class MetricsRoutes:

    @route("GET", "/metrics", access="public", response_media="text/plain", standalone=True,
           summary="Prometheus metrics of this gateway process (text exposition format)",
           description="For the operators' Prometheus; each backend service serves its own "
                       "on its ops port (`VOOL_OPS_ADDRESS`, :9100 in containers).")
    def metrics(self, request):
        body, content_type = metrics.exposition()
        return Response(body, content_type=content_type)
