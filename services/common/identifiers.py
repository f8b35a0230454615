"""Identifiers a person sees, checked by their standard.

Personal codes (isikukood) and EICs come from python-stdnum. The Estonian payment
reference number (viitenumber) is not in stdnum: its check digit is the 7-3-1
method of the Estonian Banking Association, written out here.
"""
from stdnum.ee import ik
from stdnum.eu import eic

from services.common.validation import rule_error

REFERENCE_WEIGHTS = (7, 3, 1)


def reference_check_digit(base: str) -> str:
    """Check digit of a reference number's base: weights 7,3,1 from the right,
    the digit that brings the weighted sum up to the next multiple of ten."""
    if not base.isdigit():
        raise ValueError("a reference number has only digits")
    total = sum(int(d) * REFERENCE_WEIGHTS[i % 3] for i, d in enumerate(reversed(base)))
    return str((10 - total % 10) % 10)


def make_reference_number(base: str) -> str:
    return base + reference_check_digit(base)


def is_valid_reference_number(number: str) -> bool:
    """2 to 20 digits, the last one the 7-3-1 check digit of the rest."""
    number = (number or "").strip()
    if not (number.isdigit() and 2 <= len(number) <= 20):
        return False
    return reference_check_digit(number[:-1]) == number[-1]


def valid_personal_code(code: str) -> str:
    """The compact personal code, or ValueError saying why it is not one."""
    compact = ik.compact(code or "")
    if not ik.is_valid(compact):
        raise rule_error("personal-code-invalid", "not a valid Estonian personal code")
    return compact


def valid_eic(code: str) -> str:
    compact = eic.compact(code or "")
    if not eic.is_valid(compact):
        raise rule_error("eic-invalid", "not a valid EIC (Energy Identification Code)")
    return compact
