"""Paying through the bank (banklink 1011/1012 -> 1111/1911): identity's side.

Identity holds the banks' keys, so it signs the payment requests and checks the
banks' replies; billing keeps the payment orders and records a payment once per
VK_STAMP, which is why a reply's stamp is not checked for reuse here.

A reply is checked as strictly as a login reply (the bank's protocol version,
its MAC, from it to us) except for its time: a bank posts a 1111 again, with
VK_AUTO=Y, long after the payment when the customer's browser never came back.
Every reply, verified or refused, is logged in login_log without its MAC.
"""
from services.common import banklink
from services.common.clock import TALLINN
from services.common.errors import ValidationFailed
from services.identity.api import BANK_AMOUNT as AMOUNT
from services.identity.api import PAYMENT_MAX_LENGTH as MAX_LENGTH
from services.identity.login import check_sent_by_bank, log_attempt, reject

CURRENCY = "EUR"
#: the reply services and what each says of the payment
REPLIES = {"1111": "paid", "1911": "cancelled"}


def _is_amount(value):
    return isinstance(value, str) and value != "0.00" and AMOUNT.fullmatch(value) is not None


def _field_errors(stamp, amount, reference_no, message, return_url):
    values = {"stamp": stamp, "reference_no": reference_no, "message": message,
              "return_url": return_url}
    errors = []
    for name, value in values.items():
        if not isinstance(value, str):
            errors.append({"field": name, "message": "must be a string"})
        elif len(value) > MAX_LENGTH[name]:
            errors.append({"field": name,
                           "message": f"at most {MAX_LENGTH[name]} characters"})
    if isinstance(stamp, str) and not stamp:
        # the stamp is how billing finds the order a reply pays
        errors.append({"field": "stamp", "message": "must not be empty"})
    if isinstance(return_url, str) and not return_url.startswith(("http://", "https://")):
        errors.append({"field": "return_url", "message": "must be an http(s) URL"})
    if not _is_amount(amount):
        errors.append({"field": "amount",
                       "message": 'a positive sum of euros with two decimals, like "12.34"'})
    return errors


def request(bank, now, stamp, amount, reference_no, message, return_url, language="et"):
    """The signed 1012 (or 1011, where the bank's configuration says so) request
    ``{action, method, fields}`` the customer's browser posts to the bank.
    The bank posts its reply, 1111 or 1911, to ``return_url``."""
    errors = _field_errors(stamp, amount, reference_no, message, return_url)
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                               errors)
    fields = {
        "VK_SERVICE": bank.payment_service, "VK_VERSION": bank.version,
        "VK_SND_ID": bank.snd_id, "VK_STAMP": stamp, "VK_AMOUNT": amount,
        "VK_CURR": CURRENCY,
    }
    if bank.payment_service == "1011":
        fields.update(VK_ACC=bank.account, VK_NAME=bank.account_name)
    fields.update(VK_REF=reference_no, VK_MSG=message, VK_RETURN=return_url,
                  VK_CANCEL=return_url,
                  VK_DATETIME=banklink.format_datetime(now.astimezone(TALLINN)))
    fields["VK_MAC"] = banklink.sign(fields, bank.our_private_key)
    fields.update(VK_ENCODING="UTF-8", VK_LANG=banklink.vk_lang(language))
    return {"action": bank.url, "method": "POST", "fields": fields}


def check_reply(bank, fields):
    """What a bank's 1111 or 1911 reply says of the payment, or Unauthenticated
    naming the rule the reply broke."""
    service = fields.get("VK_SERVICE")
    if service not in REPLIES:
        reject("banklink-wrong-service", f"expected a 1111 or 1911 reply, got {service!r}")
    check_sent_by_bank(bank, fields)
    # the MAC covered every field read below, so each is there
    payment = {
        "status": REPLIES[service], "stamp": fields["VK_STAMP"],
        "reference_no": fields["VK_REF"], "message": fields["VK_MSG"],
        "amount": None, "currency": None, "transaction_no": None, "paid_at": None,
        "payer_name": None, "payer_account": None,
        # outside the MAC, so it only tells how the reply came (the bank's own
        # post rather than the customer's browser), never anything about money
        "auto": fields.get("VK_AUTO") == "Y",
    }
    if service == "1111":
        if not _is_amount(fields["VK_AMOUNT"]):
            reject("banklink-bad-amount", "VK_AMOUNT is not a positive sum with two decimals")
        try:
            paid_at = banklink.parse_datetime(fields["VK_T_DATETIME"])
        except ValueError:
            reject("banklink-bad-datetime", "VK_T_DATETIME is not a banklink timestamp")
        payment.update(amount=fields["VK_AMOUNT"], currency=fields["VK_CURR"],
                       transaction_no=fields["VK_T_NO"], paid_at=paid_at.isoformat(),
                       payer_name=fields["VK_SND_NAME"], payer_account=fields["VK_SND_ACC"])
    return payment


def log_reply(uow, bank_id, fields, outcome, detail=""):
    """A payment reply in login_log, beside the logins: which payment it was and
    the outcome (``payment-paid``, ``payment-cancelled`` or the rule it broke),
    never its MAC."""
    said = " ".join(f"{name} {fields[name]!r}" for name in
                    ("VK_SERVICE", "VK_STAMP", "VK_REF", "VK_AMOUNT", "VK_T_NO")
                    if name in fields)
    # a payment reply names no person: nothing of it goes in person_code
    log_attempt(uow, bank_id, {}, outcome,
                f"payment reply {said}" + (f": {detail}" if detail else ""))
