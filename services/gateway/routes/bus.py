"""The desk's view of the bus: messages no handler could take, per queue."""
import json

import pika.exceptions
import requests

from services import bustools
from services.common import config as cfg
from services.common.errors import ServiceUnavailable
from services.common.messaging import ATTEMPT_HEADER, ERROR_HEADER, QUEUE_HEADER
from services.gateway import schemas
from services.gateway.http import route

SAMPLE = 20


def _dead_letter(headers, body):
    """What a parked message is and why it is parked, without its whole body."""
    seen = {"error": headers.get(ERROR_HEADER), "queue": headers.get(QUEUE_HEADER),
            "attempts": headers.get(ATTEMPT_HEADER)}
    try:
        envelope = json.loads(body)
        seen.update(event_type=envelope.get("event_type"), event_id=envelope.get("event_id"),
                    source=envelope.get("source"))
    except (ValueError, AttributeError):
        seen["body"] = body[:200].decode("utf-8", "replace")
    return seen


class BusRoutes:

    @route("GET", "/api/v1/operator/dead-letters", access="operator", tag="operator",
           response_model=list[schemas.DeadLetterQueue],
           summary="Messages that could not be handled, per queue (the first 20 of each)")
    def desk_dead_letters(self, request):
        amqp_uri = cfg.amqp_uri(self.config)
        try:
            return [{"queue": queue, "messages": count,
                     "first": [_dead_letter(headers, body) for headers, body in
                               (bustools.peek(amqp_uri, queue, SAMPLE) if count else [])]}
                    for queue, count in bustools.dead_letter_queues(amqp_uri)]
        except (requests.RequestException, pika.exceptions.AMQPError) as exc:
            raise ServiceUnavailable(f"the broker cannot be asked: {exc}") from None
