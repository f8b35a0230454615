"""A session is known by the SHA-256 of its token: identity stores it under that
key and names it so in ``session_ended``, and the gateway keys its cache of
identity's answers on it, so neither keeps the token itself."""
import hashlib


def session_key(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
