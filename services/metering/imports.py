"""Readings imported by operators from a CSV file.

Columns: ``eic`` or ``meter_serial``, ``reading_date``, and one column per
register code (``T1``, ``T2``). Each row is validated like a single submission,
in its own transaction, so one bad row loses nothing else; the answer reports
the accepted, held and rejected rows by line number.
"""
import csv
import io

import sqlalchemy as sa
from pydantic import ValidationError

from services.common.errors import ValidationFailed, VoolError
from services.common.validation import field_errors, refuse_nul
from services.metering.models import meters
from services.metering.api import SubmitReading
from services.metering.readings import submit_reading

MAX_ROWS = 50_000


def _meter_for(uow, row):
    column, value = ("eic", row.get("eic")) if row.get("eic") else (
        "meter_serial", row.get("meter_serial"))
    if not value:
        return None, "give eic or meter_serial"
    found = uow.session.execute(sa.select(meters.c.consumption_point_id)
                                .where(getattr(meters.c, column) == value.strip())).first()
    return (found.consumption_point_id, None) if found else (None, f"no meter with {column} {value}")


def read_header(text):
    """``(reader, header)`` of the file; ValidationFailed (field file) when its header
    is unreadable or lacks the columns an import needs."""
    refuse_nul(text, "file")
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationFailed.field("file",
                                     f"the header is not readable as CSV: {exc}") from None
    if "reading_date" not in header or not ({"eic", "meter_serial"} & set(header)):
        raise ValidationFailed.field("file", "the header names eic or meter_serial, "
                                             "reading_date and the register codes")
    return reader, header


def count_lines(text):
    """How many rows an import of the file goes through (at most MAX_ROWS + 1)."""
    rows = 0
    try:
        for _ in csv.reader(io.StringIO(text)):
            rows += 1
    except csv.Error:   # the import stops there too
        pass
    return min(max(rows - 1, 0), MAX_ROWS + 1)


def import_readings(unit_of_work, text, operator, window_days, thresholds, progress=None):
    """``{accepted, held, rejected: [{line, reason}]}``; ``progress(done, total)``
    hears of each row handled."""
    reader, header = read_header(text)
    total = count_lines(text) if progress else 0
    report = {"accepted": 0, "held": 0, "rejected": []}
    rows, line = iter(reader), 1
    while True:
        if progress:
            progress(min(line - 1, total), total)
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:   # the file is broken from here on: what came before stays
            report["rejected"].append({"line": line + 1,
                                       "reason": f"not readable as CSV: {exc}"})
            break
        line += 1
        if line - 1 > MAX_ROWS:
            report["rejected"].append({"line": line, "reason": f"more than {MAX_ROWS} rows"})
            break
        if None in row:            # DictReader's key for values beyond the header
            report["rejected"].append({"line": line, "reason": "more values than the header "
                                                               "has columns"})
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        try:
            with unit_of_work() as uow:
                point_id, problem = _meter_for(uow, row)
                if problem:
                    report["rejected"].append({"line": line, "reason": problem})
                    continue
                registers = {code: _kwh(row[code]) for code in header
                             if code not in ("eic", "meter_serial", "reading_date") and row.get(code)}
                command = SubmitReading.model_validate({
                    "consumption_point_id": point_id, "reading_date": row.get("reading_date"),
                    "registers": registers, "source": "import", "submitted_by": operator})
                result = submit_reading(uow, command, window_days, thresholds)
        except ValidationError as exc:
            report["rejected"].append({"line": line, "reason": "; ".join(
                f"{e['field']}: {e['message']}" for e in field_errors(exc))})
            continue
        except VoolError as exc:
            report["rejected"].append({"line": line, "reason": str(exc)})
            continue
        except ValueError as exc:
            report["rejected"].append({"line": line, "reason": str(exc)})
            continue
        if result["status"] == "accepted":
            report["accepted"] += 1
        else:
            report["held"] += 1
    if progress:
        progress(total, total)
    return report


def _kwh(text):
    # no register has more than a dozen digits; the limit also keeps int() from
    # refusing thousands of digits with a message about Python
    if not text.isdigit() or len(text) > 15:
        raise ValueError(f"{text[:20]!r} is not a whole number of kWh a meter can show")
    return int(text)
