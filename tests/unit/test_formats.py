"""One set of formats for the portal, e-mails and PDFs, in et and en (Babel)."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from services.common import formats


@pytest.mark.parametrize("language, expected", [
    ("et", ("16.12.2026", "16.12.2026", "detsember 2026", "1 234,50 €", "-97,02 €")),
    ("en", ("16 December 2026", "16 Dec 2026", "December 2026", "€1,234.50", "-€97.02")),
])
def test_dates_periods_and_money_read_as_customers_write_them(language, expected):
    assert (formats.day(date(2026, 12, 16), language),
            formats.day("2026-12-16", language, short=True),
            formats.month("2026-12", language),
            formats.money(Decimal("1234.5"), language),
            formats.money("-97.02", language)) == expected


def test_moments_are_shown_in_tallinn_time_winter_and_summer():
    # 10:02 UTC is 12:02 in Tallinn in winter (EET) and 13:02 in summer (EEST)
    assert formats.moment(datetime(2026, 12, 2, 10, 2, tzinfo=timezone.utc), "et") == \
        "02.12.2026 12:02"
    assert formats.moment("2026-07-02T10:02:00+00:00", "en") == "2 July 2026, 13:02"


def test_unit_prices_and_quantities_keep_their_decimals():
    assert formats.money(Decimal("0.112340"), "et", places=6) == "0,112340 €"
    assert formats.money(Decimal("0.112340"), "en", places=6) == "€0.112340"
    assert formats.number(Decimal("12345.5"), "et") == "12 345,5"
    assert formats.number(Decimal("24"), "en") == "24"


def test_spaces_are_plain_so_that_amounts_can_be_searched_and_copied():
    for text in (formats.money(Decimal("1234567.89"), "et"), formats.number(1234567, "et"),
                 formats.moment("2026-12-02T10:02:00+00:00", "et")):
        assert "\u00a0" not in text and "\u202f" not in text


def test_an_unknown_language_reads_as_estonian():
    assert formats.money("5.5", "fi") == "5,50 €"
    assert formats.day("2026-03-01", "fi") == "01.03.2026"


def test_a_typed_date_is_read_day_first_as_the_locale_writes_it_or_iso():
    from datetime import date
    for language in ("et", "en"):
        for typed in ("16.12.2026", "16/12/2026", "16. 12. 2026", "2026-12-16", " 16-12-2026 "):
            assert formats.parse_day(typed, language) == date(2026, 12, 16), (language, typed)
        # no guessing: a month 13, a 31st of February, a two-digit year, words
        for typed in ("12.31.2026", "31.02.2026", "16.12.26", "2026-13-01", "eile", "", None):
            assert formats.parse_day(typed, language) is None, (language, typed)
    assert formats.typed_day("2026-03-01", "en") == "01.03.2026"   # as the inputs show it
