"""ExactNumeric on SQLite, whose NUMERIC is a binary double: Decimals of the column's
scale in and out, no float either way, and bound values that compare as numbers.
(PostgreSQL: tests/integration/test_money_types.py runs billing on both.)"""
from decimal import Decimal

import pytest
import sqlalchemy as sa

from services.billing.money import KWH, MONEY, exact, exact_select, to_cents

metadata = sa.MetaData()
amounts = sa.Table("amounts", metadata, sa.Column("total", MONEY), sa.Column("paid", MONEY),
                   sa.Column("kwh", KWH))


@pytest.fixture
def conn():
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(amounts), [
            {"total": Decimal("0.10"), "paid": "0.20", "kwh": 300},
            {"total": Decimal("0.20"), "paid": Decimal("0.10"), "kwh": Decimal("12.3456")}])
        yield connection
    engine.dispose()


def test_values_and_sql_arithmetic_come_back_as_decimals_of_the_scale(conn):
    rows = conn.execute(sa.select(amounts.c.total, amounts.c.kwh,
                                  (amounts.c.total + amounts.c.paid).label("sum"))).all()
    assert rows == [(Decimal("0.10"), Decimal("300.000"), Decimal("0.30")),
                    (Decimal("0.20"), Decimal("12.346"), Decimal("0.30"))]
    assert [str(r.sum) for r in rows] == ["0.30", "0.30"]   # not 0.30000000000000004
    total = conn.execute(sa.select(sa.func.sum(amounts.c.total + amounts.c.paid))).scalar()
    assert total == Decimal("0.60") and str(total) == "0.60"


def test_a_bound_amount_compares_as_a_number(conn):
    # a text parameter would compare as text on SQLite: 0.10 > '0' is false there
    assert conn.execute(sa.select(sa.func.count()).where(
        amounts.c.total - amounts.c.paid > 0)).scalar() == 1
    def total_above(amount):   # a sum SQL compares is rounded first: 0.1 + 0.2 > 0.3
        total = sa.func.round(sa.func.sum(amounts.c.total), 2, type_=MONEY)   # doubles
        return conn.execute(sa.select(total).having(total > amount)).scalar()
    assert (total_above(Decimal("0.29")), total_above(Decimal("0.30"))) == (
        Decimal("0.30"), None)


def test_a_text_query_reads_its_exact_columns_through_the_type(conn):
    query = sa.text("SELECT total - paid AS open FROM amounts ORDER BY kwh")
    assert conn.execute(exact_select(query, open=MONEY)).scalars().all() == [
        Decimal("0.10"), Decimal("-0.10")]
    with pytest.raises(TypeError, match="float"):   # declared, but not wrapped
        conn.execute(query.columns(open=MONEY)).all()


def test_no_float_in():
    with pytest.raises(sa.exc.StatementError, match="float"):
        engine = sa.create_engine("sqlite://")
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(sa.insert(amounts).values(total=0.1, paid=0, kwh=0))
    for amount in (0.1, True):
        with pytest.raises(TypeError):
            exact(amount)
        with pytest.raises(TypeError):
            to_cents(amount)
    assert exact("12.34") == Decimal("12.34") and to_cents(1) == Decimal("1.00")
