"""What a client can send that no honest client does — NUL characters, JSON nested
thousands deep, broken CSV — is refused with a 4xx naming the place, never a 500,
and what was already accepted stays."""
import json
from datetime import date

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.billing import runs
from services.common.errors import ValidationFailed
from services.common.validation import operating_date, parse, refuse_nul, sweep_day
from services.contracts import signing
from services.contracts.api import SignContract
from services.contracts.models import metadata as contracts_metadata
from services.gateway.http import json_body
from services.metering import imports
from tests.samples import contract_command
from tests.unit.fakes import FakeDatabase
from tests.unit.test_readings import THRESHOLDS, db  # noqa: F401  (the fixture)


def request_with(body, content_type="application/json"):
    return Request(EnvironBuilder(method="POST", data=body, content_type=content_type)
                   .get_environ())


@pytest.mark.parametrize("body, field", [
    ({"name": "a\x00b"}, "name"),
    ({"contact": {"email": "x@y.ee", "phone": "5\x00"}}, "contact.phone"),
    ({"rows": [{"ok": "1"}, {"bad": "\x00"}]}, "rows.1.bad"),
    ({"a\x00": 1}, "a"),
])
def test_a_nul_character_is_refused_naming_its_field(body, field):
    with pytest.raises(ValidationFailed) as refused:
        json_body(request_with(json.dumps(body)))
    assert refused.value.errors[0]["field"] == field


def test_a_nul_in_a_form_field_is_refused():
    with pytest.raises(ValidationFailed):
        refuse_nul({"VK_USER_ID": "\x00"})


def test_json_nested_thousands_deep_is_refused_naming_the_body_not_a_crash():
    with pytest.raises(ValidationFailed) as refused:
        json_body(request_with("[" * 100_000 + "]" * 100_000))
    assert refused.value.errors == [{"field": "body", "message": "nested deeper than 32 levels",
                                     "code": "json-too-deep", "params": {"max_depth": "32"}}]


def test_json_as_deep_as_allowed_is_read_and_brackets_in_strings_do_not_count():
    deepest = "[" * 32 + "]" * 32
    assert json_body(request_with(deepest)) == json.loads(deepest)
    body = {"a": "[{" * 100 + '\\"[', "b": [[1]]}    # an escaped quote does not end it
    assert json_body(request_with(json.dumps(body))) == body


def import_csv(db, text):   # noqa: F811
    return imports.import_readings(db.unit_of_work, text, "operator:mari", 3, THRESHOLDS)


def test_a_row_with_more_values_than_the_header_is_rejected_and_the_rest_imported(db):  # noqa: F811
    report = import_csv(db, "meter_serial,reading_date,T1,T2\n"
                            "M1,2026-02-01,300,150,7\n"
                            "M1,2026-02-01,300,150\n")
    assert report["accepted"] == 1
    assert report["rejected"] == [{"line": 2, "reason": "more values than the header has columns"}]


def test_a_file_broken_half_way_keeps_what_came_before(db):  # noqa: F811
    huge = "x" * 200_000    # beyond the csv module's field limit
    report = import_csv(db, "meter_serial,reading_date,T1,T2\n"
                            "M1,2026-02-01,300,150\n"
                            f'M1,2026-02-15,"{huge}",1\n')
    assert report["accepted"] == 1
    [broken] = report["rejected"]
    assert broken["line"] == 3 and broken["reason"].startswith("not readable as CSV")


def test_a_csv_with_nul_is_refused(db):  # noqa: F811
    with pytest.raises(ValidationFailed) as refused:
        import_csv(db, "meter_serial,reading_date,T1\nM\x001,2026-02-01,300\n")
    assert refused.value.errors[0]["field"] == "file"


def test_a_register_of_thousands_of_digits_is_rejected_in_plain_words(db):  # noqa: F811
    report = import_csv(db, f"meter_serial,reading_date,T1,T2\nM1,2026-02-01,{'9' * 5000},1\n")
    [rejected] = report["rejected"]
    assert "is not a whole number of kWh a meter can show" in rejected["reason"]
    assert "sys.set_int_max_str_digits" not in rejected["reason"]


@pytest.mark.parametrize("start_date", ["0001-01-01", "1999-12-31", "9999-12-31"])
def test_a_contract_cannot_start_off_the_calendar_vool_works_in(start_date):
    db = FakeDatabase(contracts_metadata, "contracts")
    command = parse(SignContract, {**contract_command(n=7), "start_date": start_date})
    with pytest.raises(ValidationFailed) as refused, db.unit_of_work() as uow:
        signing.sign_contract(uow, command)
    assert refused.value.errors[0]["field"] == "start_date"


@pytest.mark.parametrize("period", ["0000-01", "1999-12", "0001-01"])
def test_a_billing_period_before_2000_is_refused(period):
    with pytest.raises(ValidationFailed) as refused:
        runs.period_bounds(period)
    assert refused.value.errors[0]["field"] == "period"


def test_a_sweep_date_is_refused_beyond_tomorrow_or_before_2000():
    today = date(2026, 11, 27)
    assert operating_date(date(2026, 11, 28), "as_of", today, ahead_days=1) == date(2026, 11, 28)
    for day in (date(1, 1, 1), date(9999, 12, 31), date(2026, 11, 29)):
        with pytest.raises(ValidationFailed) as refused:
            operating_date(day, "as_of", today, ahead_days=1)
        assert refused.value.errors[0]["field"] == "as_of"


def test_a_sweep_day_is_today_by_default_and_named_when_wrong():
    today = date(2026, 11, 27)
    assert sweep_day(None, today) == today
    assert sweep_day("2026-11-28", today) == date(2026, 11, 28)
    for wrong in ("2026-02-30", "tomorrow", "9999-12-31"):
        with pytest.raises(ValidationFailed) as refused:
            sweep_day(wrong, today)
        assert refused.value.errors[0]["field"] == "as_of"
