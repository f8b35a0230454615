"""What the portal's forms post, read into the actions' models, and the token every
form that changes something carries."""
import hashlib
import hmac

from services.common.errors import Forbidden, ValidationFailed
from services.common.formats import parse_day
from services.common.validation import parse
from services.contracts.api import Claim, ContactChange
from services.gateway.actions.readings import MAX_KEY, NewReading
from services.identity.api import MandateGrant
from services.notifications.api import Feedback

CSRF_FIELD = "csrf_token"
REGISTER_FIELD = "register-"     # a reading form's field per register: register-T1


def csrf_token(token):
    """The forms' token: derived from the session, so only its holder can know it."""
    return hmac.new(b"vool-portal-forms", token.encode("utf-8"), hashlib.sha256).hexdigest()


def check_csrf(request, token):
    sent = request.form.get(CSRF_FIELD, "")
    if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(token).encode("utf-8")):
        raise Forbidden("this form did not come from your session's page; reload it",
                        code="form-token-mismatch")


#: a service's field -> the form's field it was typed in, where they differ
FORM_FIELDS = {"invoice_nos": "invoice_no", "bank_id": "bank"}


def form_field(field):
    """The form's field a service's error names: registers.T1 -> register-T1."""
    if field.startswith("registers."):
        return REGISTER_FIELD + field[len("registers."):]
    return FORM_FIELDS.get(field, field)


def field_errors(errors, posted):
    """``({form field: its first error}, [the errors of no field of the form])``:
    each error is said once, at its field when the form has it."""
    at_field, rest = {}, []
    for error in errors:
        name = form_field(error.get("field") or "")
        if name in posted or name in FORM_FIELDS.values():
            at_field.setdefault(name, error)
        else:
            rest.append(error)
    return at_field, rest


def typed_date(text, language):
    """A date field as she typed it, in her language's way (or ISO): ISO text for
    the model; what is no date is refused at the field."""
    if not (text or "").strip():
        return None
    day = parse_day(text, language)
    if day is None:
        # the code pydantic gives a text that is no date: the refusals catalog says it
        raise ValidationFailed.field("reading_date", "not a date: write it as dd.mm.yyyy",
                                     "date-from-datetime-parsing")
    return day.isoformat()


def reading(form, language="et"):
    """``(NewReading, idempotency key or None)`` of a point's reading form; its date
    as typed in ``language`` (16.12.2026) or ISO."""
    reading = parse(NewReading, {
        "reading_date": typed_date(form.get("reading_date"), language),
        "registers": {name[len(REGISTER_FIELD):]: value.strip() or None
                      for name, value in form.items() if name.startswith(REGISTER_FIELD)}})
    key = form.get("idempotency_key") or None
    if key is not None and len(key) > MAX_KEY:      # stored whole, never cut
        raise ValidationFailed.field("idempotency_key", f"at most {MAX_KEY} characters")
    return reading, key


def contact_change(form):
    """Only the fields the form has change; an emptied one is cleared."""
    return parse(ContactChange, {field: form[field].strip() or None
                                 for field in ContactChange.model_fields if field in form})


def feedback(form):
    return parse(Feedback, {k: form.get(k, "").strip() for k in ("kind", "subject", "body")})


def claim(form):
    return parse(Claim, {k: form.get(k, "").strip() or None
                         for k in ("address", "eic", "meter_serial", "note")})


def mandate_grant(form, scopes):
    """``scopes``: the form's ticked boxes (a field given many times)."""
    return parse(MandateGrant, {
        "grantee_person_code": form.get("grantee_person_code", "").strip(),
        "scopes": scopes, "valid_until": form.get("valid_until") or None})
