"""Notifications on the real broker, database and a real SMTP server: e-mail in
the customer's language, retried while the server is down and sent once after
it is back, a duplicate event sending one message, two replicas sending each
message once, and mandates reaching both parties and the reading reminders."""
import time
from datetime import datetime, timezone

import eventlet
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.events import new_event
from services.contracts.service import ContractsService
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.mail import mail_server, smtp_settings  # noqa: F401  (a fixture)
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command, eic_code, personal_code

OIE, MARI = "oie@example.ee", "mari@example.ee"


def sign(rpc, n, person_code=GRANDMOTHER, name="Õie Mäger", email=OIE, language="et"):
    command = contract_command(n=n, person_code=person_code, name=name)
    command["contact"].update(email=email, language=language)
    signed = rpc.contracts.sign_contract(command)
    wait_for(lambda: any(n["kind"] == "contract_signed"
                         for n in rpc.notifications.inbox(signed["customer_id"])),
             message="notifications to hear of the contract")
    return signed


def invoice_event(signed, n=1, total="42.10"):
    return new_event("billing", "invoice_issued", {
        "invoice_no": f"2026-{n:08d}", "customer_id": signed["customer_id"],
        "contract_no": signed["contract_no"], "period": "2026-02", "issued_on": "2026-03-01",
        "due_on": "2026-03-15", "reference_no": signed["reference_no"], "total": total},
        datetime.now(timezone.utc)).as_message()


def deliveries(rpc, kind, status="all"):
    return [d for d in rpc.notifications.deliveries(status) if d["kind"] == kind]


def test_mail_reaches_a_real_smtp_server_in_the_customers_language(run_services, rpc, bus,
                                                                   mail_server):
    mail_server.start()
    run_services(ContractsService, NotificationsService, **smtp_settings(mail_server))
    oie = sign(rpc, 1)
    mari = sign(rpc, 2, GRANDCHILD, "Mari Mäger", MARI, language="en")
    bus.publish_event("billing", invoice_event(oie, 1, "1234.50"))
    bus.publish_event("billing", invoice_event(mari, 2, "42.10"))

    estonian = [m for m in mail_server.wait_for_messages(OIE, 2)
                if m["Subject"].startswith("Arve")]
    [english] = [m for m in mail_server.wait_for_messages(MARI, 2)
                 if m["Subject"].startswith("Invoice")]
    [estonian] = estonian
    assert estonian["Subject"] == "Arve 2026-00000001 (veebruar 2026)"
    assert estonian["From"] == "Vool <teated@vool.test>"
    assert estonian["Content-Language"] == "et"
    assert estonian.get_content_type() == "text/plain"
    assert "Summa: 1 234,50 €" in estonian.get_content()
    assert oie["reference_no"] in estonian.get_content()
    assert english["Subject"] == "Invoice 2026-00000002 (February 2026)"
    assert english["Content-Language"] == "en"
    assert "Amount: €42.10" in english.get_content()
    assert english["Message-ID"].endswith("@vool.test>")
    [contract_mail] = [m for m in mail_server.to(MARI) if m["Subject"].startswith("Contract")]
    assert mari["contract_no"] in contract_mail["Subject"]

    # the inbox holds the same text, and the delivery is recorded as sent
    inbox = rpc.notifications.inbox(mari["customer_id"])
    assert inbox[0]["kind"] == "invoice_issued" and inbox[0]["subject"] == english["Subject"]
    wait_for(lambda: [d["status"] for d in deliveries(rpc, "invoice_issued")] == ["sent"] * 2)


def test_mail_waits_while_the_server_is_down_and_goes_once_when_it_is_back(
        run_services, rpc, bus, mail_server):
    run_services(ContractsService, NotificationsService, **smtp_settings(
        mail_server, VOOL_DELIVERY_BACKOFF=0.3, VOOL_DELIVERY_ATTEMPTS=20))
    oie = sign(rpc, 3)
    bus.publish_event("billing", invoice_event(oie, 3))
    waiting = wait_for(lambda: [d for d in deliveries(rpc, "invoice_issued", "pending")
                                if d["attempts"] >= 2], message="a retried delivery")
    assert "refused" in waiting[0]["last_error"].lower()
    assert mail_server.messages() == []

    mail_server.start()
    received = mail_server.wait_for_messages(OIE, 2)
    wait_for(lambda: deliveries(rpc, "invoice_issued", "sent"), message="the delivery sent")
    mail_server.settle()
    assert sorted(m["Subject"] for m in mail_server.messages()) == sorted(
        m["Subject"] for m in received)
    assert len(mail_server.to(OIE)) == 2      # the contract and the invoice, once each


def test_after_the_last_attempt_a_delivery_has_failed(run_services, rpc, bus, mail_server):
    run_services(ContractsService, NotificationsService, **smtp_settings(
        mail_server, VOOL_DELIVERY_BACKOFF=0.1, VOOL_DELIVERY_ATTEMPTS=2))
    oie = sign(rpc, 4)
    [failed] = wait_for(lambda: deliveries(rpc, "contract_signed", "failed"),
                        message="the delivery given up")
    assert failed["attempts"] == 2 and failed["address"] == OIE and failed["last_error"]
    assert failed["customer_id"] == oie["customer_id"]
    mail_server.start()
    mail_server.settle(2.5)
    assert mail_server.messages() == []       # failed stays failed


def test_a_duplicate_event_sends_one_message(run_services, rpc, bus, mail_server):
    mail_server.start()
    run_services(ContractsService, NotificationsService, **smtp_settings(mail_server))
    oie = sign(rpc, 5)
    twice = invoice_event(oie, 5)
    bus.publish_event("billing", twice)
    bus.publish_event("billing", twice)
    bus.publish_event("billing", invoice_event(oie, 6))   # after both copies
    mail_server.wait_for_messages(OIE, 3)
    mail_server.settle()
    subjects = sorted(m["Subject"] for m in mail_server.to(OIE))
    assert subjects == ["Arve 2026-00000005 (veebruar 2026)",
                        "Arve 2026-00000006 (veebruar 2026)", f"Leping {oie['contract_no']} on sõlmitud"]
    assert len([n for n in rpc.notifications.inbox(oie["customer_id"])
                if n["kind"] == "invoice_issued"]) == 2


def mandate_event(event_type, grantor, grantee, **changes):
    return new_event("identity", event_type, {
        "mandate_id": "5f0c1e9e-8d1b-4a5e-9d43-4c1f1c0a7e01",
        "grantor_customer_id": grantor["customer_id"], "grantor_name": "Õie Mäger",
        "grantee_person_code": GRANDCHILD, "grantee_name": "Mari Mäger",
        "grantee_customer_id": grantee["customer_id"], "scopes": ["readings:write"],
        "consumption_point_ids": [], "valid_from": "2026-01-01", "valid_until": None,
        "created_via": "office", "revoked_at": None, **changes},
        datetime.now(timezone.utc)).as_message()


def test_two_replicas_send_one_reminder_to_each_party_and_every_message_once(
        run_services, rpc, bus, mail_server, config):
    mail_server.start()
    settings = smtp_settings(mail_server)
    run_services(ContractsService, NotificationsService, NotificationsService, **settings)
    oie = sign(rpc, 7)
    mari = sign(rpc, 8, GRANDCHILD, "Mari Mäger", MARI, language="en")
    bus.publish_event("identity", mandate_event("mandate_granted", oie, mari))
    bus.publish_event("metering", new_event("metering", "reading_schedule_started", {
        "consumption_point_id": oie["consumption_point_id"], "customer_id": oie["customer_id"],
        "contract_no": oie["contract_no"], "reading_day": 15,
        "next_reading_due": "2026-01-15"}, datetime.now(timezone.utc)).as_message())
    wait_for(lambda: rpc.notifications.reminders(oie["consumption_point_id"]))
    wait_for(lambda: len(mail_server.to(MARI)) == 2, message="the mandate to the grantee")

    def sweep(_):
        with ClusterRpcProxy(config, timeout=30) as proxy:   # a proxy per green thread
            return proxy.notifications.reminder_sweep("2026-01-19")["reminders_sent"]
    assert sum(eventlet.GreenPool(2).imap(sweep, range(2))) == 1

    # a burst for both replicas' senders at once
    for n in range(100, 140):
        bus.publish_event("billing", invoice_event(oie, n))
    mail_server.wait_for_messages(OIE, 1 + 1 + 1 + 40, timeout=60)   # contract, mandate, reminder
    mari_mail = mail_server.wait_for_messages(MARI, 3)                # contract, mandate, reminder
    mail_server.settle(2)
    subjects = [m["Subject"] for m in mail_server.to(OIE)]
    assert len(subjects) == len(set(subjects)) == 43
    assert subjects.count("Näidu teatamise meeldetuletus") == 1
    [reminder] = [m for m in mari_mail if m["Subject"] == "Meter reading reminder"]
    assert "Õie Mäger, who has authorised you" in reminder.get_content()
    assert "Narva mnt 7" in reminder.get_content()
    assert len(mail_server.to(MARI)) == 3


def test_both_parties_hear_of_a_revoked_mandate_and_its_holder_is_not_reminded(
        run_services, rpc, bus):
    run_services(ContractsService, NotificationsService)
    oie = sign(rpc, 9)
    mari = sign(rpc, 10, GRANDCHILD, "Mari Mäger", MARI, language="en")
    bus.publish_event("identity", mandate_event("mandate_granted", oie, mari))
    bus.publish_event("identity", mandate_event("mandate_revoked", oie, mari,
                                                revoked_at="2026-01-10T08:00:00+00:00"))

    def kinds(customer):
        return [n["kind"] for n in rpc.notifications.inbox(customer["customer_id"])]
    wait_for(lambda: {"mandate_granted", "mandate_revoked"} <= set(kinds(oie))
             and {"mandate_granted", "mandate_revoked"} <= set(kinds(mari)))
    revoked = next(n for n in rpc.notifications.inbox(mari["customer_id"])
                   if n["kind"] == "mandate_revoked")
    assert revoked["subject"] == "Mandate revoked" and "Õie Mäger" in revoked["body"]
    bus.publish_event("metering", new_event("metering", "reading_schedule_started", {
        "consumption_point_id": oie["consumption_point_id"], "customer_id": oie["customer_id"],
        "contract_no": oie["contract_no"], "reading_day": 15,
        "next_reading_due": "2026-01-15"}, datetime.now(timezone.utc)).as_message())
    wait_for(lambda: rpc.notifications.reminders(oie["consumption_point_id"]))
    assert rpc.notifications.reminder_sweep("2026-01-19")["reminders_sent"] == 1
    assert "reading_reminder" in kinds(oie) and "reading_reminder" not in kinds(mari)


def test_on_sqlite_the_service_answers_while_it_sweeps_and_each_reminder_goes_once(
        run_services, bus, config, tmp_path, caplog, mail_server):
    """The default store, mail going out over SMTP: while the sweep writes, health and
    the inbox answer within their timeouts, events are handled (none retried, no
    'database is locked'), every point is reminded once and each reminder mailed once."""
    import sqlalchemy as sa
    mail_server.start()
    store = tmp_path / "notifications.sqlite3"
    run_services(NotificationsService, VOOL_NOTIFICATIONS_DATABASE_URL=f"sqlite:///{store}",
                 **smtp_settings(mail_server))
    caplog.set_level("WARNING")
    points, now = 200, datetime.now(timezone.utc)
    customers = [f"00000000-0000-4000-8000-{n:012d}" for n in range(points)]
    for n, customer in enumerate(customers):
        point = f"00000000-0000-4000-9000-{n:012d}"
        bus.publish_event("contracts", new_event("contracts", "contract_signed", {
            "contract_no": f"L{n:07d}", "customer_id": customer, "name": f"Klient {n}",
            "person_code": personal_code("4900101", f"{n:03d}"), "reference_no": f"{n:07d}",
            "consumption_point_id": point, "eic": eic_code(n), "address": f"Pikk {n}",
            "meter": {"serial": f"M{n:07d}", "registers": [{"code": "T1", "digits": 6}]},
            "tariff_plan": "BASIC", "initial_readings": {"T1": 1000},
            "reading_day": 15, "start_date": "2025-12-15",
            "contact": {"email": f"klient{n}@example.ee" if n % 4 == 0 else None,
                        "phone": None, "language": "et"}},
            now).as_message())
        bus.publish_event("metering", new_event("metering", "reading_schedule_started", {
            "consumption_point_id": point, "customer_id": customer,
            "contract_no": f"L{n:07d}", "reading_day": 15, "next_reading_due": "2026-01-15"},
            now).as_message())
    engine = sa.create_engine(f"sqlite:///{store}", poolclass=sa.pool.NullPool)

    def count(sql):
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    wait_for(lambda: count("SELECT count(*) FROM reminders") == points, timeout=90,
             message="every reminder scheduled")

    calls, sweeping, invoices = [], [True], customers[:10]

    def probe(timeout, call):   # a client of the service, every call within its timeout
        with ClusterRpcProxy(config, timeout=timeout) as proxy:
            n = 0
            while sweeping[0]:
                started = time.monotonic()
                call(proxy, n)   # raises RpcTimeout if the service does not answer
                calls.append((started, time.monotonic()))
                n += 1
    probes = [eventlet.spawn(probe, 2, lambda p, n: p.notifications.health()),
              eventlet.spawn(probe, 5, lambda p, n: p.notifications.inbox(customers[n % points]))]
    time.sleep(1)   # the probes are calling
    for n, customer in enumerate(invoices):   # events to handle while sweeping
        bus.publish_event("billing", invoice_event(
            {"customer_id": customer, "contract_no": f"L{n:07d}", "reference_no": f"{n:07d}"},
            n + 1))
    began = time.monotonic()
    with ClusterRpcProxy(config, timeout=60) as proxy:
        assert proxy.notifications.reminder_sweep("2026-01-19") == {"reminders_sent": points}
    ended = time.monotonic()
    sweeping[0] = False
    for thread in probes:
        thread.wait()
    assert [c for c in calls if c[0] < ended and c[1] > began]   # they overlapped the sweep
    assert count("SELECT count(DISTINCT consumption_point_id) FROM reminders "
                 "WHERE status = 'sent'") == count(
        "SELECT count(*) FROM reminders WHERE status = 'sent'") == points
    assert count("SELECT count(*) FROM reminders WHERE status = 'pending' "
                 "AND due_on = '2026-02-15'") == points
    assert count("SELECT count(*) FROM inbox WHERE kind = 'reading_reminder'") == points
    mailed = points // 4   # the customers with an e-mail address; the rest: the inbox only
    wait_for(lambda: count("SELECT count(*) FROM deliveries WHERE kind = 'reading_reminder' "
                           "AND status = 'sent'") == mailed, timeout=60,
             message="every reminder mailed")
    mail_server.settle()
    reminders = [m["Message-ID"] for m in mail_server.messages()
                 if m["Subject"] == "Näidu teatamise meeldetuletus"]
    assert len(reminders) == len(set(reminders)) == mailed
    wait_for(lambda: count("SELECT count(*) FROM inbox WHERE kind = 'invoice_issued'")
             == len(invoices), message="the invoices during the sweep handled")
    engine.dispose()
    assert not [r for r in caplog.records if "retrying in" in r.getMessage()
                or "database is locked" in r.getMessage()]
