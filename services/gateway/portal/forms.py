"""What the portal's forms post, read into the actions' models, and the token every
form that changes something carries."""
import hashlib
import hmac
from datetime import date

from services.common.errors import Forbidden, ValidationFailed
from services.common import formats
from services.common.clock import clock

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
    day = formats.parse_day(text, language)
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


def N_(text):
    """A text to translate where it is shown (marked for a translator)."""
    return text


#: what a mandate may allow, as the grant form offers it: (box, scopes, what it is
#: called, what it lets the grantee do); readings:write implies readings:read
SCOPE_GROUPS = (
    ("contract", ("contract:read",), N_("See the contract and consumption points"),
     N_("The contracts, addresses, meters, contact details and our messages.")),
    ("invoices", ("invoices:read",), N_("View invoices"),
     N_("The invoices, their PDFs and the payment book.")),
    ("readings", ("readings:write",), N_("Enter readings"),
     N_("Send meter readings and see the earlier ones.")),
    ("pay", ("payments:write", "invoices:read"), N_("Pay invoices"),
     N_("Pay your invoices through a bank (and so see them).")),
    ("contact", ("contact:write", "contract:read"), N_("Change contact details"),
     N_("Change your postal address, phone, e-mail and language (and so see them).")),
    ("desk", ("feedback:write",), N_("Write to the service desk"),
     N_("Send us proposals, complaints and questions for you, and read our answers.")),
    ("claims", ("consumption-points:claim",), N_("Link consumption points"),
     N_("Ask us to move to you a consumption point recorded under someone else.")),
    ("sharing", ("sharing:grant", "readings:read"), N_("Share data with applications"),
     N_("Let an application read the readings and consumption of your consumption "
        "points, for at most a year (and no longer than the mandate).")),
)
GROUPS = {key: scopes for key, scopes, _, _ in SCOPE_GROUPS}
#: a scope no ticked group stands for (a mandate signed at the office may hold one)
SCOPE_WORDS = {
    "contract:read": N_("See the contract and consumption points"),
    "contact:write": N_("Change contact details"),
    "readings:read": N_("See the readings"),
    "readings:write": N_("Enter readings"),
    "invoices:read": N_("View invoices"),
    "payments:write": N_("Pay invoices"),
    "feedback:write": N_("Write to the service desk"),
    "consumption-points:claim": N_("Link consumption points"),
    "sharing:grant": N_("Share data with applications"),
}


def scopes_of_groups(groups):
    """The scopes the ticked ``scope_group`` boxes stand for (sorted, once each)."""
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValidationFailed.field("scope_group", f"no such choice: {', '.join(unknown)}",
                                     "scope-unknown")
    return sorted({scope for group in groups for scope in GROUPS[group]})


def groups_of_scopes(scopes):
    """A mandate's scopes in words: ``([(key, title, explanation)], [words of a scope
    no group covers])``."""
    held = set(scopes)
    groups = [(key, title, explanation) for key, covered, title, explanation in SCOPE_GROUPS
              if set(covered) <= held]
    covered = {scope for key, *_ in groups for scope in GROUPS[key]}
    if "readings:write" in covered:
        covered.add("readings:read")
    return groups, [SCOPE_WORDS[s] for s in sorted(held - covered) if s in SCOPE_WORDS]


def today():
    """Today in Tallinn, as the customer's calendar says."""
    return clock.today()


def date_value(value, language="et"):
    """A date as a date field shows it (dd.mm.yyyy, the hint's format); text as typed."""
    if isinstance(value, date):
        return formats.typed_day(value, language)
    return value or ""


def iso_day(text):
    """The date of ISO text (yyyy-mm-dd), else None."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        return None


def day_of(text, language, field):
    """A date field, read in the page's locale (16.12.2026; 2026-12-16 too); None
    when empty."""
    text = (text or "").strip()
    if not text:
        return None
    day = formats.parse_day(text, language)
    if day is None:
        raise ValidationFailed.field(field, "not a date: write it as dd.mm.yyyy",
                                     "date-parsing")
    return day


def mandate_grant(form, language):
    """The grant form (``form``: a field given many times, like Werkzeug's): the
    ticked ``scope_group`` boxes (raw ``scopes`` still accepted), the grantee and the
    dates. Every field's problem at once, named as the form names it."""
    errors, scopes, days = [], list(form.getlist("scopes")), {}
    try:
        scopes += scopes_of_groups(form.getlist("scope_group"))
    except ValidationFailed as exc:
        errors += exc.errors
    for field in ("valid_from", "valid_until"):
        try:
            days[field] = day_of(form.get(field), language, field)
        except ValidationFailed as exc:
            errors += exc.errors
    try:
        grant = parse(MandateGrant, {
            "grantee_person_code": form.get("grantee_person_code", "").strip(),
            "scopes": sorted(set(scopes)), **days})
    except ValidationFailed as exc:
        # no box ticked: said at the boxes the form has
        named = {e["field"] for e in errors}
        for error in exc.errors:
            if error["field"] == "scopes" and "scopes" not in form:
                error = {**error, "field": "scope_group", "message": "tick at least one"}
            if error["field"] not in named:      # one message per field
                errors.append(error)
                named.add(error["field"])
        grant = None
    if errors:
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors),
                               errors)
    return grant
