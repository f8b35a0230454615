"""Sharing grants as identity keeps them (services/identity/grants.py), on SQLite
with a settable clock: what a consent may be, codes and tokens and their lifetimes,
the grant's last day, another application's code."""
import base64
import hashlib
from datetime import date, datetime, timedelta, timezone

import pytest

from services.common.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from services.identity import api, applications, eligibility, grants
from services.identity.models import metadata
from tests.samples import GRANDMOTHER
from tests.unit.fakes import FakeDatabase

T0 = datetime(2026, 5, 1, 9, tzinfo=timezone.utc)
CALLBACK = "https://coach.example/cb"


@pytest.fixture
def db():
    db = FakeDatabase(metadata, "identity")
    db.clock.set(T0)
    with db.unit_of_work() as uow:
        eligibility.record_contract(uow, {
            "contract_no": "VL-1", "customer_id": "c-gm", "person_code": GRANDMOTHER,
            "name": "Õie Mäger", "consumption_point_id": "cp-1"})
    return db


def app(db, name="Coach"):
    with db.unit_of_work() as uow:
        return applications.register(uow, api.NewApplication(
            name=name, purpose="Tips", redirect_uris=[CALLBACK]), "desk")


def consent(db, application, **terms):
    with db.unit_of_work() as uow:
        return grants.consent(uow, GRANDMOTHER, api.Consent(**{
            "client_id": application["client_id"], "redirect_uri": CALLBACK,
            "customer_id": "c-gm", "scopes": ["readings:read"],
            "consumption_point_ids": ["cp-1"], "valid_until": date(2026, 5, 31), **terms}))


def exchange(db, application, **form):
    with db.unit_of_work() as uow:
        return grants.exchange(uow, api.TokenRequest(**form), application["client_id"],
                               application["client_secret"])


def use(db, token, scope="readings:read", point="cp-1"):
    with db.unit_of_work() as uow:
        return grants.use(uow, token, scope, point, "/x", "", "shared_readings", {})


def test_a_consent_is_at_most_a_year_and_only_of_her_points(db):
    coach = app(db)
    with pytest.raises(ValidationFailed) as late:
        consent(db, coach, valid_until=date(2027, 5, 2))
    assert late.value.errors[0]["code"] == "date-too-late"
    assert late.value.errors[0]["params"] == {"latest": "2027-05-01"}
    consent(db, coach, valid_until=date(2027, 5, 1))
    with pytest.raises(ValidationFailed) as foreign:
        consent(db, coach, consumption_point_ids=["cp-of-someone-else"])
    assert foreign.value.errors[0]["field"] == "consumption_point_ids"
    with pytest.raises(ValidationFailed) as redirect:
        consent(db, coach, redirect_uri=CALLBACK + "/")      # exactly, not a prefix
    assert redirect.value.errors[0]["code"] == "redirect-uri-mismatch"
    with pytest.raises(NotFound):
        consent(db, coach, customer_id="c-other")             # nothing to do with her


def test_codes_last_ten_minutes_and_belong_to_their_application(db):
    coach, other = app(db), app(db, "Other")
    code = consent(db, coach)["code"]
    with pytest.raises(Unauthenticated) as wrong_secret:
        with db.unit_of_work() as uow:
            grants.exchange(uow, api.TokenRequest(grant_type="authorization_code", code=code,
                                                  redirect_uri=CALLBACK),
                            coach["client_id"], "not it")
    assert wrong_secret.value.code == "invalid-client"
    with pytest.raises(Forbidden) as theirs:
        exchange(db, other, grant_type="authorization_code", code=code,
                 redirect_uri=CALLBACK)
    assert theirs.value.code == "invalid-grant"
    db.clock.set(T0 + timedelta(minutes=10))
    with pytest.raises(Forbidden) as expired:
        exchange(db, coach, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert "expired" in str(expired.value)


def test_pkce_s256(db):
    coach = app(db)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = consent(db, coach, code_challenge=challenge, code_challenge_method="S256")["code"]
    with pytest.raises(Forbidden):
        exchange(db, coach, grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                 code_verifier="w" * 50)
    tokens = exchange(db, coach, grant_type="authorization_code", code=code,
                      redirect_uri=CALLBACK, code_verifier=verifier)
    assert tokens["scope"] == "readings:read"


def test_an_access_token_lasts_an_hour_and_none_outlives_the_grant_s_last_day(db):
    coach = app(db)
    code = consent(db, coach, valid_until=date(2026, 5, 1))["code"]   # today only
    tokens = exchange(db, coach, grant_type="authorization_code", code=code,
                      redirect_uri=CALLBACK)
    assert tokens["expires_in"] == 3600
    assert use(db, tokens["access_token"])["customer_id"] == "c-gm"
    with pytest.raises(Forbidden) as scope:
        use(db, tokens["access_token"], scope="invoices:read")
    assert scope.value.code == "insufficient-scope"
    with pytest.raises(NotFound):
        use(db, tokens["access_token"], point="cp-2")
    db.clock.set(T0 + timedelta(hours=1))
    with pytest.raises(Unauthenticated):
        use(db, tokens["access_token"])
    tokens = exchange(db, coach, grant_type="refresh_token",
                      refresh_token=tokens["refresh_token"])
    assert use(db, tokens["access_token"])
    # midnight in Tallinn ends the grant's last day: refresh tokens die with it
    db.clock.set(datetime(2026, 5, 1, 21, tzinfo=timezone.utc))
    with pytest.raises(Forbidden) as ended:
        exchange(db, coach, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert ended.value.code == "invalid-grant"
    [grant] = _grants(db)
    assert grant["status"] == "expired" and grant["last_used_at"] is not None


def _grants(db):
    with db.unit_of_work() as uow:
        return grants.of_customer(uow, "c-gm")
