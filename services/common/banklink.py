"""The banklink (iPizza) protocol of the Estonian banks: MAC strings, signatures
and the fields of each service. Shared by identity (our side) and the test bank
(the bank's side), and by billing for payments.

The MAC string is every field of the service, in the order the specification
gives, each value preceded by its length in characters as three digits
("Õie Mäger" counts 9); an empty value is "000". The MAC is the RSA signature
(PKCS#1 v1.5) of the UTF-8 bytes of that string, base64-encoded: SHA-1 in
protocol version 008, SHA-512 in 009.
"""
import base64
import binascii
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_pem_x509_certificate

#: the fields of each service, in MAC order
MAC_FIELDS = {
    "4011": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_REPLY", "VK_RETURN", "VK_DATETIME",
             "VK_RID"),
    "4012": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_REC_ID", "VK_NONCE", "VK_RETURN",
             "VK_DATETIME", "VK_RID"),
    "3012": ("VK_SERVICE", "VK_VERSION", "VK_USER", "VK_DATETIME", "VK_SND_ID", "VK_REC_ID",
             "VK_USER_NAME", "VK_USER_ID", "VK_COUNTRY", "VK_OTHER", "VK_TOKEN", "VK_RID"),
    "3013": ("VK_SERVICE", "VK_VERSION", "VK_DATETIME", "VK_SND_ID", "VK_REC_ID", "VK_NONCE",
             "VK_USER_NAME", "VK_USER_ID", "VK_COUNTRY", "VK_OTHER", "VK_TOKEN", "VK_RID"),
    "1011": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_STAMP", "VK_AMOUNT", "VK_CURR",
             "VK_ACC", "VK_NAME", "VK_REF", "VK_MSG", "VK_RETURN", "VK_CANCEL", "VK_DATETIME"),
    "1012": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_STAMP", "VK_AMOUNT", "VK_CURR",
             "VK_REF", "VK_MSG", "VK_RETURN", "VK_CANCEL", "VK_DATETIME"),
    "1111": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_REC_ID", "VK_STAMP", "VK_T_NO",
             "VK_AMOUNT", "VK_CURR", "VK_REC_ACC", "VK_REC_NAME", "VK_SND_ACC", "VK_SND_NAME",
             "VK_REF", "VK_MSG", "VK_T_DATETIME"),
    "1911": ("VK_SERVICE", "VK_VERSION", "VK_SND_ID", "VK_REC_ID", "VK_STAMP", "VK_REF",
             "VK_MSG"),
}

#: the reply each request is answered with
REPLY_TO = {"4011": "3012", "4012": "3013"}

DIGESTS = {"008": hashes.SHA1, "009": hashes.SHA512}

#: VK_LANG, the language the bank's pages speak (not part of the MAC)
VK_LANGS = {"et": "EST", "en": "ENG"}

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"   # 2026-11-27T10:15:00+0200


class MacError(ValueError):
    """The MAC could not be checked: unknown service or version, missing field,
    or a MAC that is not base64 of the key's size."""


def mac_string(fields):
    service = fields.get("VK_SERVICE", "")
    if service not in MAC_FIELDS:
        raise MacError(f"unknown VK_SERVICE {service!r}")
    parts = []
    for name in MAC_FIELDS[service]:
        if name not in fields:
            raise MacError(f"{name} is missing")
        value = str(fields[name])
        if len(value) > 999:
            raise MacError(f"{name} is longer than 999 characters")
        parts.append(f"{len(value):03d}{value}")
    return "".join(parts)


def _digest(version):
    try:
        return DIGESTS[version]()
    except KeyError:
        raise MacError(f"unknown VK_VERSION {version!r}") from None


def sign(fields, private_key):
    """The VK_MAC of ``fields`` with our private key."""
    signature = private_key.sign(mac_string(fields).encode("utf-8"), padding.PKCS1v15(),
                                 _digest(fields.get("VK_VERSION")))
    return base64.b64encode(signature).decode("ascii")


def verify(fields, public_key):
    """True if VK_MAC is the signature of ``fields`` with ``public_key``'s pair;
    False if it is not (made with another key, or over other values);
    MacError if it cannot even be checked (malformed)."""
    message = mac_string(fields).encode("utf-8")
    digest = _digest(fields.get("VK_VERSION"))
    try:
        signature = base64.b64decode(fields.get("VK_MAC", ""), validate=True)
    except (binascii.Error, ValueError):
        raise MacError("VK_MAC is not base64") from None
    if len(signature) != public_key.key_size // 8:
        raise MacError("VK_MAC does not have the length of the bank's key")
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), digest)
        return True
    except InvalidSignature:
        return False


def vk_lang(language):
    return VK_LANGS.get(language, VK_LANGS["et"])


def format_datetime(moment: datetime) -> str:
    return moment.strftime(DATETIME_FORMAT)


def parse_datetime(text: str) -> datetime:
    return datetime.strptime(text, DATETIME_FORMAT)


def load_private_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_public_key(path):
    """A PEM public key or X.509 certificate (banks hand out either)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"BEGIN CERTIFICATE" in data:
        return load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def generate_key_pair(private_path, public_path, bits=2048):
    """Development keys only: a new RSA pair written as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    private_path.chmod(0o600)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key
