"""VAT per line's rate (issue #20): a line carries the VAT rate of its days, a
change of the rate splits a line as a price change does, and an invoice's VAT is
the sum over its rate groups, each group's VAT rounded once, half away from zero."""
from datetime import date
from decimal import Decimal

import pytest

from services.billing.money import vat_by_rate, vat_of
from services.billing.pricing import price_lines, vat_rate_on

RATES = [(date(2009, 7, 1), Decimal("20.00")), (date(2024, 1, 1), Decimal("22.00")),
         (date(2025, 7, 1), Decimal("24.00"))]


@pytest.mark.parametrize("net, rate, vat", [
    ("0.25", "22.00", "0.06"),      # 0.055: half away from zero
    ("-0.25", "22.00", "-0.06"),    # a credit's VAT: the negated VAT of its amount
    ("0.02", "24.00", "0.00"),      # 0.0048
    ("10.00", "24.00", "2.40"), ("0.00", "22.00", "0.00"),
])
def test_a_groups_vat_is_rounded_once_half_away_from_zero(net, rate, vat):
    assert vat_of(Decimal(net), Decimal(rate)) == Decimal(vat)


def test_an_invoices_vat_is_the_sum_of_each_rates_vat_each_rounded_once():
    lines = [{"net": Decimal("0.25"), "vat_rate": Decimal("22.00")},
             {"net": Decimal("0.25"), "vat_rate": Decimal("22.00")},
             {"net": Decimal("0.02"), "vat_rate": Decimal("24.00")},
             {"net": Decimal("0.02"), "vat_rate": Decimal("24.00")},
             {"net": Decimal("0.03"), "vat_rate": Decimal("24.00")}]
    groups = vat_by_rate(lines)
    # each group rounded once: 0.50 x 22 % = 0.11 (two lines rounded apart: 0.12);
    # 0.07 x 24 % = 0.0168 -> 0.02 (three lines rounded apart: 0.01 + 0.00 + 0.00)
    assert groups == [(Decimal("22.00"), Decimal("0.50"), Decimal("0.11")),
                      (Decimal("24.00"), Decimal("0.07"), Decimal("0.02"))]
    assert sum(vat for _, _, vat in groups) == Decimal("0.13")


def test_an_estimate_taken_back_at_its_own_rate_cancels_its_vat_exactly():
    estimate = {"net": Decimal("12.35"), "vat_rate": Decimal("22.00")}
    taken_back = {"net": Decimal("-12.35"), "vat_rate": Decimal("22.00")}
    actual = {"net": Decimal("11.10"), "vat_rate": Decimal("24.00")}
    assert vat_by_rate([estimate])[0][2] == -vat_by_rate([taken_back])[0][2] == \
        Decimal("2.72")
    assert vat_by_rate([taken_back, actual]) == [
        (Decimal("22.00"), Decimal("-12.35"), Decimal("-2.72")),
        (Decimal("24.00"), Decimal("11.10"), Decimal("2.66"))]


def test_lines_without_a_rate_are_at_the_invoices_rate():
    assert vat_by_rate([{"net": Decimal("1.00"), "vat_rate": None},
                        {"net": Decimal("1.00"), "vat_rate": Decimal("24.00")}],
                       Decimal("24.00")) == [(Decimal("24.00"), Decimal("2.00"),
                                              Decimal("0.48"))]


def test_a_vat_change_inside_an_interval_splits_its_lines_by_days():
    components = [("energy", None, Decimal("0.100000"), date(2024, 1, 1), None)]
    lines = price_lines(components, {"T1": 300}, date(2025, 6, 15), date(2025, 7, 15), RATES)
    assert [(l["period_from"], l["period_to"], l["kwh"], l["vat_rate"]) for l in lines] == [
        (date(2025, 6, 16), date(2025, 6, 30), Decimal("150.000"), Decimal("22.00")),
        (date(2025, 7, 1), date(2025, 7, 15), Decimal("150"), Decimal("24.00"))]
    assert sum(l["kwh"] for l in lines) == 300
    assert vat_rate_on(RATES, date(2025, 6, 30)) == Decimal("22.00")
    assert vat_rate_on(RATES, date(2009, 6, 30)) is None


def test_without_rates_the_lines_are_as_before():
    components = [("energy", None, Decimal("0.100000"), date(2024, 1, 1), None)]
    [line] = price_lines(components, {"T1": 300}, date(2025, 6, 15), date(2025, 7, 15))
    assert "vat_rate" not in line and line["kwh"] == 300
