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


def test_each_register_is_priced_with_its_own_price_before_the_plans_general_one():
    components = [
        ("energy", "T1", Decimal("0.146")), ("energy", "T2", Decimal("0.098")),
        ("network", None, Decimal("0.05")), ("excise", None, Decimal("0.0021")),
    ]
    lines = price_lines(components, {"T1": 100, "T2": 33})
    assert [(l["kind"], l["register"], l["kwh"], l["net"]) for l in lines] == [
        ("energy", "T1", 100, Decimal("14.60")),
        ("network", "T1", 100, Decimal("5.00")),
        ("excise", "T1", 100, Decimal("0.21")),
        ("energy", "T2", 33, Decimal("3.23")),     # 3.234 -> 3.23
        ("network", "T2", 33, Decimal("1.65")),
        ("excise", "T2", 33, Decimal("0.07")),     # 0.0693 -> 0.07
    ]


def test_a_register_specific_price_wins_over_the_general_one():
    components = [("energy", None, Decimal("0.10")), ("energy", "T2", Decimal("0.05"))]
    lines = price_lines(components, {"T1": 10, "T2": 10})
    assert [(l["register"], l["unit_price"]) for l in lines] == [
        ("T1", Decimal("0.10")), ("T2", Decimal("0.05"))]


def test_zero_consumption_costs_nothing_but_is_shown():
    lines = price_lines([("energy", None, Decimal("0.1"))], {"T1": 0})
    assert lines == [{"kind": "energy", "register": "T1", "kwh": 0,
                      "unit_price": Decimal("0.1"), "net": Decimal("0.00")}]
