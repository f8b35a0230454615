"""SQL expressions that render a column as the API's text, for events built in SQL:
money with two decimals, dates YYYY-MM-DD (SQLite already stores them so)."""


def money_text(dialect, column):
    if dialect == "postgresql":
        return f"CAST(CAST({column} AS NUMERIC(14, 2)) AS TEXT)"
    return f"printf('%.2f', {column})"


def date_text(dialect, column):
    return f"CAST({column} AS TEXT)" if dialect == "postgresql" else column
