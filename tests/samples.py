"""Valid identifiers and commands for tests."""
import itertools

from stdnum.ee import ik
from stdnum.eu import eic

_serials = itertools.count(1)


def eic_code(n):
    """A valid EIC for n: where the check character of one base comes out as "-"
    (which the standard excludes), the next area code is used."""
    for area in "EFGH":
        base = f"38ZE{area}-{n:08d}-"
        code = base + eic.calc_check_digit(base)
        if eic.is_valid(code):
            return code
    raise ValueError(f"no valid EIC for {n}")


def personal_code(born, serial):
    """An isikukood from its first ten digits: century-and-gender digit, YYMMDD,
    a serial of three; stdnum computes the check digit from a full-length code."""
    base = born + serial
    return base + ik.calc_check_digit(base + "0")


GRANDMOTHER = personal_code("4490313", "652")
GRANDCHILD = personal_code("6050712", "013")


def contract_command(n=None, person_code=GRANDMOTHER, name="Õie Mäger", registers=("T1",),
                     digits=6, initial=None, reading_day=15, start_date="2026-01-01",
                     tariff_plan=None):
    n = n if n is not None else next(_serials)
    initial = initial or {code: 1000 for code in registers}
    return {
        "person_code": person_code,
        "name": name,
        "contact": {"postal_address": "Pärnu mnt 1, Tallinn", "phone": "+37255512345",
                    "email": "oie@example.ee", "language": "et"},
        "consumption_point": {
            "eic": eic_code(n),
            "address": f"Narva mnt {n}, Tallinn",
            "meter": {"serial": f"MTR{n:06d}",
                      "registers": [{"code": c, "digits": digits} for c in registers]},
        },
        "tariff_plan": tariff_plan or ("DAYNIGHT" if len(registers) == 2 else "BASIC"),
        "reading_day": reading_day,
        "start_date": start_date,
        "initial_readings": initial,
    }
