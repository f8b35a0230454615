"""The chaos run's clients: they behave as API.md asks clients to.

A request answered 5xx (503 while a service is down), or whose connection broke
or timed out, is sent again — the same method, path, body and ``Idempotency-Key``
— with a growing pause (0.2 s doubling to 2 s), for at most ``RETRY_FOR``
seconds; with several gateways (replicas) the next attempt after a broken
connection goes to the next one, as a load balancer would send it. Every attempt
is kept (when, how long, what came back) so the run can say what clients saw
while a fault lasted; every logical request is kept with its final answer.

Readings: each client takes a consumption point, sends its next day's reading
and, once answered 201, gives the point back; a point whose request was never
answered 201 leaves the rotation (its reading may still be stored later, from a
request the client gave up on; it must not be sent again under another key and
then look like a duplicate). Payments: one payer starts a banklink payment of an
open invoice (POST /customers/{cid}/payments), plays the bank's 1111 reply to
the return URL, and every third time sends it again as the bank's own call
(VK_AUTO=Y). A camt.053 statement paying some customers' invoices is imported
by the operator once per scenario, while the fault lasts.
"""
import collections
import http.client
import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode

import eventlet

from bench.load import http_call

CLIENT_TIMEOUT = 15.0   # s; the gateway answers 503 after VOOL_RPC_TIMEOUT (5 s)
RETRY_FOR = 60.0        # s a client keeps retrying one request before it gives up
FIRST_PAUSE, LONGEST_PAUSE = 0.2, 2.0


class Attempt:
    __slots__ = ("kind", "at", "seconds", "status", "error")

    def __init__(self, kind, at, seconds, status, error):
        self.kind, self.at, self.seconds, self.status, self.error = (kind, at, seconds, status,
                                                                     error)

    @property
    def outcome(self):
        return str(self.status) if self.status is not None else self.error


class Request:
    """One logical request and every attempt it took."""
    __slots__ = ("kind", "key", "attempts", "status", "answer", "extra")

    def __init__(self, kind, key=None, **extra):
        self.kind, self.key, self.attempts = kind, key, []
        self.status, self.answer, self.extra = None, None, extra

    @property
    def gave_up(self):
        return self.status is None or self.status >= 500


class Client:
    """A keep-alive connection to one of the gateways, with the retry rule."""

    def __init__(self, ports, start=0, timeout=CLIENT_TIMEOUT):
        self.ports = list(ports)
        self.index = start % len(self.ports)
        self.timeout = timeout
        self.conn = self._connect()

    def _connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.ports[self.index],
                                          timeout=self.timeout)

    def close(self):
        self.conn.close()

    def send(self, request, method, path, body=None, headers=None, retry_for=RETRY_FOR):
        """Fill ``request`` with the attempts and the final status and body."""
        give_up_at = time.monotonic() + retry_for
        pause = FIRST_PAUSE
        while True:
            at, t0 = time.time(), time.monotonic()
            status, data, error = None, None, None
            try:
                status, data = http_call(self.conn, method, path, body, headers)
            except TimeoutError:
                error = "timeout"
            except (http.client.HTTPException, OSError) as exc:
                error = _broken(exc)
            request.attempts.append(Attempt(request.kind, at, time.monotonic() - t0, status,
                                            error))
            if status is not None and status < 500:
                request.status, request.answer = status, data
                return request
            if error is not None and len(self.ports) > 1:   # the next gateway
                self.conn.close()
                self.index = (self.index + 1) % len(self.ports)
                self.conn = self._connect()
            if time.monotonic() + pause > give_up_at:
                request.status, request.answer = status, data
                return request
            eventlet.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)


def _broken(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                        http.client.IncompleteRead)):
        return "connection broken"
    return f"connection error ({type(exc).__name__})"


class Load:
    """Everything the clients sent during one scenario."""

    def __init__(self, name):
        self.name = name
        self.readings = []       # Request("reading", key, point=Point, command=...)
        self.payments = []       # Request("payment-start"/"payment-return"/"payment-auto")
        self.statements = []     # Request("statement", entries=[...])
        self.confirmed = []      # (stamp, invoice_no, amount) the bank said it paid
        self.retired_points = 0

    def requests(self):
        return self.readings + self.payments + self.statements

    def attempts(self):
        return [a for r in self.requests() for a in r.attempts]


class Points:
    """The consumption points the clients take turns on."""

    def __init__(self, points, today):
        self.ready = collections.deque(points)
        self.today = today

    def take(self):
        while self.ready:
            point = self.ready.popleft()
            command = point.next_command(self.today)
            if command is not None:
                return point, command
        return None


def reading_client(client, points, load, stop, think):
    while not stop.ready():
        taken = points.take()
        if taken is None:
            eventlet.sleep(0.05)
            continue
        point, command = taken
        key = uuid.uuid4().hex
        request = Request("reading", key, point=point, command=command)
        load.readings.append(request)
        body = json.dumps({"reading_date": command["reading_date"],
                           "registers": command["registers"]})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {point.token}",
                   "Idempotency-Key": key}
        client.send(request, "POST", f"/api/v1/customers/{point.customer_id}/consumption-points/"
                                     f"{point.point_id}/readings", body, headers)
        if request.status == 201:
            answer = json.loads(request.answer)
            request.extra["reading_id"] = answer["reading_id"]
            request.extra["next_reading_due"] = answer["next_reading_due"]
            point.accepted(command)
            if answer.get("status") == "accepted":
                points.ready.append(point)
                point.last_due = answer["next_reading_due"]
            else:
                load.retired_points += 1
        else:
            load.retired_points += 1
        eventlet.sleep(think)


def payment_client(client, bank, payables, load, stop, interval):
    """``payables``: a deque of ``(point, invoice_no)`` still open."""
    n = 0
    while not stop.ready():
        if not payables:
            eventlet.sleep(0.2)
            continue
        point, invoice_no = payables.popleft()
        auth = {"Authorization": f"Bearer {point.token}"}
        start = Request("payment-start", invoice_no=invoice_no)
        load.payments.append(start)
        client.send(start, "POST", f"/api/v1/customers/{point.customer_id}/payments",
                    json.dumps({"bank": "testbank", "invoice_nos": [invoice_no]}),
                    {**auth, "Content-Type": "application/json"})
        if start.status != 200:
            eventlet.sleep(interval)
            continue
        fields = json.loads(start.answer)["fields"]
        reply = bank.payment_reply(fields, bank.check_request(fields), paid=True,
                                   now=datetime.now(timezone.utc))
        load.confirmed.append((fields["VK_STAMP"], invoice_no, fields["VK_AMOUNT"]))
        n += 1
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        back = Request("payment-return", stamp=fields["VK_STAMP"])
        load.payments.append(back)
        client.send(back, "POST", "/api/v1/payments/banklink/testbank/return",
                    urlencode(reply), form)
        if n % 3 == 0:   # the bank's own call with the same reply
            auto = Request("payment-auto", stamp=fields["VK_STAMP"])
            load.payments.append(auto)
            client.send(auto, "POST", "/api/v1/payments/banklink/testbank/return",
                        urlencode({**reply, "VK_AUTO": "Y"}), form)
        eventlet.sleep(interval)


def import_statement(ports, operator_token, document, entries, load):
    client = Client(ports, timeout=150)
    try:
        request = Request("statement", entries=entries)
        load.statements.append(request)
        client.send(request, "POST", "/api/v1/operator/bank-statements", document,
                    {"Authorization": f"Bearer {operator_token}",
                     "Content-Type": "application/xml"}, retry_for=120)
        return request
    finally:
        client.close()
