"""What a mandate can allow (API.md). A customer acting for themselves has all."""
SCOPES = (
    "contract:read", "contact:write", "readings:read", "readings:write", "invoices:read",
    "payments:write", "feedback:write", "consumption-points:claim",
)

# readings:write implies readings:read
IMPLIED = {"readings:write": ("readings:read",)}


def expand(scopes):
    granted = set(scopes)
    for scope in list(granted):
        granted.update(IMPLIED.get(scope, ()))
    return sorted(granted)
