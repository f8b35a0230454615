"""Issue #19: a customer shares her consumption data with a third party's
application through OAuth 2 (authorization code, PKCE), and takes it back.

An operator registers the application; the customer consents on the portal's
consent page to one consumption point for 30 days; the application reads JSON,
CSV and ESPI Atom XML (valid against tests/data/espi/); her access log names the
application; she revokes and the next read is refused. Beside it: a delegate's
consent limited by her mandate, another customer's point never reachable,
refresh tokens rotating (a reused one revokes the grant), codes used once, PKCE."""
import base64
import csv
import hashlib
import io
import secrets
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import xmlschema
from lxml import etree

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway.portal.forms import csrf_token
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command, personal_code

T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
STRANGER = personal_code("3800101", "022")
ESPI = Path(__file__).parents[1] / "data" / "espi"
CALLBACK = "https://energy-app.example/callback"
NS = {"a": "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}


@pytest.fixture
def system(run_services, config, tmp_path, real_time_clock):
    real_time_clock.set(T0)
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, VOOL_BANKS_FILE=str(banks.banks_file))
    return f"http://{config['WEB_SERVER_ADDRESS']}", banks


def register_application(base, rpc, name="Energy Coach"):
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")
    desk = {"Authorization": "Bearer " + requests.post(
        f"{base}/api/v1/operator/login", timeout=10,
        json={"username": "desk", "password": "correct-horse-battery"}).json()["token"]}
    made = requests.post(f"{base}/api/v1/operator/sharing/applications", headers=desk,
                         timeout=10, json={"name": name, "purpose": "Tips to save energy",
                                           "redirect_uris": [CALLBACK]})
    assert made.status_code == 201, made.text
    return made.json(), desk


def consent(base, token, app, cid, points, until, scope="readings:read", challenge=None,
            invoices=False, state="xyz", decision="allow"):
    """The customer's Allow (or Deny) on the consent page: where it sends the browser."""
    form = {"csrf_token": csrf_token(token), "client_id": app["client_id"],
            "redirect_uri": CALLBACK, "scope": scope, "state": state,
            "code_challenge": challenge or "", "code_challenge_method": "S256" if challenge
            else "", "customer_id": cid, "consumption_point_ids": points,
            "valid_until": until, "decision": decision}
    if invoices:
        form["share-invoices:read"] = "yes"
    return requests.post(f"{base}/oauth/authorize", data=form, timeout=10,
                         cookies={"vool_session": token}, allow_redirects=False)


def code_of(answer):
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def token_call(base, app, basic=True, **form):
    auth = (app["client_id"], app["client_secret"]) if basic else None
    if not basic:
        form.update(client_id=app["client_id"], client_secret=app["client_secret"])
    return requests.post(f"{base}/api/v1/oauth/token", data=form, auth=auth, timeout=10)


def exchange(base, app, code, verifier=None):
    answer = token_call(base, app, grant_type="authorization_code", code=code,
                        redirect_uri=CALLBACK, **({"code_verifier": verifier} if verifier
                                                  else {}))
    assert answer.status_code == 200, answer.text
    return answer.json()


def bearer(tokens):
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def sign(rpc, **terms):
    return rpc.contracts.sign_contract(contract_command(start_date="2026-01-01", **terms))


def test_a_customer_shares_one_point_for_30_days_and_revokes(system, rpc):
    base, banks = system
    home = sign(rpc)
    cottage = sign(rpc)
    stranger = sign(rpc, person_code=STRANGER, name="Tundmatu Isik")
    cid, point = home["customer_id"], home["consumption_point_id"]
    her = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    entered = requests.post(
        f"{base}/api/v1/customers/{cid}/consumption-points/{point}/readings", timeout=10,
        headers={"Authorization": f"Bearer {her}"},
        json={"reading_date": "2026-03-02", "registers": {"T1": 1600}})
    assert entered.status_code == 201, entered.text
    app, _ = register_application(base, rpc)
    assert app["client_id"].startswith("vool-") and len(app["client_secret"]) >= 40
    listed = requests.get(f"{base}/api/v1/operator/sharing/applications", timeout=10,
                          headers=_)
    assert [a["name"] for a in listed.json()] == ["Energy Coach"]
    assert "client_secret" not in listed.json()[0]            # shown once only

    # the consent page says who asks, why, what and until when
    page = requests.get(f"{base}/oauth/authorize", timeout=10, cookies={"vool_session": her},
                        params={"response_type": "code", "client_id": app["client_id"],
                                "redirect_uri": CALLBACK, "scope": "readings:read",
                                "state": "xyz"})
    assert page.status_code == 200, page.text
    for said in ("Energy Coach", "Tips to save energy", home_address(rpc, cid, point),
                 "31.05.2026"):                       # 90 days unless she chooses
        assert said in page.text
    # a redirect URI the application did not register is never followed
    wrong = requests.get(f"{base}/oauth/authorize", timeout=10, cookies={"vool_session": her},
                         allow_redirects=False,
                         params={"response_type": "code", "client_id": app["client_id"],
                                 "redirect_uri": CALLBACK + "/evil", "state": "xyz"})
    assert wrong.status_code == 400 and "Location" not in wrong.headers

    # Deny sends the browser back with access_denied
    denied = consent(base, her, app, cid, [point], "01.04.2026", decision="deny")
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]

    # Allow: one point for 30 days
    code = code_of(consent(base, her, app, cid, [point], "01.04.2026"))
    tokens = exchange(base, app, code)
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "readings:read"
    assert tokens["expires_in"] == 3600

    points = requests.get(f"{base}/api/v1/shared/consumption-points", headers=bearer(tokens),
                          timeout=10)
    assert points.status_code == 200, points.text
    assert [p["id"] for p in points.json()] == [point]
    readings = requests.get(f"{base}/api/v1/shared/consumption-points/{point}/readings",
                            headers=bearer(tokens), timeout=10).json()
    assert [(r["reading_date"], r["registers"]) for r in readings] == [
        ("2026-01-01", {"T1": 1000}), ("2026-03-02", {"T1": 1600})]
    assert "submitted_by" not in readings[0]                # no person codes for them
    consumption = requests.get(
        f"{base}/api/v1/shared/consumption-points/{point}/consumption", timeout=10,
        headers=bearer(tokens), params={"from": "2026-01-01", "to": "2026-03-31"}).json()
    assert consumption["intervals"] == [{"period_from": "2026-01-01",
                                         "period_to": "2026-03-02", "consumption": {"T1": 600}}]

    as_csv = requests.get(f"{base}/api/v1/shared/consumption-points/{point}/readings",
                          headers={**bearer(tokens), "Accept": "text/csv"}, timeout=10)
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["reading_date"], r["register"], r["reading_kwh"], r["consumption_kwh"])
            for r in rows] == [("2026-01-01", "T1", "1000", "0"),
                               ("2026-03-02", "T1", "1600", "600")]

    schema = xmlschema.XMLSchema(str(ESPI / "atom.xsd"))
    for path in ("", f"/{point}/readings", f"/{point}/consumption"):
        xml = requests.get(f"{base}/api/v1/shared/consumption-points{path}", timeout=10,
                           headers={**bearer(tokens), "Accept": "application/atom+xml"})
        assert xml.headers["Content-Type"].startswith("application/atom+xml"), path
        schema.validate(xml.content)
    feed = etree.fromstring(xml.content)
    [usage] = feed.findall(".//espi:UsagePoint", NS)
    assert usage.findtext("espi:ServiceCategory/espi:kind", namespaces=NS) == "0"
    [reading] = feed.findall(".//espi:IntervalBlock/espi:IntervalReading", NS)
    assert reading.findtext("espi:value", namespaces=NS) == "600"
    assert reading.findtext("espi:timePeriod/espi:duration", namespaces=NS) == str(60 * 86400)
    assert [rt.findtext("espi:accumulationBehaviour", namespaces=NS)
            for rt in feed.findall(".//espi:ReadingType", NS)] == ["4"]

    # outside the grant: the cottage and a stranger's point do not exist; nor later days
    for other in (cottage["consumption_point_id"], stranger["consumption_point_id"]):
        assert requests.get(f"{base}/api/v1/shared/consumption-points/{other}/readings",
                            headers=bearer(tokens), timeout=10).status_code == 404
    late = requests.get(f"{base}/api/v1/shared/consumption-points/{point}/consumption",
                        headers=bearer(tokens), timeout=10, params={"to": "2026-04-02"})
    assert late.status_code == 403 and late.json()["type"] == "/problems/outside-grant-dates"
    assert requests.get(f"{base}/api/v1/shared/consumption-points", timeout=10,
                        headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    # nor does her session work there, nor the access token on her routes
    assert requests.get(f"{base}/api/v1/shared/consumption-points", timeout=10,
                        headers={"Authorization": f"Bearer {her}"}).status_code == 401
    assert requests.get(f"{base}/api/v1/customers/{cid}/consumption-points", timeout=10,
                        headers=bearer(tokens)).status_code == 401

    # invoices only when she shared them too
    no_invoices = requests.get(f"{base}/api/v1/shared/invoices", headers=bearer(tokens),
                               timeout=10)
    assert no_invoices.status_code == 403
    assert no_invoices.json()["type"] == "/problems/insufficient-scope"
    with_invoices = exchange(base, app, code_of(consent(
        base, her, app, cid, [point], "01.04.2026", scope="readings:read invoices:read",
        invoices=True)))
    assert with_invoices["scope"] == "invoices:read readings:read"
    shared = requests.get(f"{base}/api/v1/shared/invoices", headers=bearer(with_invoices),
                          timeout=10)
    assert (shared.status_code, shared.json()) == (200, [])
    unticked = exchange(base, app, code_of(consent(
        base, her, app, cid, [point], "01.04.2026", scope="readings:read invoices:read")))
    assert unticked["scope"] == "readings:read"           # she did not tick the invoices
    assert requests.post(f"{base}/api/v1/customers/{cid}/consumption-points", timeout=10,
                         headers={"Authorization": f"Bearer {her}"}).status_code == 405

    # her access log names the application; her grants list it
    log = requests.get(f"{base}/api/v1/customers/{cid}/access-log", timeout=10,
                       headers={"Authorization": f"Bearer {her}"}).json()
    used = [e for e in log if e["client_id"] == app["client_id"]]
    assert {e["application"] for e in used} == {"Energy Coach"}
    assert {e["use"] for e in used} >= {"shared_consumption_points", "shared_readings",
                                         "shared_consumption"}
    assert all(e["actor_person_code"] == GRANDMOTHER and e["mandate_id"] is None
               for e in used)
    grants = requests.get(f"{base}/api/v1/customers/{cid}/sharing-grants", timeout=10,
                          headers={"Authorization": f"Bearer {her}"}).json()
    assert len(grants) == 3
    [grant] = [g for g in grants if g["scopes"] == ["readings:read"] and g["last_used_at"]]
    assert (grant["application"], grant["purpose"], grant["consumption_point_ids"],
            grant["scopes"], grant["valid_until"], grant["status"]) == (
        "Energy Coach", "Tips to save energy", [point], ["readings:read"], "2026-04-01",
        "live")
    grants_page = requests.get(f"{base}/customers/{cid}/sharing", timeout=10,
                               cookies={"vool_session": her})
    assert "Energy Coach" in grants_page.text and "Tips to save energy" in grants_page.text

    # she revokes: the very next read is refused, and so is a refresh
    assert requests.delete(f"{base}/api/v1/customers/{cid}/sharing-grants/{grant['grant_id']}",
                           headers={"Authorization": f"Bearer {her}"},
                           timeout=10).status_code == 204
    refused = requests.get(f"{base}/api/v1/shared/consumption-points/{point}/readings",
                           headers=bearer(tokens), timeout=10)
    assert refused.status_code == 401 and refused.json()["type"] == "/problems/invalid-token"
    again = token_call(base, app, grant_type="refresh_token",
                       refresh_token=tokens["refresh_token"])
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def home_address(rpc, cid, point):
    [found] = [p for p in rpc.contracts.consumption_points_of(cid) if p["id"] == point]
    return found["address"]


def test_a_delegate_consents_only_within_her_mandate(system, rpc):
    base, banks = system
    home = sign(rpc)
    cottage = sign(rpc)
    sign(rpc, person_code=GRANDCHILD, name="Mari Mäger")
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    cid, point = home["customer_id"], home["consumption_point_id"]
    grandmother = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    her = {"Authorization": f"Bearer {grandmother}"}
    app, _ = register_application(base, rpc)

    # a mandate without sharing:grant lets her share nothing
    plain = requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=her, timeout=10,
                          json={"grantee_person_code": GRANDCHILD, "scopes": ["readings:read"]})
    assert plain.status_code == 201, plain.text
    grandchild = customer_token(base, banks, GRANDCHILD, "Mari Mäger", T0)
    refused = consent(base, grandchild, app, cid, [point], "10.03.2026")
    assert refused.status_code == 403
    assert requests.delete(f"{base}/api/v1/customers/{cid}/mandates/"
                           f"{plain.json()['mandate_id']}", headers=her,
                           timeout=10).status_code == 204

    # sharing the home's readings until 20 March
    mandate = requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=her, timeout=10,
                            json={"grantee_person_code": GRANDCHILD,
                                  "scopes": ["sharing:grant", "readings:read"],
                                  "consumption_point_ids": [point],
                                  "valid_from": "2026-03-02", "valid_until": "2026-03-20"})
    assert mandate.status_code == 201, mandate.text
    mandate_id = mandate.json()["mandate_id"]
    page = requests.get(f"{base}/oauth/authorize", timeout=10,
                        cookies={"vool_session": grandchild},
                        params={"response_type": "code", "client_id": app["client_id"],
                                "redirect_uri": CALLBACK, "state": "xyz",
                                "customer_id": cid})
    assert page.status_code == 200
    assert home_address(rpc, cid, point) in page.text
    assert home_address(rpc, cid, cottage["consumption_point_id"]) not in page.text

    for answer in (
            consent(base, grandchild, app, cid, [cottage["consumption_point_id"]],
                    "10.03.2026"),                                   # not her points
            consent(base, grandchild, app, cid, [point], "10.03.2026",
                    scope="readings:read invoices:read", invoices=True),   # nor invoices
            consent(base, grandchild, app, cid, [point], "01.04.2026")):   # nor later
        assert answer.status_code == 422, answer.text
    tokens = exchange(base, app, code_of(consent(base, grandchild, app, cid, [point],
                                                 "20.03.2026")))
    assert requests.get(f"{base}/api/v1/shared/consumption-points/{point}/readings",
                        headers=bearer(tokens), timeout=10).status_code == 200
    [entry] = [e for e in requests.get(f"{base}/api/v1/customers/{cid}/access-log",
                                       headers=her, timeout=10).json()
               if e["client_id"] == app["client_id"]]
    assert (entry["actor_person_code"], entry["mandate_id"], entry["application"]) == (
        GRANDCHILD, mandate_id, "Energy Coach")
    [grant] = requests.get(f"{base}/api/v1/customers/{cid}/sharing-grants", headers=her,
                           timeout=10).json()
    assert (grant["granted_by"], grant["mandate_id"]) == (GRANDCHILD, mandate_id)
    grants_page = requests.get(f"{base}/customers/{cid}/sharing", timeout=10,
                               cookies={"vool_session": grandmother})
    assert "Mari Mäger" in grants_page.text                  # who allowed it, under a mandate
    assert requests.get(f"{base}/customers/{cid}/sharing", timeout=10,
                        cookies={"vool_session": grandchild}).status_code == 403   # hers only

    # the grandmother revokes the mandate: the grant given under it stops with it
    assert requests.delete(f"{base}/api/v1/customers/{cid}/mandates/{mandate_id}",
                           headers=her, timeout=10).status_code == 204
    assert requests.get(f"{base}/api/v1/shared/consumption-points/{point}/readings",
                        headers=bearer(tokens), timeout=10).status_code == 401


@pytest.mark.both_stores
def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_grant(system, rpc, store):
    base, banks = system
    home = sign(rpc)
    cid, point = home["customer_id"], home["consumption_point_id"]
    her = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    app, _ = register_application(base, rpc)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = code_of(consent(base, her, app, cid, [point], "01.04.2026", challenge=challenge))

    # PKCE: without the verifier, or with another, the code is refused (and still unused)
    for wrong in ({}, {"code_verifier": secrets.token_urlsafe(48)}):
        refused = token_call(base, app, grant_type="authorization_code", code=code,
                             redirect_uri=CALLBACK, **wrong)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    bad_secret = requests.post(f"{base}/api/v1/oauth/token", timeout=10,
                               auth=(app["client_id"], "wrong"),
                               data={"grant_type": "authorization_code", "code": code,
                                     "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    first = exchange(base, app, code, verifier)

    # the refresh token works once; the answer holds a new one (client_secret_post too)
    second = token_call(base, app, basic=False, grant_type="refresh_token",
                        refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert requests.get(f"{base}/api/v1/shared/consumption-points", headers=bearer(second),
                        timeout=10).status_code == 200
    # the old refresh token again: refused, and the grant is revoked (stolen, surely)
    reused = token_call(base, app, grant_type="refresh_token",
                        refresh_token=first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert requests.get(f"{base}/api/v1/shared/consumption-points", headers=bearer(second),
                        timeout=10).status_code == 401
    assert token_call(base, app, grant_type="refresh_token",
                      refresh_token=second["refresh_token"]).status_code == 400
    [grant] = requests.get(f"{base}/api/v1/customers/{cid}/sharing-grants", timeout=10,
                           headers={"Authorization": f"Bearer {her}"}).json()
    assert grant["status"] == "revoked"

    # a code works once too: used again, it revokes its grant
    code = code_of(consent(base, her, app, cid, [point], "01.04.2026"))
    tokens = exchange(base, app, code)
    again = token_call(base, app, grant_type="authorization_code", code=code,
                       redirect_uri=CALLBACK)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert requests.get(f"{base}/api/v1/shared/consumption-points", headers=bearer(tokens),
                        timeout=10).status_code == 401
    unsupported = token_call(base, app, grant_type="password", username="x", password="y")
    assert unsupported.status_code == 400


def test_the_consent_page_names_each_problem_at_its_field(system, rpc):
    base, banks = system
    home = sign(rpc)
    cid = home["customer_id"]
    her = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    app, _ = register_application(base, rpc)
    nothing = consent(base, her, app, cid, [], "01.04.2026")
    assert nothing.status_code == 422
    assert 'id="error-consumption_point_ids"' in nothing.text
    too_late = consent(base, her, app, cid, [home["consumption_point_id"]], "01.04.2028")
    assert too_late.status_code == 422 and 'id="error-valid_until"' in too_late.text
    assert 'value="01.04.2028"' in too_late.text                 # as she typed it
    # an unsupported response type or scope goes back to the application, said so
    for params, error in (({"response_type": "token"}, "unsupported_response_type"),
                          ({"scope": "contract:read"}, "invalid_scope")):
        answer = requests.get(f"{base}/oauth/authorize", timeout=10, allow_redirects=False,
                              cookies={"vool_session": her},
                              params={"response_type": "code", "client_id": app["client_id"],
                                      "redirect_uri": CALLBACK, "state": "xyz", **params})
        assert answer.status_code == 303
        assert parse_qs(urlsplit(answer.headers["Location"]).query)["error"] == [error]
    unknown = requests.get(f"{base}/oauth/authorize", timeout=10, allow_redirects=False,
                           params={"response_type": "code", "client_id": "nobody",
                                   "redirect_uri": CALLBACK})
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    # not logged in: the login page, and back to the consent after the bank
    anonymous = requests.get(f"{base}/oauth/authorize", timeout=10,
                             params={"response_type": "code", "client_id": app["client_id"],
                                     "redirect_uri": CALLBACK, "state": "xyz"})
    assert anonymous.status_code == 200 and "Energy Coach" in anonymous.text
    after = anonymous.cookies.get("vool_after_login")
    assert after and after.strip('"').startswith("/oauth/authorize?")
    back = requests.get(f"{base}/", timeout=10, allow_redirects=False,
                        cookies={"vool_session": her, "vool_after_login": after})
    assert back.status_code == 303
    assert back.headers["Location"].endswith(after.strip('"'))
