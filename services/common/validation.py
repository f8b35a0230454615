"""Argument validation at the entry of every RPC method, with pydantic.

A pydantic ValidationError becomes our ValidationFailed, each error naming the
field by its dotted path (``meter.registers.1.digits``).
"""
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, ValidationError

from services.common.errors import ValidationFailed

#: nothing Vool deals in happened before this
EARLIEST_DATE = date(2000, 1, 1)


def operating_date(value: date, field, today, ahead_days):
    """``value`` when it lies between EARLIEST_DATE and ``ahead_days`` after
    today; else ValidationFailed naming ``field`` (a year 1 or 9999 is a typo that
    would otherwise send date arithmetic off the calendar or loop for centuries)."""
    latest = today + timedelta(days=ahead_days)
    if not EARLIEST_DATE <= value <= latest:
        raise ValidationFailed.field(field, f"must lie between {EARLIEST_DATE} and {latest}")
    return value


class Shape(BaseModel):
    """Base of every argument and payload model: unknown fields are an error."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def field_errors(exc: ValidationError, prefix=""):
    errors = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        field = ".".join(p for p in (prefix, path) if p) or "body"
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        errors.append({"field": field, "message": message})
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
