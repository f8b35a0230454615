"""Paying through the bank, identity's side over RPC: the real IdentityService signs
a payment request, the test bank accepts it and answers 1111 or 1911, and identity
verifies the answer and logs it."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import yaml

from services.common.errors import NotFound, Unauthenticated, ValidationFailed
from services.identity.service import IdentityService
from tests.banking import make_banks, resign


NOON = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)    # 12:00 in Tallinn
RETURN_URL = "http://127.0.0.1:8000/api/v1/payments/testbank/return"
ORDER = ("ORDER-1", "12.34", "1234561", "Arve 2026-11")


@pytest.fixture
def banks(tmp_path):
    setup = make_banks(tmp_path)
    entries = yaml.safe_load(setup.banks_file.read_text(encoding="utf-8"))["banks"]
    entries.append({**entries[1], "id": "accbank", "payment_service": "1011",
                    "account": "EE382200221020145685", "account_name": "Vool Energia AS"})
    setup.banks_file.write_text(yaml.safe_dump({"banks": entries}), encoding="utf-8")
    return setup


@pytest.fixture
def identity(run_services, banks, rpc, real_time_clock):
    real_time_clock.set(NOON)
    run_services(IdentityService, VOOL_BANKS_FILE=str(banks.banks_file))
    return rpc.identity


def pay(identity, banks, bank_id, paid, at=NOON):
    """Our request, accepted by the bank, and the bank's answer to it."""
    form = identity.payment_request(bank_id, *ORDER, RETURN_URL)
    merchant = banks.bank.check_request(form["fields"])
    return form, banks.bank.payment_reply(form["fields"], merchant, paid, at)


def logged(database_urls):
    engine = sa.create_engine(database_urls["identity"])
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT bank_id, person_code, outcome, detail FROM login_log ORDER BY entry_id")).all()
    engine.dispose()
    return rows


@pytest.mark.both_stores
@pytest.mark.parametrize("bank_id, service", [("testbank", "1012"), ("accbank", "1011")])
def test_a_payment_goes_through_the_bank_and_back(identity, banks, database_urls, bank_id,
                                                  service):
    form, reply = pay(identity, banks, bank_id, paid=True)
    assert form["action"] == "http://127.0.0.1:8100/banklink"
    assert form["fields"]["VK_SERVICE"] == service
    assert form["fields"]["VK_RETURN"] == form["fields"]["VK_CANCEL"] == RETURN_URL
    assert form["fields"]["VK_DATETIME"] == "2026-11-27T12:00:00+0200"

    assert identity.verify_payment_reply(bank_id, reply) == {
        "status": "paid", "stamp": "ORDER-1", "reference_no": "1234561",
        "message": "Arve 2026-11", "amount": "12.34", "currency": "EUR",
        "transaction_no": reply["VK_T_NO"], "paid_at": "2026-11-27T12:00:00+02:00",
        "payer_name": "Test Payer", "payer_account": "EE471000001020145685", "auto": False}
    [entry] = logged(database_urls)
    assert (entry.bank_id, entry.person_code, entry.outcome) == (bank_id, None, "payment-paid")
    assert "'ORDER-1'" in entry.detail and "'12.34'" in entry.detail
    assert reply["VK_MAC"] not in entry.detail


@pytest.mark.both_stores
def test_a_cancelled_payment_comes_back_cancelled(identity, banks, database_urls):
    _, reply = pay(identity, banks, "testbank", paid=False)
    payment = identity.verify_payment_reply("testbank", reply)
    assert (payment["status"], payment["stamp"], payment["amount"]) == (
        "cancelled", "ORDER-1", None)
    assert [row.outcome for row in logged(database_urls)] == ["payment-cancelled"]


@pytest.mark.both_stores
def test_the_bank_may_post_a_payment_again_later(identity, banks, real_time_clock):
    # identity does not refuse a repeat: billing records a payment once per stamp
    _, reply = pay(identity, banks, "testbank", paid=True)
    assert identity.verify_payment_reply("testbank", reply)["auto"] is False
    real_time_clock.advance(timedelta(days=2))
    again = identity.verify_payment_reply("testbank", {**reply, "VK_AUTO": "Y"})
    assert (again["status"], again["auto"]) == ("paid", True)


@pytest.mark.parametrize("spoil, code", [
    (lambda b, r: {**r, "VK_AMOUNT": "1234.00"}, "banklink-mac-mismatch"),
    (lambda b, r: {**r, "VK_STAMP": "ORDER-2"}, "banklink-mac-mismatch"),
    (lambda b, r: resign(b.impostor, r), "banklink-mac-mismatch"),
    (lambda b, r: {**r, "VK_MAC": "forged"}, "banklink-bad-mac"),
    (lambda b, r: resign(b.bank, r, VK_REC_ID="SOMEONE"), "banklink-wrong-recipient"),
    (lambda b, r: resign(b.bank, r, VK_SND_ID="OTHERBANK"), "banklink-wrong-sender"),
    (lambda b, r: {**r, "VK_SERVICE": "3013"}, "banklink-wrong-service"),
])
def test_a_reply_that_breaks_a_rule_is_refused_and_logged(identity, banks, database_urls,
                                                          spoil, code):
    _, reply = pay(identity, banks, "testbank", paid=True)
    with pytest.raises(Unauthenticated) as refused:
        identity.verify_payment_reply("testbank", spoil(banks, reply))
    assert refused.value.code == code
    [entry] = logged(database_urls)
    assert entry.outcome == code
    assert entry.detail.startswith("payment reply")
    assert reply["VK_MAC"] not in entry.detail


def test_an_unknown_bank(identity, banks, database_urls):
    with pytest.raises(NotFound) as unknown:
        identity.payment_request("nobank", *ORDER, RETURN_URL)
    assert unknown.value.code == "banklink-unknown-bank"
    _, reply = pay(identity, banks, "testbank", paid=True)
    with pytest.raises(Unauthenticated) as refused:
        identity.verify_payment_reply("nobank", reply)
    assert refused.value.code == "banklink-unknown-bank"
    assert [row.outcome for row in logged(database_urls)] == ["banklink-unknown-bank"]


def test_a_bad_order_is_refused_naming_its_fields(identity):
    with pytest.raises(ValidationFailed) as refused:
        identity.payment_request("testbank", "S" * 21, "12.3", "1234561", "m" * 96, RETURN_URL)
    assert sorted(e["field"] for e in refused.value.errors) == ["amount", "message", "stamp"]
