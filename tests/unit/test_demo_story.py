"""The demo's history: its reading days, billing periods and bank statement."""
import base64
from datetime import date
from decimal import Decimal

from services import demo_story
from services.billing.statements import parse_statement


def test_a_reading_on_every_reading_day_after_the_start_and_before_today():
    days = demo_story.reading_days(date(2025, 9, 1), 20, date(2026, 1, 20))
    assert days == [date(2025, 9, 20), date(2025, 10, 20), date(2025, 11, 20),
                    date(2025, 12, 20)]                     # not today's: she reads it herself


def test_use_is_seasonal_and_the_same_every_run():
    january, july = (demo_story.use_in(date(2026, m, 15), "T1", "BASIC") for m in (1, 7))
    assert january > july > 0
    assert demo_story.use_in(date(2026, 1, 15), "T1", "BASIC") == january


def test_every_month_from_the_first_through_last_month_is_billed():
    assert demo_story.periods(date(2025, 11, 1), date(2026, 2, 3)) == [
        "2025-11", "2025-12", "2026-01"]


def test_the_statement_is_one_billing_reads_as_a_bank_sends_it():
    xml = base64.b64decode(demo_story.statement(
        [("DEMO-1", "1000013", Decimal("123.45"), "Õie Mäger")], date(2026, 12, 3)))
    parsed = parse_statement(xml)
    [entry] = parsed.entries
    assert (entry.entry_id, entry.amount, entry.reference_no, entry.debtor_name) == (
        "DEMO-1", Decimal("123.45"), "1000013", "Õie Mäger")
    assert parsed.account_iban == demo_story.VOOL_IBAN
