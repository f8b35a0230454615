"""A mandate's notices reach each party in their own language: the grantor's from
her contact details, the grantee's from his — also after he changes it."""
import pytest

from services.contracts.service import ContractsService
from services.identity.service import IdentityService
from services.notifications.service import NotificationsService
from tests.conftest import wait_for
from tests.samples import GRANDCHILD, GRANDMOTHER, contract_command

pytestmark = pytest.mark.both_stores


def sign(rpc, n, person_code, name, language):
    command = contract_command(n=n, person_code=person_code, name=name,
                               start_date="2026-01-01")
    command["contact"].update(language=language)
    signed = rpc.contracts.sign_contract(command)
    wait_for(lambda: any(n["kind"] == "contract_signed"
                         for n in rpc.notifications.inbox(signed["customer_id"])),
             message="notifications to hear of the contract")
    wait_for(lambda: rpc.identity.is_eligible(person_code))
    return signed


def notice(rpc, customer_id, kind):
    [found] = wait_for(lambda: [n for n in rpc.notifications.inbox(customer_id)
                                if n["kind"] == kind], message=f"the {kind} notice")
    return found


def test_each_party_hears_of_a_mandate_in_their_own_language(run_services, rpc):
    run_services(ContractsService, IdentityService, NotificationsService)
    oie = sign(rpc, 1, GRANDMOTHER, "Õie Mäger", "et")
    mari = sign(rpc, 2, GRANDCHILD, "Mari Mäger", "en")
    granted = rpc.identity.register_mandate({"grantor_person_code": GRANDMOTHER,
                                             "grantee_person_code": GRANDCHILD,
                                             "scopes": ["readings:write"]}, "desk")
    hers = notice(rpc, oie["customer_id"], "mandate_granted")
    his = notice(rpc, mari["customer_id"], "mandate_granted")
    assert hers["subject"] == "Volitus on antud"
    assert "Mari Mäger" in hers["body"]
    assert his["subject"] == "Mandate granted"
    assert "Õie Mäger has authorised you: entering meter readings" in his["body"]

    # he switches to Estonian, she to English: the revocation follows each
    rpc.contracts.change_contact(mari["customer_id"], {"language": "et"}, GRANDCHILD)
    rpc.contracts.change_contact(oie["customer_id"], {"language": "en"}, GRANDMOTHER)
    # (each change opens a desk case once notifications has it)
    wait_for(lambda: len([c for c in rpc.notifications.list_cases("all")
                          if c["kind"] == "contact_change"]) == 2,
             message="notifications to hear of both changes")
    rpc.identity.revoke_mandate(oie["customer_id"], granted["mandate_id"], GRANDMOTHER)
    assert notice(rpc, oie["customer_id"], "mandate_revoked")["subject"] == "Mandate revoked"
    assert notice(rpc, mari["customer_id"], "mandate_revoked")["subject"] == (
        "Volitus on tagasi võetud")
