"""Customers' login through their internet bank (banklink 4011/4012 -> 3012/3013).

``start`` issues a signed request with a fresh VK_RID (and VK_NONCE for 4012)
that we remember; ``finish`` accepts a reply only if every rule holds, and says
which rule failed otherwise. Every attempt is logged, without the MAC.
"""
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa

from services.common import banklink
from services.common.clock import TALLINN, as_utc
from services.common.errors import Forbidden, Unauthenticated
from services.common.identifiers import valid_personal_code
from services.identity import eligibility, mandates
from services.identity.models import banklink_requests, login_log

MAX_CLOCK_SKEW = timedelta(minutes=5)
REQUEST_LIFETIME = timedelta(minutes=30)

#: persons.name holds 200; the banklink spec allows VK_USER_NAME 140
MAX_NAME = 200


def browser_hash(browser_key):
    return hashlib.sha256(browser_key.encode("utf-8")).hexdigest() if browser_key else None


def start(uow, bank, return_url, browser_key=None, language="et", client_address=None):
    """The signed request; with ``browser_key`` (a secret the browser keeps) the
    reply will log in only a browser that shows the same key."""
    now = uow.clock.now()
    rid = secrets.token_hex(15)
    fields = {
        "VK_SERVICE": bank.service, "VK_VERSION": bank.version, "VK_SND_ID": bank.snd_id,
    }
    nonce = None
    if bank.service == "4012":
        nonce = secrets.token_hex(25)
        fields.update(VK_REC_ID=bank.rec_id, VK_NONCE=nonce)
    else:
        fields["VK_REPLY"] = "3012"
    fields.update(VK_RETURN=return_url,
                  VK_DATETIME=banklink.format_datetime(now.astimezone(TALLINN)),
                  VK_RID=rid)
    fields["VK_MAC"] = banklink.sign(fields, bank.our_private_key)
    fields.update(VK_ENCODING="UTF-8", VK_LANG=banklink.vk_lang(language))
    uow.session.execute(sa.insert(banklink_requests).values(
        request_id=str(uuid.uuid4()), bank_id=bank.id, service=bank.service, nonce=nonce,
        rid=rid, created_at=now, browser_hash=browser_hash(browser_key),
        client_address=client_address))
    return {"action": bank.url, "method": "POST", "fields": fields}


def reject(code, detail):
    """A reply that failed a rule: 401, and ``code`` names the rule."""
    raise Unauthenticated(detail, code=code)


def check_sent_by_bank(bank, fields):
    """What every reply of a bank must be, a login's or a payment's: in the bank's
    protocol version, signed with its key over these values, sent by it to us."""
    if fields.get("VK_VERSION") != bank.version:
        reject("banklink-wrong-version", f"expected version {bank.version}")
    try:
        valid = banklink.verify(fields, bank.bank_public_key)
    except banklink.MacError as exc:
        reject("banklink-bad-mac", f"the reply's MAC cannot be checked: {exc}")
    if not valid:
        reject("banklink-mac-mismatch",
               "the reply's MAC was not made with the bank's key over these values")
    if fields.get("VK_SND_ID") != bank.rec_id:
        reject("banklink-wrong-sender", "VK_SND_ID is not the bank's id")
    if fields.get("VK_REC_ID") != bank.snd_id:
        reject("banklink-wrong-recipient", "VK_REC_ID is not our id at this bank")


def check_reply(uow, bank, fields, browser_key=None):
    """The person a bank reply authenticates, or Unauthenticated naming the failed rule."""
    now = uow.clock.now()
    expected_service = banklink.REPLY_TO[bank.service]
    if fields.get("VK_SERVICE") != expected_service:
        reject("banklink-wrong-service",
               f"expected a {expected_service} reply, got {fields.get('VK_SERVICE')!r}")
    check_sent_by_bank(bank, fields)
    try:
        sent_at = banklink.parse_datetime(fields.get("VK_DATETIME", ""))
    except ValueError:
        reject("banklink-bad-datetime", "VK_DATETIME is not a banklink timestamp")
    if abs(now - sent_at) > MAX_CLOCK_SKEW:
        reject("banklink-stale-datetime", "VK_DATETIME is more than 5 minutes from now")

    if expected_service == "3013":
        issued = _issued_request(uow, bank, banklink_requests.c.nonce, fields.get("VK_NONCE"))
        if issued is None:
            reject("banklink-unknown-nonce", "VK_NONCE was not issued by us")
        if issued["rid"] != fields.get("VK_RID"):
            reject("banklink-rid-mismatch", "VK_RID does not match the request's")
    else:
        issued = _issued_request(uow, bank, banklink_requests.c.rid, fields.get("VK_RID"))
        if issued is None:
            reject("banklink-rid-mismatch", "VK_RID does not match a request of ours")
    if issued["used_at"] is not None:
        reject("banklink-reused-nonce", "this reply was already used to log in")
    if issued["browser_hash"] is not None and not hmac.compare_digest(
            issued["browser_hash"], browser_hash(browser_key) or ""):
        reject("banklink-other-browser",
               "this login was started in another browser; start it again here")
    if as_utc(issued["created_at"]) < now - REQUEST_LIFETIME:
        reject("banklink-expired-request", "the login request has expired; start again")
    try:
        person_code = valid_personal_code(fields.get("VK_USER_ID", ""))
    except ValueError:
        reject("banklink-bad-user-id", "VK_USER_ID is not a valid personal code")
    name = (fields.get("VK_USER_NAME") or "").strip()
    if not name:
        reject("banklink-bad-user-name", "VK_USER_NAME is empty")
    if len(name) > MAX_NAME:   # the banks' field is at most 140 characters (VK spec)
        reject("banklink-bad-user-name", f"VK_USER_NAME is longer than {MAX_NAME} characters")
    uow.session.execute(sa.update(banklink_requests)
                        .where(banklink_requests.c.request_id == issued["request_id"])
                        .values(used_at=now))
    return person_code, name


def _issued_request(uow, bank, column, value):
    """Our request a reply answers, locked: two replies to it are checked in turn."""
    return uow.session.execute(
        sa.select(banklink_requests)
        .where(column == value, banklink_requests.c.bank_id == bank.id)
        .with_for_update()).mappings().first()


def finish(uow, bank, fields, browser_key=None):
    """Check the reply and the person's eligibility; returns ``(person_code, name)``."""
    person_code, name = check_reply(uow, bank, fields, browser_key)
    if not eligibility.has_active_contract(uow, person_code) and not mandates.may_log_in(
            uow, person_code):
        raise Forbidden("You can log in while you hold an active contract with us or a "
                        "mandate from someone who does. Please contact our service desk.",
                        code="no-active-contract")
    eligibility.remember_name(uow, person_code, name)
    return person_code, name


def log_attempt(uow, bank_id, fields, outcome, detail="", client_address=None):
    """Recorded in its own transaction, so a rejected attempt is logged too."""
    code = fields.get("VK_USER_ID") if isinstance(fields, dict) else None
    uow.session.execute(sa.insert(login_log).values(
        at=uow.clock.now(), bank_id=bank_id[:32], person_code=(code or None) and str(code)[:11],
        outcome=outcome[:40], detail=(detail or "")[:300], client_address=client_address))
