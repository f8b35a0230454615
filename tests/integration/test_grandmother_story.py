"""The seed's story through the HTTP API: a grandmother authorises her grandchild
to enter her readings and pay her invoices, sees what he did in her access log,
and takes the authorisation back — which stops it at once."""
from datetime import datetime, timezone

import pytest
import requests

from services.billing.service import BillingService
from services.contracts.service import ContractsService
from services.gateway.service import GatewayService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import customer_token, make_banks
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

T0 = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)


@pytest.fixture
def system(run_services, config, rpc, tmp_path, real_time_clock):
    real_time_clock.set(T0)
    banks = make_banks(tmp_path)
    run_services(GatewayService, IdentityService, ContractsService, MeteringService,
                 BillingService, VOOL_BANKS_FILE=str(banks.banks_file))
    return f"http://{config['WEB_SERVER_ADDRESS']}", banks


def test_the_grandchild_reads_and_pays_for_his_grandmother_until_she_revokes(
        system, rpc, real_time_clock):
    base, banks = system
    home = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    cottage = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD, name="Mari Mäger",
                                                 start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    grandmother = customer_token(base, banks, GRANDMOTHER, "Õie Mäger", T0)
    her = {"Authorization": f"Bearer {grandmother}"}
    cid = home["customer_id"]

    # she authorises him for the home only: readings, invoices and paying them
    granted = requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=her, timeout=10,
                            json={"grantee_person_code": GRANDCHILD,
                                  "scopes": ["readings:write", "invoices:read", "payments:write"],
                                  "consumption_point_ids": [home["consumption_point_id"]]})
    assert granted.status_code == 201, granted.text
    mandate = granted.json()
    assert {k: mandate[k] for k in ("grantor_customer_id", "grantor_name", "grantee_person_code",
                                    "grantee_name", "consumption_point_ids", "valid_from",
                                    "valid_until", "created_via", "revoked_at")} == {
        "grantor_customer_id": cid, "grantor_name": "Õie Mäger",
        "grantee_person_code": GRANDCHILD, "grantee_name": "Mari Mäger",
        "consumption_point_ids": [home["consumption_point_id"]], "valid_from": "2026-03-02",
        "valid_until": None, "created_via": "online", "revoked_at": None}
    again = requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=her, timeout=10,
                          json={"grantee_person_code": GRANDCHILD, "scopes": ["invoices:read"]})
    assert again.status_code == 409            # one mandate for him at a time

    grandchild = customer_token(base, banks, GRANDCHILD, "Mari Mäger", T0)
    him = {"Authorization": f"Bearer {grandchild}"}
    me = requests.get(f"{base}/api/v1/me", headers=him, timeout=10).json()
    acting = {c["relation"]: c for c in me["customers"]}
    assert acting["mandate"]["customer_id"] == cid
    assert acting["mandate"]["scopes"] == [
        "invoices:read", "payments:write", "readings:read", "readings:write"]
    assert acting["self"]["customer_id"] != cid
    assert requests.get(f"{base}/api/v1/customers/{cid}/mandates", headers=him,
                        timeout=10).status_code == 403          # never hers to manage
    assert requests.post(f"{base}/api/v1/customers/{cid}/mandates", headers=him, timeout=10,
                         json={"grantee_person_code": GRANDCHILD, "scopes": ["invoices:read"]}
                         ).status_code == 403                    # nor to pass on

    # he enters her reading: recorded as a delegate's, with the mandate
    point = home["consumption_point_id"]
    entered = requests.post(f"{base}/api/v1/customers/{cid}/consumption-points/{point}/readings",
                            headers=him, timeout=10,
                            json={"reading_date": "2026-03-02", "registers": {"T1": 1600}})
    assert entered.status_code == 201, entered.text
    [latest, *_] = requests.get(f"{base}/api/v1/customers/{cid}/consumption-points/{point}/"
                                "readings", headers=him, timeout=10).json()
    assert (latest["source"], latest["mandate_id"], latest["submitted_by"]) == (
        "delegate", mandate["mandate_id"], GRANDCHILD)
    assert requests.post(f"{base}/api/v1/customers/{cid}/consumption-points/"
                         f"{cottage['consumption_point_id']}/readings", headers=him, timeout=10,
                         json={"reading_date": "2026-03-02", "registers": {"T1": 1600}}
                         ).status_code == 403                    # not the cottage

    # he sees her home's invoices, not the cottage's, and pays one through the bank
    def invoiced():
        rpc.billing.billing_run("2026-02")
        return len(rpc.billing.invoices_of(cid)) == 2
    wait_for(invoiced)
    [invoice] = requests.get(f"{base}/api/v1/customers/{cid}/invoices", headers=him,
                             timeout=10).json()
    assert invoice["contract_no"] == home["contract_no"]
    form = requests.post(f"{base}/api/v1/customers/{cid}/payments", headers=him, timeout=10,
                         json={"bank": "testbank", "invoice_nos": [invoice["invoice_no"]]})
    assert form.status_code == 200, form.text
    fields = form.json()["fields"]
    reply = banks.bank.payment_reply(fields, banks.bank.check_request(fields), paid=True,
                                     now=real_time_clock.now())
    assert requests.post(f"{base}/api/v1/payments/banklink/testbank/return", data=reply,
                         timeout=10).json()["status"] == "paid"
    book = requests.get(f"{base}/api/v1/payment-books/{home['reference_no']}", headers=him,
                        timeout=10)
    assert book.status_code == 200 and book.json()["paid_total"] == invoice["total"]
    assert requests.get(f"{base}/api/v1/payment-books/{cottage['reference_no']}", headers=him,
                        timeout=10).status_code == 404

    # her access log shows what he did, under which mandate
    log = requests.get(f"{base}/api/v1/customers/{cid}/access-log", headers=her,
                       timeout=10).json()
    assert {e["actor_person_code"] for e in log} == {GRANDCHILD}
    assert {e["mandate_id"] for e in log} == {mandate["mandate_id"]}
    assert {e["actor_name"] for e in log} == {"Mari Mäger"}
    done = {(e["action"], e["resource"]) for e in log}
    assert ("change", f"/api/v1/customers/{cid}/consumption-points/{point}/readings") in done
    assert ("change", f"/api/v1/customers/{cid}/payments") in done
    assert ("read", f"/api/v1/payment-books/{home['reference_no']}") in done
    assert requests.get(f"{base}/api/v1/customers/{cid}/access-log", headers=him,
                        timeout=10).status_code == 403
    listed = requests.get(f"{base}/api/v1/customers/{cid}/mandates", headers=her,
                          timeout=10).json()
    assert [m["mandate_id"] for m in listed["granted"]] == [mandate["mandate_id"]]

    # she revokes: his very next call is refused, and he no longer acts for her
    revoked = requests.delete(f"{base}/api/v1/customers/{cid}/mandates/{mandate['mandate_id']}",
                              headers=her, timeout=10)
    assert revoked.status_code == 204
    refused = requests.get(f"{base}/api/v1/customers/{cid}/invoices", headers=him, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/mandate-revoked"
    me = requests.get(f"{base}/api/v1/me", headers=him, timeout=10).json()
    assert [c["relation"] for c in me["customers"]] == ["self"]
    [received] = requests.get(f"{base}/api/v1/customers/{acting['self']['customer_id']}/mandates",
                              headers=him, timeout=10).json()["received"]
    assert received["revoked_at"] is not None and received["status"] == "revoked"


def test_both_parties_need_a_contract_and_the_desk_registers_office_mandates(system, rpc):
    base, banks = system
    home = rpc.contracts.sign_contract(contract_command(start_date="2026-01-01"))
    rpc.identity.add_operator("desk", "admin", "correct-horse-battery")
    desk = {"Authorization": "Bearer " + requests.post(
        f"{base}/api/v1/operator/login", timeout=10,
        json={"username": "desk", "password": "correct-horse-battery"}).json()["token"]}

    no_contract = requests.post(f"{base}/api/v1/operator/mandates", headers=desk, timeout=10,
                                json={"grantor_person_code": GRANDMOTHER,
                                      "grantee_person_code": GRANDCHILD,
                                      "scopes": ["invoices:read"]})
    assert no_contract.status_code == 422
    assert no_contract.json()["errors"][0]["field"] == "grantee_person_code"
    nobody = requests.post(f"{base}/api/v1/operator/mandates", headers=desk, timeout=10,
                           json={"grantor_person_code": GRANDCHILD,
                                 "grantee_person_code": GRANDMOTHER,
                                 "scopes": ["invoices:read"]})
    assert nobody.json()["errors"][0]["field"] == "grantor_person_code"
    bad = requests.post(f"{base}/api/v1/operator/mandates", headers=desk, timeout=10,
                        json={"grantor_person_code": GRANDMOTHER, "grantee_person_code": "123",
                              "scopes": ["everything"], "valid_from": "2026-04-01",
                              "valid_until": "2026-03-01"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"grantee_person_code", "scopes"}

    rpc.contracts.sign_contract(contract_command(person_code=GRANDCHILD, name="Mari Mäger",
                                                 start_date="2026-01-01"))
    wait_for(lambda: rpc.identity.is_eligible(GRANDCHILD))
    made = requests.post(f"{base}/api/v1/operator/mandates", headers=desk, timeout=10,
                         json={"grantor_person_code": GRANDMOTHER,
                               "grantee_person_code": GRANDCHILD, "scopes": ["invoices:read"],
                               "valid_until": "2026-12-31"})
    assert made.status_code == 201, made.text
    assert (made.json()["created_via"], made.json()["grantor_customer_id"]) == (
        "office", home["customer_id"])
