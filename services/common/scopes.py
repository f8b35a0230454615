"""What a mandate can allow (API.md). A customer acting for themselves has all."""
SCOPES = (
    "contract:read", "contact:write", "readings:read", "readings:write", "invoices:read",
    "payments:write", "feedback:write", "consumption-points:claim",
    # authorise third-party applications to read the customer's data (no more of it
    # than the mandate's other scopes cover)
    "sharing:grant",
)

#: what a customer may let a third-party application read (OAuth scopes)
SHARING_SCOPES = ("readings:read", "invoices:read")

# readings:write implies readings:read
IMPLIED = {"readings:write": ("readings:read",)}


def expand(scopes):
    granted = set(scopes)
    for scope in list(granted):
        granted.update(IMPLIED.get(scope, ()))
    return sorted(granted)
