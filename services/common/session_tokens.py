"""A session is known by the SHA-256 of its token: identity stores it under that
key and names it so in ``session_ended``, and the gateway keys its cache of
identity's answers on it, so neither keeps the token itself."""
import hashlib
from datetime import timedelta

#: the longest an answer about a session is reused without asking identity again
#: (identity says until when; the gateway never goes beyond this either, so a
#: clock that differs between their hosts cannot stretch it)
MAX_REUSE = timedelta(seconds=15)


def session_key(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
