"""Notification texts: one Jinja2 template file per kind and language.

``templates/<language>/<kind>.txt`` defines two blocks, ``subject`` and ``body``;
both are plain text (e-mail is text/plain, the inbox shows text), so nothing is
HTML-escaped. A value a template names but the event did not carry is an error,
not a blank in a customer's message.
"""
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.common import formats

LANGUAGES = ("et", "en")
DEFAULT_LANGUAGE = "et"
KINDS = (
    "reading_reminder", "reading_held", "reading_decided", "invoice_issued",
    "payment_received", "invoice_overdue", "mandate_granted", "mandate_revoked",
    "mandate_expired", "contract_signed", "claim_decided", "case_answered",
)
TEMPLATES = Path(__file__).parent / "templates"

def _filters(language):
    """Dates, periods and money as the portal and the PDFs show them."""
    return {"date": lambda value: formats.day(value, language),
            "month": lambda period: formats.month(period, language),
            "money": lambda amount: formats.money(amount, language)}


def _environment(language):
    env = Environment(loader=FileSystemLoader(TEMPLATES / language), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(_filters(language))
    return env


_ENVIRONMENTS = {language: _environment(language) for language in LANGUAGES}


def language_of(value):
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def render(kind, language, values):
    """``(subject, body)`` of a notification of ``kind`` in ``language``."""
    template = _ENVIRONMENTS[language_of(language)].get_template(f"{kind}.txt")
    context = template.new_context(dict(values))
    subject = " ".join("".join(template.blocks["subject"](context)).split())
    body = "".join(template.blocks["body"](context)).strip()
    return subject, body
