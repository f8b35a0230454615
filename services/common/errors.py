"""Typed errors that cross RPC.

Each is registered with nameko so that a caller gets the same class back, with
its arguments, instead of a generic RemoteError. The gateway maps each class to
an HTTP status and a problem type in one table (services/gateway/problems.py).
"""
from nameko.exceptions import deserialize_to_instance


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
        from services.common.validation import field_error   # validation imports us
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
