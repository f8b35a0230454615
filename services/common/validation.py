"""Argument validation at the entry of every RPC method, with pydantic.

A pydantic ValidationError becomes our ValidationFailed, each error naming the
field by its dotted path (``meter.registers.1.digits``).
"""
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from services.common.errors import ValidationFailed, field_error

#: nothing Vool deals in happened before this
EARLIEST_DATE = date(2000, 1, 1)


def rule_error(code, message, **params):
    """What a validator raises when ``value`` breaks the rule ``code``: a ValueError
    that field_errors() turns into the field error ``code`` with ``params`` (a plain
    ValueError would be pydantic's ``value-error``, naming no rule). ``message`` is
    said as it is."""
    return PydanticCustomError(code, message, params)


def operating_date(value: date, field, today, ahead_days):
    """``value`` when it lies between EARLIEST_DATE and ``ahead_days`` after
    today; else ValidationFailed naming ``field`` (a year 1 or 9999 is a typo that
    would otherwise send date arithmetic off the calendar or loop for centuries)."""
    latest = today + timedelta(days=ahead_days)
    if not EARLIEST_DATE <= value <= latest:
        raise ValidationFailed.field(field, f"must lie between {EARLIEST_DATE} and {latest}",
                                     "date-out-of-range", earliest=EARLIEST_DATE.isoformat(),
                                     latest=latest.isoformat())
    return value


def sweep_day(as_of, today):
    """A sweep's ``as_of`` (YYYY-MM-DD text, default today) as a date: a sweep looks
    at most a day ahead (a later day would act on what has not happened yet)."""
    try:
        day = date.fromisoformat(as_of) if as_of else today
    except (TypeError, ValueError):
        raise ValidationFailed.field("as_of", "a date, YYYY-MM-DD") from None
    return operating_date(day, "as_of", today, ahead_days=1)


#: PostgreSQL text cannot hold it, and no name, address, message or file needs it
NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (U+0000) characters"
NUL_CODE = "nul-character"


def refuse_nul(value, field=""):
    """ValidationFailed naming the first field whose key or text contains NUL."""
    if isinstance(value, str):
        if NUL in value:
            raise ValidationFailed.field(field or "body", NUL_MESSAGE, NUL_CODE)
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{field}.{key}" if field else str(key)
            if NUL in str(key):
                raise ValidationFailed.field(path.replace(NUL, ""), NUL_MESSAGE, NUL_CODE)
            refuse_nul(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(item, f"{field}.{index}" if field else str(index))


class Shape(BaseModel):
    """Base of every argument and payload model: unknown fields are an error."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _json_safe(params):
    return {key: value for key, value in (params or {}).items()
            if isinstance(value, (str, int, float, bool)) and key != "error"}


def field_errors(exc: ValidationError, prefix=""):
    """pydantic's errors as field errors, each with pydantic's error type as its
    code (``int-parsing``, ``string-too-long`` with ``max_length``, ...)."""
    errors = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        field = ".".join(p for p in (prefix, path) if p) or "body"
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        errors.append(field_error(field, message, error["type"].replace("_", "-"),
                                  **_json_safe(error.get("ctx"))))
    return errors


def parse(model, payload, prefix=""):
    """Validate ``payload`` against ``model``; raise ValidationFailed naming fields."""
    if not isinstance(payload, dict):
        raise ValidationFailed.field(prefix or "body", "must be an object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = field_errors(exc, prefix)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise ValidationFailed(summary, errors) from None
