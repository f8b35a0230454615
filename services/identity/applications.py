"""Third parties' applications that customers may share their data with.

An operator registers one (name, the purpose it states, its redirect URIs); it
gets a client_id and a client secret, shown once and kept as an argon2 hash as
operators' passwords are. At the token endpoint an application authenticates
with them (HTTP Basic or the form's client_id and client_secret).
"""
import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.errors import NotFound, Unauthenticated, ValidationFailed
from services.identity.models import sharing_applications

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a client secret anyone has")


def view(row):
    return {"client_id": row["client_id"], "name": row["name"], "purpose": row["purpose"],
            "redirect_uris": list(row["redirect_uris"]),
            "created_at": row["created_at"].isoformat(),
            "disabled_at": row["disabled_at"].isoformat() if row["disabled_at"] else None}


def register(uow, application, operator):
    """A new application: its view and, this once, its secret."""
    secret = secrets.token_urlsafe(32)
    row = {"client_id": f"vool-{secrets.token_hex(12)}", "name": application.name,
           "purpose": application.purpose,
           "redirect_uris": list(dict.fromkeys(application.redirect_uris)),
           "secret_hash": _hasher.hash(secret), "created_by": f"operator:{operator}",
           "created_at": uow.now, "disabled_at": None}
    uow.session.execute(sa.insert(sharing_applications).values(**row))
    return {**view(row), "client_secret": secret}


def all_of(uow):
    rows = uow.session.execute(sa.select(sharing_applications)
                               .order_by(sharing_applications.c.created_at)).mappings()
    return [view(r) for r in rows]


def find(uow, client_id):
    """The live application of ``client_id``, or None."""
    row = uow.session.execute(sa.select(sharing_applications).where(
        sharing_applications.c.client_id == client_id)).mappings().first()
    return None if row is None or row["disabled_at"] is not None else row


def with_redirect(uow, client_id, redirect_uri):
    """The application, if ``redirect_uri`` is one of its own, matched exactly
    (RFC 6749 §3.1.2.3: no prefix, no pattern)."""
    row = find(uow, client_id)
    if row is None:
        raise NotFound(f"no application {client_id!r}", code="unknown-client")
    if redirect_uri not in row["redirect_uris"]:
        raise ValidationFailed.field("redirect_uri", "is not one the application registered",
                                     "redirect-uri-mismatch")
    return row


def authenticate(uow, client_id, client_secret):
    """The application whose credentials these are; Unauthenticated (invalid_client)
    otherwise. An unknown client costs the same hash as a known one."""
    row = find(uow, client_id) if client_id else None
    try:
        _hasher.verify(row["secret_hash"] if row else _DUMMY_HASH, client_secret or "")
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise Unauthenticated("the client is not known or its secret is wrong",
                              code="invalid-client")
    return row
