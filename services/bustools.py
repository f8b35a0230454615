"""Operators' tools for the bus, on pika: the independent AMQP client, so the bus
is inspected by a client other than the one the services write with.

    vool bus dead-letters            every dead-letter queue and its depth
    vool bus show QUEUE [--limit N]  the messages parked in a dead-letter queue
    vool bus replay QUEUE            move them back to the queue they came from
    vool bus tail [EXCHANGE ...]     print events as they are published
"""
import json
import sys
from urllib.parse import quote, unquote, urlsplit

import pika
import requests

from services.common import config as cfg
from services.common.messaging import ATTEMPT_HEADER, DEAD_LETTER_SUFFIX, ERROR_HEADER, QUEUE_HEADER

EVENT_EXCHANGES = ("identity.events", "contracts.events", "metering.events",
                   "billing.events", "notifications.events")


def _management(amqp_uri):
    parts = urlsplit(amqp_uri)
    base = cfg.setting(None, "RABBIT_MANAGEMENT_URL", f"http://{parts.hostname or 'localhost'}:15672")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return base.rstrip("/"), vhost, (parts.username or "guest", parts.password or "guest")


def dead_letter_queues(amqp_uri):
    """``[(queue, messages)]`` of every dead-letter queue, from the management API."""
    base, vhost, auth = _management(amqp_uri)
    response = requests.get(f"{base}/api/queues/{quote(vhost, safe='')}", auth=auth, timeout=10)
    response.raise_for_status()
    return sorted((q["name"], q.get("messages", 0)) for q in response.json()
                  if q["name"].endswith(DEAD_LETTER_SUFFIX))


def peek(amqp_uri, queue, limit=20):
    """The first messages of a queue, left in place (read, then nacked back)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        seen = []
        for _ in range(limit):
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                break
            seen.append((properties.headers or {}, body))
        channel.basic_recover(requeue=True)
        return seen
    finally:
        connection.close()


def replay(amqp_uri, queue):
    """Move every dead letter back to its handler's queue, fresh: no attempt count.
    Each message is acked only after its re-publish is confirmed."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    moved = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=False)
            if method is None:
                return moved
            headers = dict(properties.headers or {})
            target = headers.pop(QUEUE_HEADER, None) or queue[: -len(DEAD_LETTER_SUFFIX)]
            for header in (ATTEMPT_HEADER, ERROR_HEADER, "x-death"):
                headers.pop(header, None)
            properties.headers = headers
            channel.basic_publish("", target, body, properties)
            channel.basic_ack(method.delivery_tag)
            moved += 1
    finally:
        connection.close()


def tail(amqp_uri, exchanges=EVENT_EXCHANGES, out=sys.stdout):
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
    for exchange in exchanges:
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_bind(queue, exchange, "#")

    def show(ch, method, properties, body):
        print(f"{method.exchange} {method.routing_key} {body.decode('utf-8', 'replace')}",
              file=out, flush=True)

    channel.basic_consume(queue, show, auto_ack=True)
    try:
        channel.start_consuming()
    except KeyboardInterrupt:
        pass
    finally:
        connection.close()


def main(args):
    amqp_uri = cfg.amqp_uri()
    if args.bus_command == "dead-letters":
        for queue, count in dead_letter_queues(amqp_uri):
            print(f"{count:6d}  {queue}")
    elif args.bus_command == "show":
        for headers, body in peek(amqp_uri, args.queue, args.limit):
            print(json.dumps({"error": headers.get(ERROR_HEADER),
                              "attempts": headers.get(ATTEMPT_HEADER),
                              "body": body.decode("utf-8", "replace")}, ensure_ascii=False))
    elif args.bus_command == "replay":
        print(f"replayed {replay(amqp_uri, args.queue)} message(s) from {args.queue}")
    elif args.bus_command == "tail":
        tail(amqp_uri, args.exchanges or EVENT_EXCHANGES)
    return 0
