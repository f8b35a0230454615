"""Logging in through a bank and out."""
from services.common.session_tokens import session_key


def start_login(services, bank, return_url, browser_key=None, language="et",
                client_address=None):
    """The signed banklink request to post to ``bank``, whose pages speak ``language``
    (identity limits the logins ``client_address`` starts)."""
    return services.call("identity", "start_banklink_login", bank, return_url, browser_key,
                         language, client_address)


def finish_login(services, bank, fields, browser_key=None, client_address=None):
    """The bank's signed reply: a new session ``{token, expires_at, ...}``."""
    return services.call("identity", "finish_banklink_login", bank, fields, browser_key,
                         client_address)


def end_session(services, principals, token):
    """At once, here and (they hear session_ended) in the other replicas."""
    services.call("identity", "logout", token)
    principals.forget_session(session_key(token))
