"""Typed errors that cross RPC.

Each is registered with nameko so that a caller gets the same class back, with
its arguments, instead of a generic RemoteError. The gateway maps each class to
an HTTP status and a problem type in one table (services/gateway/problems.py).
"""
from nameko.exceptions import deserialize_to_instance


class VoolError(Exception):
    """Base of the errors a service raises on purpose."""

    def __init__(self, detail="", errors=None):
        self.detail = detail
        self.errors = list(errors or [])
        super().__init__(detail, self.errors)

    def __str__(self):
        return self.detail


@deserialize_to_instance
class ValidationFailed(VoolError):
    """Well-formed but invalid input. ``errors`` is ``[{field, message}]``."""

    @classmethod
    def field(cls, field, message):
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


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
