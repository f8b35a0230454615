"""Notification texts: one Jinja2 template file per kind, in English, translated
through gettext.

``templates/<kind>.txt`` defines two blocks, ``subject`` and ``body``; both are
plain text (e-mail is text/plain, the inbox shows text), so nothing is
HTML-escaped. Each sentence is one message (``{% trans %}`` or ``_()``), Estonian
in ``locale/et/LC_MESSAGES/messages.po``. The bodies use ``{{ _(...) }}`` rather
than ``{% trans %}`` blocks because trim_blocks would eat the line's newline after
``{% endtrans %}``. A value a template names but the event did not carry is an
error, not a blank in a customer's message.
"""
import functools
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined

from services.common import formats
from services.common.translations import environments, translations

LANGUAGES = ("et", "en")
DEFAULT_LANGUAGE = "et"
KINDS = (
    "reading_reminder", "reading_held", "reading_decided", "invoice_issued",
    "payment_received", "invoice_overdue", "mandate_granted", "mandate_revoked",
    "mandate_expired", "contract_signed", "claim_decided", "case_answered",
    "reading_estimated", "credit_note_issued",
)
TEMPLATES = Path(__file__).parent / "templates"
LOCALE_DIR = Path(__file__).parent / "locale"

def _remembered(format_value, language):
    """``format_value(value, language)``, remembered per value: the customers of a
    billing run hear of one period, a few due dates and a few thousand amounts, and
    Babel takes tens of µs for each."""
    @functools.lru_cache(maxsize=16384)
    def remembered(value):
        return format_value(value, language)

    def formatted(value):
        try:
            return remembered(value)
        except TypeError:   # not hashable
            return format_value(value, language)
    return formatted


def _filters(language):
    """Dates, periods and money as the portal and the PDFs show them."""
    return {"date": _remembered(formats.day, language),
            "month": _remembered(formats.month, language),
            "money": _remembered(formats.money, language)}


def _environments():
    made = environments(FileSystemLoader(TEMPLATES), LOCALE_DIR, LANGUAGES,
                        undefined=StrictUndefined, autoescape=False,
                        trim_blocks=True, lstrip_blocks=True)
    for language, env in made.items():
        env.filters.update(_filters(language))
        env.globals.update(_direct_gettext(translations(str(LOCALE_DIR), language)))
    return made


def _direct_gettext(catalog):
    """``_()`` and ``{% trans %}`` as one plain call each: what Jinja's new-style
    gettext does (translate, then ``%`` the variables in; nothing to escape in
    plain text) without its three nested context calls, a third of a billing
    run's message rendering."""
    def gettext(text, **variables):
        return catalog.gettext(text) % variables
    return {"gettext": gettext, "_": gettext}


_ENVIRONMENTS = _environments()


def language_of(value):
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def render(kind, language, values):
    """``(subject, body)`` of a notification of ``kind`` in ``language``."""
    template = _ENVIRONMENTS[language_of(language)].get_template(f"{kind}.txt")
    context = template.new_context(dict(values))
    subject = " ".join("".join(template.blocks["subject"](context)).split())
    body = "".join(template.blocks["body"](context)).strip()
    return subject, body
