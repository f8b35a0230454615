"""Dates, months, numbers and money as customers read them, in Estonian and
English, by Babel (CLDR) — one set of formats for the portal, e-mails and PDFs.

Estonian: 16.12.2026, detsember 2026, 1 234,50 €; English: 16 December 2026,
December 2026, €1,234.50. Moments are shown in Europe/Tallinn time. Spaces are
plain: CLDR's no-break spaces would make a PDF's or an e-mail's text differ from
what a customer types when she searches it or copies an amount into her bank.
"""
import functools
import re
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_datetime, get_date_format
from babel.numbers import format_currency, format_decimal

LANGUAGES = ("et", "en")
TIME_ZONE = "Europe/Tallinn"
#: en_IE: day before month and the euro as the currency of the amounts
_LOCALES = {"et": "et_EE", "en": "en_IE"}
_DAY = {"et": "dd.MM.y", "en": "d MMMM y"}
_SHORT_DAY = {"et": "dd.MM.y", "en": "d MMM y"}
_MOMENT = {"et": "dd.MM.y HH:mm", "en": "d MMMM y, HH:mm"}
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})


#: parsed once: Babel parses a locale given as text on every call (a billing run's
#: invoice messages format hundreds of thousands of dates and amounts)
_LOCALE_OBJECTS = {language: Locale.parse(code) for language, code in _LOCALES.items()}


def _locale(language):
    return _LOCALE_OBJECTS.get(language, _LOCALE_OBJECTS["et"])


def _plain(text):
    return text.translate(_SPACES)


def as_date(value):
    """A date from a date, a datetime or ISO text (YYYY-MM-DD...)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@functools.lru_cache(maxsize=4096)   # few distinct days and months in a burst of messages
def day(value, language, short=False):
    """16.12.2026 / 16 December 2026 (``short``: 16 Dec 2026, for narrow columns)."""
    pattern = (_SHORT_DAY if short else _DAY).get(language, _DAY["et"])
    return format_date(as_date(value), pattern, locale=_locale(language))


@functools.lru_cache(maxsize=1024)
def month(period, language):
    """A billing period (YYYY-MM): detsember 2026 / December 2026."""
    year, number = (int(part) for part in str(period).split("-")[:2])
    return format_date(date(year, number, 1), "LLLL y", locale=_locale(language))


def moment(value, language):
    """An aware datetime (or ISO text) in Tallinn time: 02.12.2026 12:02."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return _plain(format_datetime(value, _MOMENT.get(language, _MOMENT["et"]),
                                  tzinfo=TIME_ZONE, locale=_locale(language)))


def money(amount, language, places=2):
    """1 234,50 € / €1,234.50; a unit price keeps its own decimals (0,112340 €)."""
    value = Decimal(str(amount))
    if places == 2:
        return _plain(format_currency(value, "EUR", locale=_locale(language)))
    pattern = "#,##0." + "0" * places
    return _plain(format_currency(value, "EUR", locale=_locale(language),
                                  format=_currency_pattern(language, pattern),
                                  currency_digits=False))


def _currency_pattern(language, number_pattern):
    return f"{number_pattern}\u00a0¤" if language == "et" else f"¤{number_pattern}"


def number(value, language):
    """A quantity with the decimals it has: 1 234,5 / 1,234.5 (kWh, a VAT rate)."""
    return _plain(format_decimal(Decimal(str(value)), locale=_locale(language),
                                 decimal_quantization=False))


#: a typed date: day, month and year (4 digits) with dots, slashes, dashes or spaces
_TYPED_DAY = re.compile(r"^\s*(\d{1,2})\s*[./\- ]\s*(\d{1,2})\s*[./\- ]\s*(\d{4})\s*$")
_ISO_DAY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def parse_day(text, language):
    """A date as a customer types it in ``language`` (16.12.2026, 16/12/2026), or
    ISO (2026-12-16); None when it is no date. The order of day and month is the
    locale's (Babel's short date), day first in both of ours."""
    text = str(text or "")
    if _ISO_DAY.match(text):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            return None
    typed = _TYPED_DAY.match(text)
    if not typed:
        return None
    # the locale's short date tells which comes first (CLDR: d.MM.yy, dd/MM/y, M/d/yy)
    pattern = get_date_format("short", locale=_locale(language)).pattern
    first, second, year = (int(part) for part in typed.groups())
    day_, month_ = ((first, second) if pattern.index("d") < pattern.index("M")
                    else (second, first))
    try:
        return date(year, month_, day_)
    except ValueError:
        return None


def typed_day(value, language):
    """A date as the date inputs show it: 16.12.2026 in both languages."""
    return as_date(value).strftime("%d.%m.%Y")
