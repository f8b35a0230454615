"""Our copy of identity's mandates, kept from its events, so that a reading
reminder also reaches whoever enters readings for the customer."""
from datetime import date, datetime

import sqlalchemy as sa

from services.common.sequences import upsert_insert
from services.notifications.models import mandates

READING_SCOPES = {"readings:read", "readings:write"}


def _day(value):
    return date.fromisoformat(value) if value else None


def _moment(value):
    return datetime.fromisoformat(value) if value else None


def remember(uow, event, data):
    """Upsert the mandate from any of its events (``data``: the event's, names
    filled in). Once revoked or expired it stays so, even if an older event about
    it arrives afterwards."""
    values = {
        "grantor_customer_id": data["grantor_customer_id"], "grantor_name": data["grantor_name"],
        "grantee_person_code": data["grantee_person_code"], "grantee_name": data["grantee_name"],
        "grantee_customer_id": data.get("grantee_customer_id"),
        "scopes": list(data["scopes"]),
        "consumption_point_ids": list(data.get("consumption_point_ids") or []),
        "valid_from": _day(data["valid_from"]), "valid_until": _day(data.get("valid_until")),
        "revoked_at": _moment(data.get("revoked_at")),
        "expired_at": event.occurred_at if event.event_type == "mandate_expired" else None,
    }
    statement = upsert_insert(uow.session)(mandates).values(mandate_id=data["mandate_id"],
                                                            **values)
    kept = {"revoked_at", "expired_at"}
    uow.session.execute(statement.on_conflict_do_update(
        index_elements=[mandates.c.mandate_id],
        set_={**{key: statement.excluded[key] for key in values if key not in kept},
              **{key: sa.func.coalesce(mandates.c[key], statement.excluded[key])
                 for key in kept}}))


def covers_readings(mandate, point_id, today):
    """A live mandate with a readings scope over this consumption point (no
    points listed means every point of the grantor; ``point_id`` None: any)."""
    return (mandate["revoked_at"] is None and mandate["expired_at"] is None
            and mandate["valid_from"] <= today
            and (mandate["valid_until"] is None or today <= mandate["valid_until"])
            and bool(READING_SCOPES & set(mandate["scopes"]))
            and (point_id is None or not mandate["consumption_point_ids"]
                 or point_id in mandate["consumption_point_ids"]))


def reading_delegates_of(uow, customer_ids, today):
    """``{grantor: [(grantee_customer_id, grantor_name, point ids or [] for all)]}``:
    the live readings mandates of these grantors, in one query. A grantee who is
    not a customer has no inbox or contact details here, so cannot be told."""
    found = {}
    for row in uow.session.execute(sa.select(mandates).where(
            mandates.c.grantor_customer_id.in_(list(customer_ids)),
            mandates.c.grantee_customer_id.is_not(None))).mappings():
        if covers_readings(row, None, today):
            found.setdefault(row["grantor_customer_id"], []).append(
                (row["grantee_customer_id"], row["grantor_name"],
                 row["consumption_point_ids"]))
    return found


def covering(delegates, customer_id, point_id):
    """Of ``reading_delegates_of``'s entries for one grantor: those covering this
    point, once each, the grantor left out."""
    found = {}
    for holder, grantor_name, point_ids in delegates:
        if holder != customer_id and (not point_ids or point_id in point_ids):
            found.setdefault(holder, grantor_name)
    return sorted(found.items())
