"""Scheduled work with two replicas of notifications and of billing, on PostgreSQL:
a few hundred reminders due, invoices to issue and invoices overdue, and both
replicas doing the job at the same moment — several RPCs in flight together and
both replicas' periodic timers firing. Each reminder, each invoice and each
overdue mark happens once, counted black-box: in the services' databases, at the
SMTP server and on the bus (a pika tap on billing.events)."""
import json
import uuid
from collections import Counter
from datetime import datetime, timezone

import eventlet
import pika
import pytest
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from services.billing.service import BillingService
from services.common.events import new_event
from services.common.identifiers import make_reference_number
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.mail import mail_server, smtp_settings  # noqa: F401  (a fixture)

POINTS = 300
CONTRACTS = 300


def publish_all(bus, messages):
    """``[(source, envelope)]`` onto ``<source>.events``, over one channel."""
    with bus.channel() as channel:
        channel.confirm_delivery()
        for source, envelope in messages:
            channel.basic_publish(
                f"{source}.events", envelope["event_type"], json.dumps(envelope).encode(),
                pika.BasicProperties(content_type="application/json",
                                     content_encoding="utf-8", delivery_mode=2))


def event(source, event_type, data):
    return source, new_event(source, event_type, data, datetime.now(timezone.utc)).as_message()


def customer(n):
    return {"n": n, "customer_id": str(uuid.uuid4()), "consumption_point_id": str(uuid.uuid4()),
            "contract_no": f"VL-{n:06d}", "email": f"customer{n}@example.ee",
            "reference_no": make_reference_number(f"{n:06d}")}


def contract_signed(c, start_date="2026-01-01"):
    return event("contracts", "contract_signed", {
        "contract_no": c["contract_no"], "customer_id": c["customer_id"],
        "person_code": "44903136520", "name": f"Klient {c['n']}",
        "reference_no": c["reference_no"], "consumption_point_id": c["consumption_point_id"],
        "eic": f"38ZEE-{c['n']:08d}-X", "address": f"Narva mnt {c['n']}, Tallinn",
        "meter": {"serial": f"MTR{c['n']:06d}", "registers": [{"code": "T1", "digits": 6}]},
        "tariff_plan": "BASIC", "reading_day": 15, "start_date": start_date,
        "initial_readings": {"T1": 1000},
        "contact": {"postal_address": "Pärnu mnt 1, Tallinn", "phone": None,
                    "email": c["email"], "language": "et"}})


def count(url, sql, **params):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def scalar(url, sql, **params):
    return count(url, sql, **params)[0][0]


def at_once(replicas, timer, config, calls, service, method, *args):
    """The job done by ``calls`` RPCs and by both replicas' periodic ``timer`` at the
    same moment: the callers connect first (each on its own connection; with two
    replicas consuming the queue both get some), then all are let go together and
    both timers fire as they do every interval (the timer entrypoint spawns a
    worker). Returns the RPCs' results."""
    ready, go = [], eventlet.Event()

    def call():
        with ClusterRpcProxy(config, timeout=120) as proxy:
            method_proxy = getattr(getattr(proxy, service), method)
            ready.append(True)
            go.wait()
            return method_proxy(*args)
    callers = [eventlet.spawn(call) for _ in range(calls)]
    wait_for(lambda: len(ready) == calls, message="the callers connected")

    fired = []
    go.send()
    eventlet.sleep(0.05)   # the requests on their way: the timers are in-process, quicker
    for container in replicas:
        [entrypoint] = [e for e in container.entrypoints if e.method_name == timer]
        finished = eventlet.Event()
        fired.append(finished)

        def handle_result(worker_ctx, result, exc_info, finished=finished):
            finished.send(exc_info)
            return result, exc_info
        container.spawn_worker(entrypoint, (), {}, handle_result=handle_result)
    results = [caller.wait() for caller in callers]
    failures = [exc_info for exc_info in (f.wait() for f in fired) if exc_info]
    assert not failures, failures
    return results


def concurrently(config, calls, service, method, *args):
    """``calls`` RPCs at once, each on its own connection."""
    def call(_):
        with ClusterRpcProxy(config, timeout=120) as proxy:
            return getattr(getattr(proxy, service), method)(*args)
    return list(eventlet.GreenPool(calls).imap(call, range(calls)))


def tapped(bus, queue):
    return [json.loads(body) for _, body in bus.drain(queue)]


def test_two_notifications_replicas_send_each_due_reminder_once(
        run_services, config, database_urls, mail_server, bus):
    mail_server.start()
    replicas = run_services(NotificationsService, NotificationsService,
                            **smtp_settings(mail_server))
    customers = [customer(n) for n in range(1, POINTS + 1)]
    publish_all(bus, [contract_signed(c) for c in customers])
    publish_all(bus, [event("metering", "reading_schedule_started", {
        "consumption_point_id": c["consumption_point_id"], "customer_id": c["customer_id"],
        "contract_no": c["contract_no"], "reading_day": 15,
        "next_reading_due": "2026-01-15"}) for c in customers])
    url = database_urls["notifications"]
    wait_for(lambda: scalar(url, "SELECT count(*) FROM reminders WHERE status = 'pending'")
             == POINTS, timeout=60, interval=0.5, message="every reminder scheduled")
    # the welcome e-mails out of the way, so that what follows is the sweep's
    wait_for(lambda: scalar(url, "SELECT count(*) FROM deliveries WHERE status = 'sent'")
             == POINTS, timeout=120, interval=0.5, message="the contract e-mails sent")

    # load beside the sweeps: an invoice for everyone, handled by both replicas
    publish_all(bus, [event("billing", "invoice_issued", {
        "invoice_no": f"2026-{c['n']:08d}", "customer_id": c["customer_id"],
        "contract_no": c["contract_no"], "period": "2026-01", "issued_on": "2026-02-01",
        "due_on": "2026-02-15", "reference_no": c["reference_no"], "total": "42.10"})
        for c in customers])
    # today (the timers' day) is long past 2026-01-15 + the window: all are due
    results = at_once(replicas, "hourly_reminder_sweep", config, 4,
                      "notifications", "reminder_sweep")
    assert sum(r["reminders_sent"] for r in results) <= POINTS

    per_point = count(url, """
        SELECT consumption_point_id,
               SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END),
               SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END)
        FROM reminders GROUP BY consumption_point_id""")
    assert len(per_point) == POINTS
    assert Counter((sent, pending) for _, sent, pending in per_point) == {(1, 1): POINTS}, \
        "each point: one reminder sent, the next one pending"
    reminded = count(url, "SELECT customer_id, count(*) FROM inbox "
                          "WHERE kind = 'reading_reminder' GROUP BY customer_id")
    assert sorted(reminded) == sorted((c["customer_id"], 1) for c in customers)

    # one e-mail each, sent once by one of the two replicas' senders
    wait_for(lambda: scalar(url, "SELECT count(*) FROM deliveries WHERE status = 'sent'")
             == 3 * POINTS, timeout=180, interval=0.5, message="every e-mail sent")
    assert count(url, "SELECT kind, count(*) FROM deliveries GROUP BY kind ORDER BY kind") \
        == [("contract_signed", POINTS), ("invoice_issued", POINTS),
            ("reading_reminder", POINTS)]
    mail_server.settle(2)
    received = Counter((m["To"], m["Subject"].split()[0]) for m in mail_server.messages())
    assert len(received) == 3 * POINTS and set(received.values()) == {1}, \
        [key for key, n in received.items() if n > 1][:10]
    reminders_received = Counter(m["To"] for m in mail_server.messages()
                                 if m["Subject"] == "Näidu teatamise meeldetuletus")
    assert reminders_received == {c["email"]: 1 for c in customers}

    # a second round finds nothing due (the next reminders are next month's)
    assert sum(r["reminders_sent"] for r in concurrently(
        config, 2, "notifications", "reminder_sweep")) == 0


@pytest.fixture
def billing_replicas(run_services, bus, database_urls, real_time_clock):
    """Two billing replicas that know of CONTRACTS contracts in force since January."""
    real_time_clock.set(datetime(2026, 2, 3, 9, 0, tzinfo=timezone.utc))
    replicas = run_services(BillingService, BillingService)
    customers = [customer(n) for n in range(1, CONTRACTS + 1)]
    publish_all(bus, [contract_signed(c) for c in customers])
    wait_for(lambda: scalar(database_urls["billing"], "SELECT count(*) FROM billing_contracts")
             == CONTRACTS, timeout=60, interval=0.5, message="billing to know every contract")
    return replicas, customers


def test_two_billing_replicas_issue_one_invoice_per_contract_and_mark_each_overdue_once(
        billing_replicas, config, database_urls, bus, real_time_clock):
    replicas, customers = billing_replicas
    url = database_urls["billing"]
    issued_tap = bus.bind_tap("billing.events", "invoice_issued")
    overdue_tap = bus.bind_tap("billing.events", "invoice_overdue")

    # load beside the run: January's reading of every contract, charged by both
    # replicas while they bill (each charge lands on this run's invoice or waits)
    publish_all(bus, [event("metering", "reading_submitted", {
        "reading_id": str(uuid.uuid4()), "consumption_point_id": c["consumption_point_id"],
        "contract_no": c["contract_no"], "customer_id": c["customer_id"],
        "tariff_plan": "BASIC", "reading_date": "2026-01-31",
        "previous_reading_date": "2026-01-01", "registers": {"T1": 1100},
        "consumption": {"T1": 100}, "next_reading_due": "2026-02-15"}) for c in customers])
    # the billing run for January: four RPCs and both replicas' timers (which bill
    # last month, January, on 3 February) at the same moment
    results = at_once(replicas, "monthly_billing_run", config, 4,
                      "billing", "billing_run", "2026-01")
    assert sum(r["invoices_issued"] for r in results) <= CONTRACTS
    per_contract = count(url, "SELECT contract_no, count(*) FROM invoices "
                              "WHERE period = '2026-01' GROUP BY contract_no")
    assert sorted(per_contract) == sorted((c["contract_no"], 1) for c in customers)
    assert scalar(url, "SELECT count(*) FROM invoices") == CONTRACTS
    assert scalar(url, "SELECT count(*) FROM invoice_lines WHERE kind = 'monthly_fee'") \
        == CONTRACTS
    wait_for(lambda: scalar(url, "SELECT count(*) FROM charges") == CONTRACTS, timeout=60,
             interval=0.5, message="every reading charged")
    # a billed charge is on its own contract's invoice, and its lines with it: each
    # invoice's net is the fee plus exactly the charges billed on it
    assert scalar(url, "SELECT count(*) FROM charges c JOIN invoices i "
                       "ON i.invoice_no = c.invoice_no WHERE i.contract_no <> c.contract_no") == 0
    assert count(url, """
        SELECT i.invoice_no FROM invoices i
        LEFT JOIN (SELECT invoice_no, SUM(net) AS net FROM charges GROUP BY invoice_no) c
               ON c.invoice_no = i.invoice_no
        WHERE i.net <> 1.99 + COALESCE(c.net, 0)""") == []

    # both replicas' publishers announce each invoice once
    issued = []
    wait_for(lambda: issued.extend(tapped(bus, issued_tap)) or len(issued) >= CONTRACTS,
             timeout=60, interval=0.5, message="every invoice_issued published")
    eventlet.sleep(2)   # both publishers' next ticks
    issued.extend(tapped(bus, issued_tap))
    announced = Counter(e["data"]["invoice_no"] for e in issued)
    assert len(announced) == CONTRACTS and set(announced.values()) == {1}, \
        [no for no, n in announced.items() if n > 1][:10]

    # after their due day (17 February) every one is unpaid: four overdue sweeps and
    # both replicas' hourly timers at the same moment
    real_time_clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    results = at_once(replicas, "hourly_overdue_sweep", config, 4, "billing", "overdue_sweep")
    assert sum(r["invoices_overdue"] for r in results) <= CONTRACTS
    assert count(url, "SELECT status, count(*) FROM invoices GROUP BY status") == \
        [("overdue", CONTRACTS)]
    overdue = []
    wait_for(lambda: overdue.extend(tapped(bus, overdue_tap)) or len(overdue) >= CONTRACTS,
             timeout=60, interval=0.5, message="every invoice_overdue published")
    eventlet.sleep(2)   # anything sent twice has arrived by now
    overdue.extend(tapped(bus, overdue_tap))
    marked = Counter(e["data"]["invoice_no"] for e in overdue)
    assert sorted(marked) == sorted(no for no, in count(url, "SELECT invoice_no FROM invoices"))
    assert set(marked.values()) == {1}, [no for no, n in marked.items() if n > 1][:10]

    # once more, by both: nothing new
    assert concurrently(config, 2, "billing", "overdue_sweep") == \
        [{"invoices_overdue": 0}] * 2
    assert concurrently(config, 2, "billing", "billing_run", "2026-01") == \
        [{"invoices_issued": 0, "total": "0.00", "unpriceable": []}] * 2
