"""Meter registers: the shape every service agrees on.

A meter has one register (T1, single rate) or two (T1 day, T2 night). Each
register counts whole kWh on a mechanical or electronic counter of ``digits``
digits, so its value is below 10**digits and passes zero after that.
"""
from pydantic import Field, field_validator

from services.common.errors import field_error
from services.common.validation import Shape

REGISTER_CODES = ("T1", "T2")
ALLOWED_REGISTER_SETS = ({"T1"}, {"T1", "T2"})


class Register(Shape):
    code: str
    digits: int = Field(ge=4, le=9)

    @field_validator("code")
    @classmethod
    def known_code(cls, value):
        if value not in REGISTER_CODES:
            raise ValueError(f"must be one of {', '.join(REGISTER_CODES)}")
        return value


def check_register_set(registers):
    codes = [r.code for r in registers]
    if len(set(codes)) != len(codes):
        raise ValueError("a register code appears twice")
    if set(codes) not in ALLOWED_REGISTER_SETS:
        raise ValueError("a meter has T1 alone (single rate) or T1 and T2 (day/night)")
    return registers


def register_value_errors(values, registers, field):
    """Field errors for a {code: value} map checked against a meter's registers."""
    errors = []
    digits = {r["code"]: r["digits"] for r in registers}
    for code in sorted(set(values) - set(digits)):
        errors.append(field_error(f"{field}.{code}", "this meter has no such register",
                                  "register-unknown", register=code))
    for code in sorted(set(digits) - set(values)):
        errors.append(field_error(f"{field}.{code}", "a value is required for every register",
                                  "register-missing", register=code))
    for code, value in values.items():
        if code not in digits:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(field_error(f"{field}.{code}", "must be a whole number of kWh",
                                      "register-not-whole", register=code))
        elif not 0 <= value < 10 ** digits[code]:
            errors.append(field_error(
                f"{field}.{code}", f"must be between 0 and {10 ** digits[code] - 1} "
                                   f"({digits[code]} digits)",
                "register-out-of-range", register=code, max=10 ** digits[code] - 1,
                digits=digits[code]))
    return errors
