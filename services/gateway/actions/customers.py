"""A customer's own data they change: contact details, claims of consumption
points, messages to the service desk."""
from services.contracts.api import Claim, ContactChange
from services.gateway.auth import actor
from services.notifications.api import Feedback


def change_contact(services, principal, cid, change: ContactChange):
    """Only the fields given change; returns the customer."""
    return services.call("contracts", "change_contact", cid,
                         change.model_dump(exclude_unset=True), actor(principal))


def claim_point(services, principal, cid, claim: Claim):
    """A consumption point recorded under someone else, for the desk to decide."""
    return services.call("contracts", "claim_consumption_point", cid, claim.model_dump(),
                         actor(principal))


def write_to_desk(services, principal, cid, feedback: Feedback):
    return services.call("notifications", "open_case", cid, feedback.model_dump(),
                         actor(principal))
