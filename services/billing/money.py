"""Money: Decimal EUR, the one rounding rule, and how exact values cross SQL.

Rounding rule: every amount that is stored or shown (a charge line, an invoice's
net, VAT and total) is rounded to whole cents, half away from zero
(ROUND_HALF_UP), at the moment it is computed from unrounded inputs; sums of
rounded lines are exact and are not rounded again.

Reading back (README, "Money on both stores"): every exact number billing keeps —
amounts, prices, kWh, VAT rates — is an ``ExactNumeric`` column, and whatever SQL
computes from one (``SUM``, ``a - b``, a window) is read through that type: a
Core expression over such columns has it already, a text query declares its exact
columns with ``exact_select``. The type gives a Decimal of the column's scale on
both stores and never lets a float in or out: SQLite keeps NUMERIC as a binary
double, so there the value leaves SQL as text (``CAST(... AS TEXT)``, 15
significant digits, exact for NUMERIC(14, 2)) and enters it as text that SQL turns
into a number (``CAST(? AS NUMERIC)``: a bare text parameter would compare as text,
``SUM(x) > '0'`` being false); a float that reaches the type anyway (an undeclared
column) is an error, not a rounding.
"""
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

CENT = Decimal("0.01")


def exact(value) -> Decimal:
    """A Decimal of a Decimal, an int or the text of a number; never of a float,
    whose binary value is not the amount meant."""
    if isinstance(value, (float, bool)):
        raise TypeError(f"an exact amount is never a {type(value).__name__}: {value!r}")
    return value if isinstance(value, Decimal) else Decimal(value)


def to_cents(amount) -> Decimal:
    return exact(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(amount) -> str:
    """Money as the API shows it: a string with two decimals."""
    return f"{to_cents(amount):.2f}"


class _ExactText(GenericFunction):
    """An exact value on its way out of SQL: as it is on PostgreSQL (psycopg2 gives
    a Decimal), as text on SQLite (the driver would give a float)."""
    name = "exact_text"
    inherit_cache = True


@compiles(_ExactText)
def _as_it_is(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_ExactText, "sqlite")
def _as_text(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS TEXT)"


class _ExactNumber(GenericFunction):
    """An exact value on its way into SQL: as it is on PostgreSQL, a number made of
    its text on SQLite."""
    name = "exact_number"
    inherit_cache = True


@compiles(_ExactNumber)
def _bound_as_it_is(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(_ExactNumber, "sqlite")
def _bound_as_number(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS NUMERIC)"


class _SQLiteText(sa.Numeric):
    """NUMERIC in SQLite's DDL; values pass as text, untouched by SQLAlchemy (whose
    Numeric would bind and read them as floats there)."""

    def bind_processor(self, dialect):
        return None

    def result_processor(self, dialect, coltype):
        return None


class ExactNumeric(sa.types.TypeDecorator):
    """NUMERIC(precision, scale) whose values are Decimals of that scale, both ways,
    on PostgreSQL and SQLite; a float is refused both ways."""
    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision, scale):
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale
        self._places = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return _SQLiteText(self.precision, self.scale)
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale))

    def column_expression(self, column):
        return _ExactText(column, type_=self)

    def bind_expression(self, bindvalue):
        return _ExactNumber(bindvalue, type_=self)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = exact(value).quantize(self._places, rounding=ROUND_HALF_UP)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError(f"a float {value!r} came out of SQL for an exact column: read it "
                            "through ExactNumeric (exact_select for a text query)")
        return exact(value).quantize(self._places, rounding=ROUND_HALF_UP)


MONEY = ExactNumeric(14, 2)
UNIT_PRICE = ExactNumeric(12, 6)
KWH = ExactNumeric(14, 3)   # a price change inside an interval splits its kWh by days
VAT_RATE = ExactNumeric(5, 2)


def exact_select(query: sa.TextClause, *columns: str, **exact_columns):
    """A text query's rows with its exact columns (``name=MONEY``...) read through
    their type; ``columns`` names the others. Wrapped in a SELECT so that the type's
    column expression applies (SQLAlchemy cannot reach into the text itself)."""
    typed = query.columns(*(sa.column(name) for name in columns), **exact_columns)
    return sa.select(*typed.subquery().c)


def vat_of(net, rate) -> Decimal:
    """The VAT of ``net`` at ``rate`` percent, rounded once to the cent, half away
    from zero (a credit's VAT is the negated VAT of its amount)."""
    return to_cents(exact(net) * exact(rate) / 100)


def vat_by_rate(lines, default_rate=None):
    """An invoice's VAT by rate group: ``[(rate, net, vat)]``, lowest rate first.

    Each line carries the VAT rate of the days it charges (``vat_rate``; one
    without, from before the rates were per line, is at ``default_rate``); each
    group's net is the exact sum of its lines, its VAT rounded once. The invoice's
    VAT is the sum of the groups' VAT; the SQL of the billing run (runs.py) is this."""
    groups = {}
    for line in lines:
        rate = line.get("vat_rate")
        rate = exact(default_rate if rate is None else rate)
        groups[rate] = groups.get(rate, Decimal("0.00")) + exact(line["net"])
    return [(rate, to_cents(net), vat_of(net, rate)) for rate, net in sorted(groups.items())]
