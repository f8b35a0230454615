"""Gap-tolerant number sequences in a service's own table (contract numbers,
invoice numbers): one atomic upsert, so concurrent callers never share a number."""
from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(session):
    """``insert`` with ON CONFLICT for the database this session is on."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def next_number(session, table, name, count=1):
    """Take ``count`` numbers at once; returns the last one taken."""
    statement = upsert_insert(session)(table).values(name=name, last_value=count)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"last_value": table.c.last_value + count},
    ).returning(table.c.last_value)
    return session.execute(statement).scalar_one()
