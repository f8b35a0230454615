"""A refusal in the customer's words: the services' codes said in Estonian or English.

A service refuses with a stable code and its parameters (a field error
``{field, code, params, message}``, or a whole refusal's code: its problem type);
its English ``message`` is for API clients and developers. Here each code has a
short, kind sentence for a customer, English in the source (the msgids, marked
with ``N_`` for Babel's extractor) and Estonian in locale/et/LC_MESSAGES/messages.po.
The parameters are put in by their kind — dates, numbers, money — in the page's
language (services/common/formats.py): "45 600 kWh, 02.12.2026" / "45,600 kWh,
2 December 2026". A code not known here is said as the service said it, so the
text is never blank.
"""
from pathlib import Path

from services.common import formats
from services.common.translations import translations

LOCALE_DIR = str(Path(__file__).parent / "locale")


def N_(text):
    """Marks an English text for the catalog; said in a language by describe()."""
    return text


# -- what each parameter is, so it reads right in both languages -------------------

DAY, NUMBER, MONEY = "day", "number", "money"

#: a parameter's name -> its kind; a name not here is put in as it came (a register
#: code, invoice numbers)
PARAM_KINDS = {
    "today": DAY, "start_date": DAY, "first_date": DAY, "last_date": DAY,
    "previous_date": DAY,
    "valid_from": DAY, "earliest": DAY, "latest": DAY,
    "previous": NUMBER, "max": NUMBER, "digits": NUMBER, "max_length": NUMBER,
    "min_length": NUMBER, "max_depth": NUMBER, "ge": NUMBER, "gt": NUMBER, "le": NUMBER,
    "lt": NUMBER,
    "amount": MONEY,
}

_FORMATS = {DAY: formats.day, NUMBER: formats.number, MONEY: formats.money}

# -- texts shared by several codes -------------------------------------------------

FILL_IN = N_("Fill this in.")
WHOLE_NUMBER = N_("Enter a whole number, digits only.")
A_DATE = N_("Enter the date as dd.mm.yyyy.")
CHOOSE = N_("Choose one of the options.")
UNREADABLE = N_("This could not be read. Please try again.")
LOG_IN = N_("Please log in.")
LOG_IN_AGAIN = N_("Your session has ended. Please log in again.")
#: a bank's answer, to a login or to a payment, that fails a rule of the protocol
BANK_REPLY = N_("The bank's answer could not be checked. Please try again.")
#: an OpenID Connect provider's answer that fails a rule (signature, issuer, nonce, ...)
EID_ANSWER = N_("The answer of the eID service could not be checked. Please log in again.")
EID_LOGIN_AGAIN = N_("The login could not be completed. Please log in again.")
BANK_LOGIN_EXPIRED = N_("The login took too long. Please log in again.")
BANK_PAYMENT_UNKNOWN = N_("The bank's answer does not match a payment you started here. If "
                          "money left your account, please contact our service desk.")

#: a code -> its text
TEXTS = {
    # a reading (services/metering/readings.py, services/common/registers.py)
    "reading-lower-than-previous": N_(
        "Lower than the previous reading (%(previous)s kWh on %(previous_date)s). "
        "Check the number on the meter."),
    "register-unknown": N_("This meter has no register %(register)s."),
    "register-missing": N_("Enter the %(register)s reading too."),
    "register-not-whole": N_("Enter whole kWh, without decimals."),
    "register-out-of-range": N_(
        "The meter has %(digits)s digits: enter a number from 0 to %(max)s."),
    "date-in-future": N_("The date cannot be later than today (%(today)s)."),
    "date-before-contract": N_(
        "The date cannot be before your contract began (%(start_date)s)."),
    "date-before-last-reading": N_(
        "The date cannot be before the last reading (%(last_date)s)."),
    "date-before-estimate": N_(
        "We estimated your reading of %(last_date)s: enter the reading of that day or a "
        "later one."),
    "date-between-estimates": N_(
        "We estimated your readings from %(first_date)s to %(last_date)s: enter the "
        "reading of one of those reading days, or of a later day."),
    "reading-under-review": N_(
        "The last reading of this consumption point is being checked. A new one can be "
        "entered once it is decided."),
    "reading-decided": N_(
        "This reading has already been decided, so it can no longer be withdrawn."),
    "idempotency-key-reused": N_(
        "This form has already been sent. Reload the page to send a new reading."),
    # contact details, claims (services/contracts/)
    "phone-invalid": N_(
        "This is not a phone number we can use. Enter it as +372 5123 4567 or 5123 4567."),
    "email-invalid": N_("This is not an e-mail address. Enter it as name@example.com."),
    "nothing-to-change": N_("Nothing to change: fill in at least one field."),
    "eic-invalid": N_(
        "This is not a valid EIC. You find it on your contract: 16 characters, such as "
        "38ZEE-00000001-1."),
    "already-linked": N_("This consumption point is already linked to you."),
    # mandates (services/identity/)
    "personal-code-invalid": N_(
        "This is not a valid Estonian personal code. It has 11 digits: please check them."),
    "grantor-without-contract": N_("You need an active contract to give a mandate."),
    "grantee-without-contract": N_(
        "This person is not our customer: a mandate can be given to someone who has a "
        "contract with us."),
    "grantee-is-grantor": N_(
        "This is your own personal code: a mandate is for someone else."),
    "date-in-past": N_("The date cannot be in the past."),
    "date-before-start": N_("The end date cannot be before the start (%(valid_from)s)."),
    "consumption-point-foreign": N_("Choose among your own consumption points."),
    "scope-unknown": N_("Choose what the mandate allows from the list."),
    "mandate-overlaps": N_(
        "This person already has a mandate from you for some of this time. Revoke it "
        "first or choose other dates."),
    "mandate-revoked": N_("The mandate has been revoked."),
    "mandate-expired": N_("The mandate has expired."),
    "mandate-not-yet-valid": N_("The mandate is not valid yet."),
    "scope-missing": N_("Your mandate does not allow this."),
    "self-only": N_("Only the customer can do this; a mandate does not allow it."),
    "mandate-consumption-point": N_(
        "Your mandate does not cover this consumption point."),
    # sharing data with applications (services/identity/grants.py, applications.py)
    "unknown-client": N_("We do not know this application."),
    "redirect-uri-mismatch": N_(
        "This application asked to return to an address it has not registered with us."),
    "invalid-scope": N_("The application asked for data we do not share."),
    "invalid-client": N_("The application could not prove who it is."),
    "invalid-grant": N_("The application's permission is not valid."),
    "invalid-token": N_("The application's permission is not valid or has ended."),
    "invalid-request": N_("The application's request is incomplete."),
    "insufficient-scope": N_("You have not shared this data with the application."),
    "outside-grant-dates": N_("You have not shared the data of these days."),
    "date-too-late": N_("Choose a day no later than %(latest)s."),
    "pkce-without-challenge": N_("The application's request is incomplete."),
    # paying (services/billing/bank_payments.py, services/gateway/actions/payments.py)
    "invoices-none": N_("Choose at least one invoice to pay."),
    "invoices-too-many": N_("Choose at most %(max)s invoices at once."),
    "invoices-paid": N_("Already paid: %(invoice_nos)s."),
    "invoices-of-several-contracts": N_(
        "These invoices are of different contracts. Pay the invoices of one contract at "
        "a time."),
    "bank-unknown": N_("Choose a bank."),
    "payment-order-unknown": BANK_PAYMENT_UNKNOWN,
    "payment-reply-mismatch": BANK_PAYMENT_UNKNOWN,
    # logging in (services/identity/login.py, sessions.py, services/gateway/auth.py)
    "unauthenticated": LOG_IN,
    "session-invalid": LOG_IN_AGAIN,
    "session-expired": LOG_IN_AGAIN,
    "bad-credentials": N_("The user name or the password is wrong."),
    "wrong-principal": N_(
        "This page is for customers: log in through your bank."),
    "no-active-contract": N_(
        "You can log in when you have an active contract with us, or a mandate from "
        "someone who has. Please contact our service desk."),
    "banklink-unknown-bank": N_("We do not know this bank. Choose one from the list."),
    "banklink-wrong-version": BANK_REPLY,
    "banklink-bad-mac": BANK_REPLY,
    "banklink-mac-mismatch": BANK_REPLY,
    "banklink-wrong-sender": BANK_REPLY,
    "banklink-wrong-recipient": BANK_REPLY,
    "banklink-wrong-service": BANK_REPLY,
    "banklink-bad-datetime": BANK_REPLY,
    "banklink-unknown-nonce": BANK_REPLY,
    "banklink-rid-mismatch": BANK_REPLY,
    "banklink-bad-amount": BANK_REPLY,
    "banklink-stale-datetime": BANK_LOGIN_EXPIRED,
    "banklink-expired-request": BANK_LOGIN_EXPIRED,
    "banklink-reused-nonce": N_(
        "This login has already been used. Please log in again."),
    "banklink-other-browser": N_(
        "The login was started in another browser. Please start it again here."),
    "banklink-bad-user-id": N_(
        "The bank did not tell us a valid personal code. Please try again or use "
        "another bank."),
    "banklink-bad-user-name": N_(
        "The bank did not tell us your name. Please try again or use another bank."),
    "oidc-unknown-provider": N_("We do not know this way of logging in. Choose one from "
                                "the list."),
    "oidc-provider-unavailable": N_("Logging in with this eID is not possible right now. "
                                    "Please try again shortly or use your bank."),
    "oidc-unknown-state": EID_LOGIN_AGAIN,
    "oidc-reused-state": N_("This login has already been used. Please log in again."),
    "oidc-expired-state": N_("The login took too long. Please log in again."),
    "oidc-other-browser": N_(
        "The login was started in another browser. Please start it again here."),
    "oidc-provider-refused": N_("The login was cancelled. You can log in again."),
    "oidc-no-code": EID_LOGIN_AGAIN,
    "oidc-token-refused": EID_LOGIN_AGAIN,
    "oidc-malformed-token": EID_ANSWER,
    "oidc-unknown-key": EID_ANSWER,
    "oidc-bad-signature": EID_ANSWER,
    "oidc-wrong-issuer": EID_ANSWER,
    "oidc-wrong-audience": EID_ANSWER,
    "oidc-expired-token": N_("The login took too long. Please log in again."),
    "oidc-bad-iat": EID_ANSWER,
    "oidc-nonce-mismatch": EID_ANSWER,
    "oidc-reused-nonce": EID_ANSWER,
    "oidc-acr-too-low": N_(
        "This method is not secure enough for logging in here. Please use your ID-card, "
        "Mobile-ID or another method of a higher level."),
    "oidc-bad-person-code": N_("We were not told a valid Estonian personal code. Please "
                               "use another way of logging in."),
    "oidc-bad-name": N_("We were not told your name. Please try again or use another way "
                        "of logging in."),
    "too-many-attempts": N_("Too many attempts. Please wait a moment and try again."),
    # the shape of what was sent (pydantic's types, services/common/validation.py)
    "missing": FILL_IN,
    "extra-forbidden": N_("This field is not expected here."),
    "string-type": N_("Enter text here."),
    "string-too-short": N_("Enter at least %(min_length)s characters."),
    "string-too-long": N_("At most %(max_length)s characters: please shorten it."),
    "string-pattern-mismatch": N_("This is not in the expected form."),
    "int-type": WHOLE_NUMBER,
    "int-parsing": WHOLE_NUMBER,
    "int-from-float": WHOLE_NUMBER,
    "int-parsing-size": N_("This number is too large."),
    "greater-than-equal": N_("At least %(ge)s."),
    "greater-than": N_("More than %(gt)s."),
    "less-than-equal": N_("At most %(le)s."),
    "less-than": N_("Less than %(lt)s."),
    "date-type": A_DATE,
    "date-parsing": A_DATE,
    "date-from-datetime-parsing": A_DATE,
    "date-from-datetime-inexact": A_DATE,
    "date-out-of-range": N_("The date must be between %(earliest)s and %(latest)s."),
    "literal-error": CHOOSE,
    "enum": CHOOSE,
    "bool-type": CHOOSE,
    "bool-parsing": CHOOSE,
    "list-type": CHOOSE,
    "too-short": N_("Choose at least %(min_length)s."),
    "too-long": N_("Choose at most %(max_length)s."),
    "dict-type": UNREADABLE,
    "model-type": UNREADABLE,
    "json-too-deep": UNREADABLE,
    "nul-character": N_(
        "The text has a character that cannot be saved. Please type it again."),
    # a whole refusal's problem type (services/gateway/problems.py PROBLEM_TYPES)
    "validation-failed": N_("Please check the fields marked below."),
    "malformed-json": UNREADABLE,
    "bad-request": UNREADABLE,
    "http-error": UNREADABLE,
    "unsupported-media-type": UNREADABLE,
    "payload-too-large": N_("What you sent is too long. Please shorten it."),
    "forbidden": N_("You may not do this."),
    "form-token-mismatch": N_(
        "The form has expired. Please reload the page and send it again."),
    "not-found": N_("We could not find this."),
    "method-not-allowed": N_("This page cannot be used that way."),
    "conflict": N_(
        "This cannot be done now: something has changed meanwhile. Please reload the page."),
    "internal-error": N_(
        "Something went wrong on our side. It has been logged; please try again later."),
    "service-unavailable": N_(
        "This is not possible right now. Please try again shortly."),
}

#: a rule whose least is one says, to a customer, that nothing was given
AT_LEAST_ONE = {"string-too-short": FILL_IN, "too-short": N_("Choose at least one.")}

#: what is said when there is nothing else to say (no known code, no message)
NOTHING_SAID = N_("This could not be done. Please check it and try again.")


def knows(code):
    """Whether ``code`` has a text of its own here."""
    return code in TEXTS


def describe(error, language):
    """A field error ``{field, code, params, message}`` in ``language`` (et, en): the
    code's text with its parameters, or the service's message for a code not known."""
    return _say(error.get("code"), error.get("params"), language, error.get("message"))


def describe_problem(code, params, language, fallback):
    """A whole refusal's ``code`` (its problem type: reading-decided, not-found,
    form-token-mismatch, ...) in ``language``; ``fallback`` (the service's detail)
    for a code not known."""
    return _say(code, params, language, fallback)


def _say(code, params, language, fallback):
    language = language if language in formats.LANGUAGES else formats.LANGUAGES[0]
    params = params or {}
    text = _text(code, params)
    if text is not None:
        values = {name: _formatted(name, value, language) for name, value in params.items()}
        try:
            return _gettext(language, text) % values
        except (KeyError, TypeError, ValueError):
            pass    # a parameter the text needs is missing: the service's words, then
    return fallback or _gettext(language, NOTHING_SAID)


def _text(code, params):
    if str(params.get("min_length")) == "1" and code in AT_LEAST_ONE:
        return AT_LEAST_ONE[code]
    return TEXTS.get(code)


def _formatted(name, value, language):
    kind = PARAM_KINDS.get(name)
    if kind is None:
        return value
    try:
        return _FORMATS[kind](value, language)
    except (ArithmeticError, TypeError, ValueError):
        return value        # not the kind it should be: as the service sent it


def _gettext(language, text):
    return translations(LOCALE_DIR, language).gettext(text)
