"""Typed errors that cross RPC.

Each is registered with nameko so that a caller gets the same class back, with
its arguments, instead of a generic RemoteError. The gateway maps each class to
an HTTP status and a problem type in one table (services/gateway/problems.py).
"""
from nameko.exceptions import deserialize_to_instance


def field_error(field, message, code=None, **params):
    """One field error: ``{field, message}`` for people, and ``code`` with its
    ``params`` naming the rule, for a client to say it in the customer's language.
    The params are text, as they would arrive anyway: nameko sends an error's
    arguments as text."""
    error = {"field": field, "message": message}
    if code:
        error["code"] = code
        if params:
            error["params"] = {key: str(value) for key, value in params.items()}
    return error


class VoolError(Exception):
    """Base of the errors a service raises on purpose.

    ``detail`` is for people; ``errors`` lists ``{field, message}``; ``code``,
    when given, names the exact rule that failed (it becomes the problem type).
    """

    def __init__(self, detail="", errors=None, code=None):
        self.detail = detail
        self.errors = list(errors or [])
        self.code = code or None
        # nameko sends the args as JSON-safe strings (None would arrive as "None")
        super().__init__(detail, self.errors, code or "")

    def __str__(self):
        return self.detail


@deserialize_to_instance
class ValidationFailed(VoolError):
    """Well-formed but invalid input. ``errors`` is ``[{field, message}]``."""

    @classmethod
    def field(cls, field, message, code=None, **params):
        """One field's error; ``code`` and ``params`` name the rule (see
        services/common/validation.py field_error)."""
        return cls(f"{field}: {message}", [field_error(field, message, code, **params)])


@deserialize_to_instance
class NotFound(VoolError):
    pass


@deserialize_to_instance
class Conflict(VoolError):
    pass


@deserialize_to_instance
class Forbidden(VoolError):
    pass


@deserialize_to_instance
class Unauthenticated(VoolError):
    pass


@deserialize_to_instance
class ServiceUnavailable(VoolError):
    pass


@deserialize_to_instance
class TooManyAttempts(VoolError):
    """Rate limited; ``retry_after`` seconds until the next attempt may pass."""

    def __init__(self, detail="", errors=None, code=None, retry_after=60):
        self.retry_after = int(retry_after)
        super().__init__(detail, errors, code)
        self.args = (detail, self.errors, code or "", self.retry_after)
