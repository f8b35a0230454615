import pytest

from services.common.identifiers import (is_valid_reference_number, make_reference_number,
                                         reference_check_digit, valid_eic, valid_personal_code)


@pytest.mark.parametrize("base, check", [
    # worked by hand: weights 7,3,1 from the right, up to the next ten
    ("1234", "4"),        # 4*7 + 3*3 + 2*1 + 1*7 = 46 -> 4
    ("12345678", "0"),    # 150 -> 0
    ("100001", "2"),      # 1*7 + 1*1 = 8 -> 2
    ("5", "5"),           # 35 -> 5
])
def test_the_7_3_1_check_digit(base, check):
    assert reference_check_digit(base) == check
    assert make_reference_number(base) == base + check


@pytest.mark.parametrize("number, valid", [
    ("12344", True), ("123456780", True), ("12345", False), ("1", False),
    ("12a44", False), ("", False), ("1" * 21, False),
])
def test_reference_numbers_are_checked(number, valid):
    assert is_valid_reference_number(number) is valid


def test_personal_codes_and_eics_follow_their_standards():
    assert valid_personal_code(" 37605030299 ") == "37605030299"
    with pytest.raises(ValueError, match="personal code"):
        valid_personal_code("37605030290")   # wrong check digit
    with pytest.raises(ValueError, match="personal code"):
        valid_personal_code("37613030299")   # no 13th month
    assert valid_eic("38ZEE-00000001-1") == "38ZEE-00000001-1"
    with pytest.raises(ValueError, match="EIC"):
        valid_eic("38ZEE-00000001-A")
