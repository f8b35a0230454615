"""Mandates as identity keeps them: validity, revocation, the end of the grantor's
contracts, the expiry sweep; on SQLite with a settable clock."""
from datetime import date, datetime, timezone

import pytest

from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.identity import api, eligibility, mandates
from services.identity.models import metadata
from tests.samples import GRANDCHILD, GRANDMOTHER
from tests.unit.fakes import FakeDatabase


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "identity")
    db.clock.set(datetime(2026, 5, 1, 9, tzinfo=timezone.utc))
    with db.unit_of_work() as uow:
        for n, (person_code, name, customer) in enumerate(
                [(GRANDMOTHER, "Õie Mäger", "c-gm"), (GRANDMOTHER, "Õie Mäger", "c-gm"),
                 (GRANDCHILD, "Mari Mäger", "c-gc")], start=1):
            eligibility.record_contract(uow, {
                "contract_no": f"VL-{n}", "customer_id": customer, "person_code": person_code,
                "name": name, "consumption_point_id": f"cp-{n}"})
    return db


def grant(db, **terms):
    with db.unit_of_work() as uow:
        return mandates.grant(uow, "c-gm", api.MandateGrant(
            grantee_person_code=GRANDCHILD, **{"scopes": ["readings:write"], **terms}),
            "online", GRANDMOTHER)


def check(db, scope="readings:read", point=None):
    with db.unit_of_work() as uow:
        return mandates.check(uow, GRANDCHILD, "c-gm", scope, point)


def test_a_mandate_works_within_its_dates_scopes_and_points(db):
    made = grant(db, consumption_point_ids=["cp-2"], valid_until=date(2026, 5, 31))
    assert check(db, "readings:read", "cp-2")["mandate_id"] == made["mandate_id"]  # implied
    with pytest.raises(Forbidden) as other_point:
        check(db, "readings:read", "cp-1")
    assert other_point.value.code == "mandate-consumption-point"
    with pytest.raises(Forbidden) as no_scope:
        check(db, "invoices:read")
    assert no_scope.value.code == "scope-missing"
    with pytest.raises(Forbidden) as managing:
        check(db, mandates.SELF_ONLY)
    assert managing.value.code == "self-only"
    db.clock.set(datetime(2026, 6, 1, 9, tzinfo=timezone.utc))
    with pytest.raises(Forbidden) as late:
        check(db)
    assert late.value.code == "mandate-expired"
    [event] = db.events("mandate_granted")
    assert event["data"]["grantee_customer_id"] == "c-gc"
    assert event["data"]["grantor_name"] == "Õie Mäger"


def test_not_yet_valid_and_revoked_mandates_refuse_and_strangers_do_not_exist(db):
    made = grant(db, valid_from=date(2026, 6, 1))
    with pytest.raises(Forbidden) as early:
        check(db)
    assert early.value.code == "mandate-not-yet-valid"
    with db.unit_of_work() as uow:
        mandates.revoke(uow, "c-gm", made["mandate_id"], GRANDMOTHER)
        mandates.revoke(uow, "c-gm", made["mandate_id"], GRANDMOTHER)   # changes nothing
    with pytest.raises(Forbidden) as revoked:
        check(db)
    assert revoked.value.code == "mandate-revoked"
    assert len(db.events("mandate_revoked")) == 1
    with db.unit_of_work() as uow, pytest.raises(NotFound):
        mandates.check(uow, GRANDMOTHER, "c-gc", "readings:read", None)
    with db.unit_of_work() as uow, pytest.raises(NotFound):
        mandates.revoke(uow, "c-gc", made["mandate_id"], GRANDCHILD)    # not the grantor


def test_what_cannot_be_granted(db):
    with pytest.raises(ValidationFailed) as theirs:
        grant(db, consumption_point_ids=["cp-3"])                       # the grandchild's
    assert theirs.value.errors[0]["field"] == "consumption_point_ids"
    assert theirs.value.errors[0]["code"] == "consumption-point-foreign"
    with pytest.raises(ValidationFailed) as backdated:
        grant(db, valid_from=date(2026, 4, 1))
    assert backdated.value.errors == [{
        "field": "valid_from", "message": "must not be in the past", "code": "date-in-past",
        "params": {"today": "2026-05-01"}}]
    with pytest.raises(ValidationFailed) as ended:             # from today, until yesterday
        grant(db, valid_until=date(2026, 4, 30))
    assert ended.value.errors == [{
        "field": "valid_until", "message": "must not be before valid_from (2026-05-01)",
        "code": "date-before-start", "params": {"valid_from": "2026-05-01"}}]
    with db.unit_of_work() as uow, pytest.raises(ValidationFailed) as to_herself:
        mandates.grant(uow, "c-gm", api.MandateGrant(
            grantee_person_code=GRANDMOTHER, scopes=["invoices:read"]), "online", GRANDMOTHER)
    assert to_herself.value.errors[0]["field"] == "grantee_person_code"
    assert to_herself.value.errors[0]["code"] == "grantee-is-grantor"
    grant(db, valid_until=date(2026, 5, 31))
    with pytest.raises(Conflict):
        grant(db, valid_from=date(2026, 5, 20))                         # overlaps
    assert grant(db, valid_from=date(2026, 6, 1))["status"] == "not_yet_valid"


def test_the_grantors_last_contract_ends_her_mandates_and_the_sweep_says_so_once(db):
    grant(db)
    with db.unit_of_work() as uow:
        mandates.contract_terminated(uow, {"contract_no": "VL-1", "end_date": "2026-05-10"})
    assert check(db)                                  # she still has VL-2
    with db.unit_of_work() as uow:
        mandates.contract_terminated(uow, {"contract_no": "VL-2", "end_date": "2026-05-20"})
        assert mandates.expire(uow, date(2026, 5, 19)) == 0
    db.clock.set(datetime(2026, 5, 19, 9, tzinfo=timezone.utc))
    assert check(db)                                  # valid through her last day in force
    db.clock.set(datetime(2026, 5, 20, 9, tzinfo=timezone.utc))
    with pytest.raises(Forbidden):                    # her contract's end date: out of force
        check(db)
    with db.unit_of_work() as uow:
        assert not eligibility.has_active_contract(uow, GRANDMOTHER)
        assert mandates.expire(uow, date(2026, 5, 20)) == 1
    with db.unit_of_work() as uow:
        assert mandates.expire(uow, date(2026, 5, 21)) == 0
    [expired] = db.events("mandate_expired")
    assert (expired["data"]["ends_on"], expired["data"]["status"]) == ("2026-05-19", "expired")
    with db.unit_of_work() as uow:
        assert not mandates.may_log_in(uow, GRANDCHILD)
