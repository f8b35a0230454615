"""Mandates the customer grants and revokes (only the customer themselves)."""
from services.gateway.auth import actor
from services.identity.api import MandateGrant


def grant_mandate(services, principals, principal, cid, grant: MandateGrant):
    granted = services.call("identity", "grant_mandate", cid, grant.model_dump(mode="json"),
                            actor(principal))
    # from now on the grantee is asked about on every call (the others hear
    # mandate_granted)
    principals.forget_persons([grant.grantee_person_code])
    return granted


def revoke_mandate(services, principal, cid, mandate_id):
    services.call("identity", "revoke_mandate", cid, mandate_id, actor(principal))
