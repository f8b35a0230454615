"""Banklink MACs checked against vectors made independently of our code: the MAC
strings are written out by hand and signed with the openssl command line."""
import base64
import subprocess

import pytest

from services.common import banklink


REPLY_3013 = {
    "VK_SERVICE": "3013", "VK_VERSION": "009", "VK_DATETIME": "2026-11-27T10:15:00+0200",
    "VK_SND_ID": "TESTBANK", "VK_REC_ID": "VOOL", "VK_NONCE": "abc123",
    "VK_USER_NAME": "Õie Mäger", "VK_USER_ID": "44903136520", "VK_COUNTRY": "EE",
    "VK_OTHER": "", "VK_TOKEN": "1", "VK_RID": "rid-1",
    "VK_ENCODING": "UTF-8", "VK_LANG": "EST",
}
# by hand: each value behind its length in characters; "Õie Mäger" is 9, "" is 000
MAC_STRING_3013 = ("0043013" "003009" "0242026-11-27T10:15:00+0200" "008TESTBANK" "004VOOL"
                   "006abc123" "009Õie Mäger" "01144903136520" "002EE" "000" "0011" "005rid-1")

REQUEST_4011 = {
    "VK_SERVICE": "4011", "VK_VERSION": "008", "VK_SND_ID": "VOOL", "VK_REPLY": "3012",
    "VK_RETURN": "http://localhost:8000/api/v1/auth/banklink/testbank/return",
    "VK_DATETIME": "2026-11-27T10:15:00+0200", "VK_RID": "",
}
MAC_STRING_4011 = ("0044011" "003008" "004VOOL" "0043012"
                   "058http://localhost:8000/api/v1/auth/banklink/testbank/return"
                   "0242026-11-27T10:15:00+0200" "000")


@pytest.fixture(scope="module")
def openssl_keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "bank.key.pem", folder / "bank.pub.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)],
                   check=True, capture_output=True)
    return folder, private, public


def openssl_mac(folder, private, text, digest):
    data = folder / "mac.txt"
    data.write_bytes(text.encode("utf-8"))
    signature = subprocess.run(["openssl", "dgst", f"-{digest}", "-sign", str(private), str(data)],
                               check=True, capture_output=True).stdout
    return base64.b64encode(signature).decode("ascii")


@pytest.mark.parametrize("fields, text, digest", [
    (REPLY_3013, MAC_STRING_3013, "sha512"),
    (REQUEST_4011, MAC_STRING_4011, "sha1"),
])
def test_our_mac_is_the_one_openssl_makes(openssl_keys, fields, text, digest):
    folder, private, public = openssl_keys
    assert banklink.mac_string(fields) == text
    expected = openssl_mac(folder, private, text, digest)
    assert banklink.sign(fields, banklink.load_private_key(private)) == expected
    assert banklink.verify({**fields, "VK_MAC": expected}, banklink.load_public_key(public))


def test_a_mac_over_other_values_or_with_another_key_does_not_verify(openssl_keys, tmp_path):
    folder, private, public = openssl_keys
    mac = openssl_mac(folder, private, MAC_STRING_3013, "sha512")
    key = banklink.load_public_key(public)
    tampered = {**REPLY_3013, "VK_USER_ID": "37605030299", "VK_MAC": mac}
    assert banklink.verify(tampered, key) is False
    other = banklink.generate_key_pair(tmp_path / "o.key", tmp_path / "o.pub")
    assert banklink.verify({**REPLY_3013, "VK_MAC": banklink.sign(REPLY_3013, other)}, key) is False
    # a 008 MAC is SHA-1: the same string signed with SHA-512 does not pass as 008
    assert banklink.verify({**REPLY_3013, "VK_VERSION": "008", "VK_MAC": mac}, key) is False


@pytest.mark.parametrize("mac, reason", [
    ("not base64!", "not base64"),
    (base64.b64encode(b"short").decode(), "length"),
    ("", "length"),
])
def test_a_malformed_mac_cannot_be_checked(openssl_keys, mac, reason):
    _, _, public = openssl_keys
    with pytest.raises(banklink.MacError, match=reason):
        banklink.verify({**REPLY_3013, "VK_MAC": mac}, banklink.load_public_key(public))


def test_unknown_services_versions_and_missing_fields_are_refused():
    with pytest.raises(banklink.MacError, match="VK_SERVICE"):
        banklink.mac_string({**REPLY_3013, "VK_SERVICE": "9999"})
    with pytest.raises(banklink.MacError, match="VK_NONCE is missing"):
        banklink.mac_string({k: v for k, v in REPLY_3013.items() if k != "VK_NONCE"})
    with pytest.raises(banklink.MacError, match="VK_VERSION"):
        banklink._digest("007")
