"""Paying through the bank, identity's side: the 1011/1012 requests we sign and the
1111/1911 replies we accept, with the test bank's own code acting as the bank."""
import logging
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from services.common import banklink
from services.common.errors import Unauthenticated, ValidationFailed
from services.identity import payments
from services.identity.banks import load_banks
from tests.banking import make_banks, resign

NOON = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)    # 12:00 in Tallinn
OUR_IBAN = "EE382200221020145685"
RETURN_URL = "https://vool.example/pay/return"
ORDER = {"stamp": "ORDER-1", "amount": "12.34", "reference_no": "1234561",
         "message": "Arve 2026-11 Õie", "return_url": RETURN_URL}


def with_account_banks(setup):
    """The banks file of ``make_banks`` with two banks that take 1011 into our account."""
    entries = yaml.safe_load(setup.banks_file.read_text(encoding="utf-8"))["banks"]
    account = {"payment_service": "1011", "account": OUR_IBAN, "account_name": "Vool Energia AS"}
    entries += [{**entries[0], "id": "accbank", "version": "009", **account},
                {**entries[0], "id": "oldaccbank", "version": "008", **account}]
    setup.banks_file.write_text(yaml.safe_dump({"banks": entries}), encoding="utf-8")
    return setup


@pytest.fixture
def setup(tmp_path):
    return with_account_banks(make_banks(tmp_path))


@pytest.fixture
def banks(setup):
    return load_banks({"VOOL_BANKS_FILE": str(setup.banks_file)})


def request(bank, **changes):
    return payments.request(bank, NOON, **{**ORDER, **changes})


# by hand: each value behind its length in characters ("Arve 2026-11 Õie" is 16)
MAC_STRINGS = {
    "1012": ("0041012" "{version}" "004VOOL" "007ORDER-1" "00512.34" "003EUR"
             "0071234561" "016Arve 2026-11 Õie"
             "031https://vool.example/pay/return" "031https://vool.example/pay/return"
             "0242026-11-27T12:00:00+0200"),
    "1011": ("0041011" "{version}" "004VOOL" "007ORDER-1" "00512.34" "003EUR"
             "020EE382200221020145685" "015Vool Energia AS"
             "0071234561" "016Arve 2026-11 Õie"
             "031https://vool.example/pay/return" "031https://vool.example/pay/return"
             "0242026-11-27T12:00:00+0200"),
}


@pytest.mark.parametrize("bank_id, service, version", [
    ("testbank", "1012", "009"), ("oldbank", "1012", "008"),
    ("accbank", "1011", "009"), ("oldaccbank", "1011", "008")])
def test_a_payment_request_is_signed_in_the_order_of_its_service(setup, banks, bank_id,
                                                                   service, version):
    form = request(banks[bank_id])
    assert (form["action"], form["method"]) == ("http://127.0.0.1:8100/banklink", "POST")
    fields = form["fields"]
    assert list(fields) == [*banklink.MAC_FIELDS[service], "VK_MAC", "VK_ENCODING", "VK_LANG"]
    assert (fields["VK_SERVICE"], fields["VK_VERSION"]) == (service, version)
    assert (fields["VK_ENCODING"], fields["VK_LANG"]) == ("UTF-8", "EST")
    assert banklink.mac_string(fields) == MAC_STRINGS[service].format(version=f"003{version}")
    # the bank accepts it: signed with our key, by the digest of the version
    assert setup.bank.check_request(fields)["name"] == "Vool"
    our_public_key = setup.bank.merchants["VOOL"]["public_key"]
    assert not banklink.verify({**fields, "VK_AMOUNT": "99.99"}, our_public_key)
    # the bank's pages in the customer's language; VK_LANG is outside the MAC
    english = request(banks[bank_id], language="en")["fields"]
    assert english["VK_LANG"] == "ENG" and english["VK_MAC"] == fields["VK_MAC"]


def reply_to(setup, bank, paid, now=NOON):
    fields = request(bank)["fields"]
    return setup.bank.payment_reply(fields, setup.bank.check_request(fields), paid, now)


@pytest.mark.parametrize("bank_id", ["testbank", "oldaccbank"])
def test_a_paid_reply_says_who_paid_how_much_and_when(setup, banks, bank_id):
    reply = reply_to(setup, banks[bank_id], paid=True)
    assert reply["VK_SERVICE"] == "1111"
    assert payments.check_reply(banks[bank_id], reply) == {
        "status": "paid", "stamp": "ORDER-1", "reference_no": "1234561",
        "message": "Arve 2026-11 Õie", "amount": "12.34", "currency": "EUR",
        "transaction_no": reply["VK_T_NO"], "paid_at": "2026-11-27T12:00:00+02:00",
        "payer_name": "Test Payer", "payer_account": "EE471000001020145685", "auto": False}


@pytest.mark.parametrize("bank_id", ["testbank", "oldaccbank"])
def test_a_cancelled_reply_has_no_money_in_it(setup, banks, bank_id):
    reply = reply_to(setup, banks[bank_id], paid=False)
    assert reply["VK_SERVICE"] == "1911"
    assert payments.check_reply(banks[bank_id], reply) == {
        "status": "cancelled", "stamp": "ORDER-1", "reference_no": "1234561",
        "message": "Arve 2026-11 Õie", "amount": None, "currency": None,
        "transaction_no": None, "paid_at": None, "payer_name": None, "payer_account": None,
        "auto": False}


def test_the_bank_resending_a_payment_days_later_is_accepted(setup, banks):
    # no freshness rule: the bank posts an unanswered 1111 again, itself (VK_AUTO=Y)
    reply = reply_to(setup, banks["testbank"], paid=True, now=NOON - timedelta(days=3))
    payment = payments.check_reply(banks["testbank"], {**reply, "VK_AUTO": "Y"})
    assert (payment["status"], payment["auto"]) == ("paid", True)
    assert payment["paid_at"] == "2026-11-24T12:00:00+02:00"


def rule_broken(bank, fields):
    with pytest.raises(Unauthenticated) as refused:
        payments.check_reply(bank, fields)
    return refused.value.code


@pytest.mark.parametrize("paid", [True, False])
@pytest.mark.parametrize("spoil, code", [
    (lambda s, r: {**r, "VK_STAMP": "ORDER-2"}, "banklink-mac-mismatch"),
    (lambda s, r: {**r, "VK_REF": "7654321"}, "banklink-mac-mismatch"),
    (lambda s, r: resign(s.impostor, r), "banklink-mac-mismatch"),
    (lambda s, r: {**r, "VK_MAC": "not a signature"}, "banklink-bad-mac"),
    (lambda s, r: {k: v for k, v in r.items() if k != "VK_MSG"}, "banklink-bad-mac"),
    (lambda s, r: resign(s.bank, r, VK_REC_ID="SOMEONE"), "banklink-wrong-recipient"),
    (lambda s, r: resign(s.bank, r, VK_SND_ID="OTHERBANK"), "banklink-wrong-sender"),
    (lambda s, r: resign(s.bank, r, VK_VERSION="008"), "banklink-wrong-version"),
    (lambda s, r: {**r, "VK_SERVICE": "3013"}, "banklink-wrong-service"),
    (lambda s, r: {**r, "VK_SERVICE": "1012"}, "banklink-wrong-service"),
    (lambda s, r: {k: v for k, v in r.items() if k != "VK_SERVICE"}, "banklink-wrong-service"),
])
def test_a_reply_that_breaks_a_rule_is_refused_naming_it(setup, banks, paid, spoil, code):
    reply = reply_to(setup, banks["testbank"], paid=paid)
    assert rule_broken(banks["testbank"], spoil(setup, reply)) == code


@pytest.mark.parametrize("change", [{"VK_AMOUNT": "99.99"}, {"VK_AMOUNT": "1234.00"}])
def test_a_paid_reply_with_another_amount_does_not_verify(setup, banks, change):
    reply = reply_to(setup, banks["testbank"], paid=True)
    assert rule_broken(banks["testbank"], {**reply, **change}) == "banklink-mac-mismatch"


@pytest.mark.parametrize("change, code", [
    ({"VK_AMOUNT": "12,34"}, "banklink-bad-amount"),
    ({"VK_AMOUNT": "0.00"}, "banklink-bad-amount"),
    ({"VK_T_DATETIME": "27.11.2026 12:00"}, "banklink-bad-datetime"),
])
def test_a_signed_paid_reply_must_still_make_sense(setup, banks, change, code):
    reply = resign(setup.bank, reply_to(setup, banks["testbank"], paid=True), **change)
    assert rule_broken(banks["testbank"], reply) == code


@pytest.mark.parametrize("change, field", [
    ({"amount": "12.3"}, "amount"), ({"amount": "12,34"}, "amount"),
    ({"amount": "-1.00"}, "amount"), ({"amount": "0.00"}, "amount"),
    ({"amount": "012.34"}, "amount"), ({"amount": 12.34}, "amount"),
    ({"amount": "1234567890.00"}, "amount"), ({"amount": "12.34 "}, "amount"),
    ({"stamp": ""}, "stamp"), ({"stamp": "S" * 21}, "stamp"), ({"stamp": 1}, "stamp"),
    ({"reference_no": "1" * 36}, "reference_no"), ({"reference_no": None}, "reference_no"),
    ({"message": "m" * 96}, "message"),
    ({"return_url": "ftp://vool.example/"}, "return_url"),
    ({"return_url": "https://vool.example/" + "r" * 235}, "return_url"),
])
def test_a_bad_order_is_refused_naming_its_field(banks, change, field):
    with pytest.raises(ValidationFailed) as refused:
        request(banks["testbank"], **change)
    assert [e["field"] for e in refused.value.errors] == [field]


def test_the_longest_values_the_banks_take_are_taken(setup, banks):
    form = request(banks["testbank"], stamp="S" * 20, amount="999999999.99",
                   reference_no="1" * 35, message="m" * 95)
    setup.bank.check_request(form["fields"])


def test_a_1011_bank_without_our_account_is_left_out(setup, caplog):
    entries = yaml.safe_load(setup.banks_file.read_text(encoding="utf-8"))["banks"]
    entries = [{k: v for k, v in e.items() if k != "account"} if e["id"] == "accbank" else e
               for e in entries]
    entries[-1]["account"] = "EE382200221020145686"     # a wrong check digit
    setup.banks_file.write_text(yaml.safe_dump({"banks": entries}), encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="services.identity.banks"):
        banks = load_banks({"VOOL_BANKS_FILE": str(setup.banks_file)})
    assert list(banks) == ["testbank", "oldbank"]
    assert banks["testbank"].payment_service == "1012"
    assert "bank accbank is left out: payment_service 1011 needs our IBAN" in caplog.text
    assert "bank oldaccbank is left out" in caplog.text


def test_an_unknown_payment_service_stops_the_load(setup):
    entries = yaml.safe_load(setup.banks_file.read_text(encoding="utf-8"))["banks"]
    entries[0]["payment_service"] = "1013"
    setup.banks_file.write_text(yaml.safe_dump({"banks": entries}), encoding="utf-8")
    with pytest.raises(ValueError, match="payment_service must be 1011 or 1012"):
        load_banks({"VOOL_BANKS_FILE": str(setup.banks_file)})
