"""The services' refusals in the customer's language.

PLACEHOLDER of the portal-pages branch: the refusals helper's branch brings the
real catalog (every service code in et and en) and replaces this file at merge.
Until then a refusal reads as the service's own ``message`` (or ``fallback``),
so the pages can call the same two functions they will call afterwards.
"""


def describe(error, language):
    """One field error (``{"field", "code", "params", "message"}``) as a sentence."""
    return error.get("message") or error.get("code") or ""


def describe_problem(code, params, language, fallback):
    """A refusal that names no field, by its problem code."""
    return fallback
