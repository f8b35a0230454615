"""A service's refusal in the customer's words (minimal: the refusals helper of
issue #16 brings the catalog of codes in et and en; until then the service's own
message is said)."""


def describe(error, language):
    """One field error (``{"field", "code", "params", "message"}``) in ``language``."""
    return error.get("message") or ""


def describe_problem(code, params, language, fallback):
    """A problem's own code in ``language``; ``fallback`` when it is not known."""
    return fallback
