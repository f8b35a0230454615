from datetime import date
from decimal import Decimal

import pytest

from services.billing.money import money_text, to_cents
from services.billing.pricing import price_lines


@pytest.mark.parametrize("amount, cents", [
    ("0.125", "0.13"), ("0.124999", "0.12"), ("-0.125", "-0.13"), ("2.5", "2.50"),
    ("38.7", "38.70"), ("0.005", "0.01"), ("0.0049999", "0.00"),
])
def test_amounts_round_to_cents_half_away_from_zero(amount, cents):
    assert to_cents(Decimal(amount)) == Decimal(cents)
    assert money_text(Decimal(amount)) == cents


SINCE = date(2024, 1, 1)
START, END = date(2026, 1, 1), date(2026, 1, 31)


def always(kind, register, price):
    return (kind, register, Decimal(price), SINCE, None)


def test_each_register_is_priced_with_its_own_price_before_the_plans_general_one():
    components = [always("energy", "T1", "0.146"), always("energy", "T2", "0.098"),
                  always("network", None, "0.05"), always("excise", None, "0.0021")]
    lines = price_lines(components, {"T1": 100, "T2": 33}, START, END)
    assert [(l["kind"], l["register"], l["kwh"], l["net"]) for l in lines] == [
        ("energy", "T1", 100, Decimal("14.60")),
        ("network", "T1", 100, Decimal("5.00")),
        ("excise", "T1", 100, Decimal("0.21")),
        ("energy", "T2", 33, Decimal("3.23")),     # 3.234 -> 3.23
        ("network", "T2", 33, Decimal("1.65")),
        ("excise", "T2", 33, Decimal("0.07")),     # 0.0693 -> 0.07
    ]


def test_a_register_specific_price_wins_over_the_general_one():
    components = [always("energy", None, "0.10"), always("energy", "T2", "0.05")]
    lines = price_lines(components, {"T1": 10, "T2": 10}, START, END)
    assert [(l["register"], l["unit_price"]) for l in lines] == [
        ("T1", Decimal("0.10")), ("T2", Decimal("0.05"))]


def test_zero_consumption_costs_nothing_but_is_shown():
    [line] = price_lines([always("energy", None, "0.1")], {"T1": 0}, START, END)
    assert (line["kwh"], line["net"]) == (0, Decimal("0.00"))


def test_a_price_change_inside_the_interval_splits_the_kwh_by_days():
    components = [("energy", None, Decimal("0.10"), SINCE, date(2026, 1, 20)),
                  ("energy", None, Decimal("0.20"), date(2026, 1, 21), None)]
    # 30 days (Jan 2 .. Jan 31): 19 at the old price, 11 at the new one
    old, new = price_lines(components, {"T1": 300}, START, END)
    assert (old["period_from"], old["period_to"]) == (date(2026, 1, 2), date(2026, 1, 20))
    assert (new["period_from"], new["period_to"]) == (date(2026, 1, 21), date(2026, 1, 31))
    assert (old["kwh"], new["kwh"]) == (Decimal("190.000"), Decimal("110.000"))
    assert (old["net"], new["net"]) == (Decimal("19.00"), Decimal("22.00"))


def test_split_shares_add_up_to_the_consumption_exactly():
    components = [("energy", None, Decimal("0.10"), SINCE, date(2026, 1, 10)),
                  ("energy", None, Decimal("0.11"), date(2026, 1, 11), date(2026, 1, 20)),
                  ("energy", None, Decimal("0.12"), date(2026, 1, 21), None)]
    lines = price_lines(components, {"T1": 100}, START, END)
    assert [l["kwh"] for l in lines] == [Decimal("30.000"), Decimal("33.333"), Decimal("36.667")]
    assert sum(l["kwh"] for l in lines) == 100
