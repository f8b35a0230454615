"""Gap-tolerant number sequences in a service's own table (contract numbers,
invoice numbers): one atomic upsert, so concurrent callers never share a number."""
import sqlalchemy as sa


def next_number(session, table, name):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(name=name, last_value=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"last_value": table.c.last_value + 1},
    ).returning(table.c.last_value)
    return session.execute(statement).scalar_one()
