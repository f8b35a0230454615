"""Notification texts: one Jinja2 template file per kind and language.

``templates/<language>/<kind>.txt`` defines two blocks, ``subject`` and ``body``;
both are plain text (e-mail is text/plain, the inbox shows text), so nothing is
HTML-escaped. A value a template names but the event did not carry is an error,
not a blank in a customer's message.
"""
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

LANGUAGES = ("et", "en")
DEFAULT_LANGUAGE = "et"
KINDS = (
    "reading_reminder", "reading_held", "reading_decided", "invoice_issued",
    "payment_received", "invoice_overdue", "mandate_granted", "mandate_revoked",
    "mandate_expired", "contract_signed", "claim_decided", "case_answered",
)
TEMPLATES = Path(__file__).parent / "templates"

MONTHS = {
    "et": ("jaanuar", "veebruar", "märts", "aprill", "mai", "juuni", "juuli", "august",
           "september", "oktoober", "november", "detsember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}


def _as_date(value):
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _filters(language):
    months = MONTHS[language]

    def day(value):
        d = _as_date(value)
        return f"{d:%d.%m.%Y}" if language == "et" else f"{d.day} {months[d.month - 1]} {d.year}"

    def month(value):
        """A billing period, YYYY-MM."""
        year, number = str(value).split("-")[:2]
        return f"{months[int(number) - 1]} {year}"

    def money(value):
        amount = f"{Decimal(str(value)):,.2f}"
        if language == "et":  # 1 234,56 €
            return amount.replace(",", " ").replace(".", ",") + " €"
        return f"€{amount}"

    return {"date": day, "month": month, "money": money}


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
