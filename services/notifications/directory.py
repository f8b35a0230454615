"""Our copies of what contracts knows: each customer's contact details (where to
write, in which language) and where each consumption point is.

Kept from contracts' events, never asked for by RPC while notifying: a burst of
invoice events must not become a burst of calls to contracts.
"""
from dataclasses import dataclass

import sqlalchemy as sa

from services.common.sequences import upsert_insert
from services.notifications.models import contacts, points
from services.notifications.templates import language_of

CONTACT_COLUMNS = ("email", "phone", "language")


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    name: str = None
    email: str = None
    phone: str = None
    language: str = "et"

    def channel(self):
        """``(channel, address)`` beyond the inbox: e-mail where there is an
        address, else SMS where there is a phone, else none."""
        if self.email:
            return "email", self.email
        if self.phone:
            return "sms", self.phone
        return None, None


def _remember(uow, customer_id, as_of, values):
    """Upsert the known fields unless a newer event already set them (contracts'
    events travel on different queues and may arrive out of order)."""
    statement = upsert_insert(uow.session)(contacts).values(
        customer_id=customer_id, as_of=as_of, **values)
    uow.session.execute(statement.on_conflict_do_update(
        index_elements=[contacts.c.customer_id],
        set_={"as_of": as_of, **{key: statement.excluded[key] for key in values}},
        where=contacts.c.as_of <= as_of))


def contract_signed(uow, event):
    data = event.data
    contact = data.get("contact") or {}
    _remember(uow, data["customer_id"], event.occurred_at,
              {"name": data["name"], **{key: contact.get(key) for key in CONTACT_COLUMNS}})
    uow.session.execute(upsert_insert(uow.session)(points).values(
        consumption_point_id=data["consumption_point_id"], address=data["address"],
        contract_no=data["contract_no"]).on_conflict_do_nothing())


def contact_changed(uow, event):
    data = event.data
    changed = {key: value for key, value in data["after"].items() if key in CONTACT_COLUMNS}
    _remember(uow, data["customer_id"], event.occurred_at, {"name": data["name"], **changed})


def recipient(uow, customer_id):
    return recipients(uow, {customer_id})[customer_id]


def recipients(uow, customer_ids):
    """``{customer_id: Recipient}`` for each of ``customer_ids``, in one query."""
    known = {row["customer_id"]: Recipient(row["customer_id"], row["name"], row["email"],
                                           row["phone"], language_of(row["language"]))
             for row in uow.session.execute(sa.select(contacts).where(
                 contacts.c.customer_id.in_(list(customer_ids)))).mappings()}
    # one not heard of yet: the inbox, in Estonian
    return {customer_id: known.get(customer_id) or Recipient(customer_id)
            for customer_id in customer_ids}


def addresses_of(uow, point_ids):
    """``{consumption_point_id: address}`` of those we know, in one query."""
    return dict(uow.session.execute(sa.select(points.c.consumption_point_id, points.c.address)
                                    .where(points.c.consumption_point_id.in_(list(point_ids))))
                .all())
