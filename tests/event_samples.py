"""A valid ``data`` for every event some Vool service consumes, shaped as its
publisher sends it, and the event handlers found on the service classes.

tests/unit/test_event_models.py checks that the publishers' own code paths emit
what these models accept; the integration tests use these samples as the good
event a handler must still handle after bad ones.
"""
import importlib
import inspect
import uuid
from datetime import datetime, timezone

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.common.events import EventData
from services.common.messaging import ReliableEventHandler
from tests.samples import GRANDCHILD, GRANDMOTHER, eic_code

SERVICE_NAMES = ("identity", "contracts", "metering", "billing", "notifications")


def service_class(name):
    module = importlib.import_module(f"services.{name}.service")
    [cls] = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if c.__module__ == module.__name__ and getattr(c, "name", None) == name]
    return cls


def event_handlers():
    """``[(service class, method name, source service, event type)]`` of every
    ReliableEventHandler entrypoint of the five services."""
    found = []
    for name in SERVICE_NAMES:
        cls = service_class(name)
        for method_name, method in inspect.getmembers(cls, inspect.isfunction):
            for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, ReliableEventHandler):
                    found.append((cls, method_name, entrypoint.source_service,
                                  entrypoint.event_type))
    return sorted(found, key=lambda h: (h[0].name, h[1]))


def queue_name(cls, method_name, source, event_type):
    """nameko's queue of an event handler (SERVICE_POOL)."""
    return f"evt-{source}-{event_type}--{cls.name}.{method_name}"


def event_models(source):
    """The EventData models in the publisher's api.py, by event type."""
    module = importlib.import_module(f"services.{source}.api")
    return {model.event_type: model for _, model in inspect.getmembers(module, inspect.isclass)
            if issubclass(model, EventData) and "event_type" in vars(model)}


def envelope(source, event_type, data, event_id=None):
    return {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type,
            "occurred_at": datetime.now(timezone.utc).isoformat(), "version": 1,
            "source": source, "data": data}


CUSTOMER = "0b5d7c3e-6a3f-4f0e-9a57-1d2f3c4b5a60"
OTHER_CUSTOMER = "7e1a9b2c-3d4e-4f50-8a61-2b3c4d5e6f70"
POINT = "c4f2a1e0-9b8d-4c7e-a6f5-e4d3c2b1a090"
MANDATE = {
    "mandate_id": "5f0c1e9e-8d1b-4a5e-9d43-4c1f1c0a7e01", "grantor_customer_id": CUSTOMER,
    "grantor_name": "Õie Mäger", "grantee_person_code": GRANDCHILD, "grantee_name": "Mari Mäger",
    "scopes": ["readings:write"], "consumption_point_ids": [], "valid_from": "2026-01-01",
    "valid_until": None, "ends_on": None, "created_via": "office", "revoked_at": None,
    "status": "active", "grantee_customer_id": OTHER_CUSTOMER}


def samples():
    """A fresh valid ``data`` per consumed event type (new ids every call)."""
    reading = str(uuid.uuid4())
    return {
        "reading_submitted": {
            "reading_id": reading, "consumption_point_id": POINT, "contract_no": "VL-000001",
            "customer_id": CUSTOMER, "tariff_plan": "BASIC", "reading_day": 15,
            "reading_date": "2026-02-15", "previous_reading_date": "2026-01-15",
            "registers": {"T1": 1100}, "register_digits": {"T1": 6}, "consumption": {"T1": 100},
            "next_reading_due": "2026-03-15", "released_from_review": False},
        "reading_estimated": {
            "reading_id": reading, "consumption_point_id": POINT, "contract_no": "VL-000001",
            "customer_id": CUSTOMER, "tariff_plan": "BASIC", "reading_day": 15,
            "reading_date": "2026-03-15", "previous_reading_date": "2026-02-15",
            "registers": {"T1": 1380}, "register_digits": {"T1": 6}, "consumption": {"T1": 280},
            "method": "recent_average", "next_reading_due": "2026-04-15"},
        "reading_schedule_started": {
            "consumption_point_id": POINT, "customer_id": CUSTOMER, "contract_no": "VL-000001",
            "reading_day": 15, "next_reading_due": "2026-02-15"},
        "reading_held_for_review": {
            "reading_id": reading, "consumption_point_id": POINT, "customer_id": CUSTOMER,
            "reading_date": "2026-02-15", "registers": {"T1": 99000},
            "reason": "far above this point's usual consumption"},
        "reading_rejected": {
            "reading_id": reading, "consumption_point_id": POINT, "customer_id": CUSTOMER,
            "reading_date": "2026-02-15", "reason": "a typo"},
        "reading_withdrawn": {
            "reading_id": reading, "consumption_point_id": POINT, "customer_id": CUSTOMER,
            "reading_date": "2026-02-15", "replaced_by": str(uuid.UUID(int=9))},
        "contract_signed": {
            "contract_no": "VL-000001", "customer_id": CUSTOMER, "person_code": GRANDMOTHER,
            "name": "Õie Mäger", "reference_no": "1000013", "consumption_point_id": POINT,
            "eic": eic_code(1), "address": "Narva mnt 1, Tallinn",
            "meter": {"serial": "MTR000001", "registers": [{"code": "T1", "digits": 6}]},
            "tariff_plan": "BASIC", "reading_day": 15, "start_date": "2026-01-15",
            "initial_readings": {"T1": 1000},
            "contact": {"postal_address": "Pärnu mnt 1, Tallinn", "phone": "+37255512345",
                        "email": "oie@example.ee", "language": "et"}},
        "contract_terminated": {
            "contract_no": "VL-000001", "customer_id": CUSTOMER, "person_code": GRANDMOTHER,
            "consumption_point_id": POINT, "end_date": "2026-06-30",
            "terminated_by": "operator:desk"},
        "contact_details_changed": {
            "customer_id": CUSTOMER, "name": "Õie Mäger", "changed_by": GRANDMOTHER,
            "before": {"email": "oie@example.ee"}, "after": {"email": "oie@vool.ee"}},
        "consumption_point_claimed": {
            "claim_id": str(uuid.uuid4()), "customer_id": CUSTOMER, "name": "Õie Mäger",
            "claimed_by": GRANDMOTHER, "address": "Narva mnt 1, Tallinn", "eic": None,
            "meter_serial": "MTR000001", "contract_no": None, "note": "my mother's flat"},
        "consumption_point_claim_rejected": {
            "claim_id": str(uuid.uuid4()), "customer_id": CUSTOMER,
            "reason": "not your meter", "decided_by": "desk"},
        "consumption_point_linked": {
            "claim_id": str(uuid.uuid4()), "contract_no": "VL-000001",
            "consumption_point_id": POINT, "from_customer_id": OTHER_CUSTOMER,
            "customer_id": CUSTOMER, "person_code": GRANDMOTHER, "name": "Õie Mäger",
            "decided_by": "desk"},
        "invoice_issued": {
            "invoice_no": "2026-00000001", "customer_id": CUSTOMER, "contract_no": "VL-000001",
            "period": "2026-02", "issued_on": "2026-03-01", "due_on": "2026-03-15",
            "reference_no": "1000013", "total": "42.10"},
        "credit_note_issued": {
            "invoice_no": "2026-00000002", "customer_id": CUSTOMER, "contract_no": "VL-000001",
            "period": "2026-03", "issued_on": "2026-04-01", "reference_no": "1000013",
            "amount": "17.36"},
        "payment_received": {
            "payment_id": str(uuid.uuid4()), "amount": "42.10", "currency": "EUR",
            "received_on": "2026-03-10", "reference_no": "1000013", "source": "bank",
            "invoice_nos": ["2026-00000001"], "contract_no": "VL-000001",
            "customer_id": CUSTOMER, "credit": "0.00", "payer_name": "ÕIE MÄGER"},
        "invoice_overdue": {
            "invoice_no": "2026-00000001", "customer_id": CUSTOMER, "contract_no": "VL-000001",
            "reference_no": "1000013", "due_on": "2026-03-15", "total": "42.10",
            "paid": "10.00", "as_of": "2026-03-20"},
        "mandate_granted": dict(MANDATE),
        "mandate_revoked": {**MANDATE, "revoked_at": "2026-01-10T08:00:00+00:00",
                            "status": "revoked"},
        "mandate_expired": {**MANDATE, "valid_until": "2026-01-31", "status": "expired"},
    }
