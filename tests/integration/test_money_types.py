"""Money never passes through a float, on PostgreSQL nor on SQLite (``make run``).

Billing is driven through its RPCs — contracts signed, readings charged, a billing
run, a bank statement, a banklink payment, the overdue sweep, the payment book,
invoices, payments — while a spy on the billing database's driver records every
float it hands out. Then: no float came out of the driver, every money value in
the RPC answers and in billing's events is the API's string with its decimals, and
every exact column read back through the models is a Decimal of its scale.
"""
import json
import re
from datetime import datetime, timezone
from decimal import Decimal

import psycopg2.extensions
import pytest
import sqlalchemy as sa

from services.billing.models import metadata as billing_metadata
from services.billing.service import BillingService
from services.common.db import make_engine
from services.common.events import parse_event
from services.contracts.service import ContractsService
from services.identity.service import IdentityService
from services.metering.service import MeteringService
from tests.banking import make_banks
from tests.camt053 import camt, ntry, tx
from tests.conftest import wait_for
from tests.samples import contract_command

pytestmark = pytest.mark.both_stores

RETURN_URL = "http://127.0.0.1:8000/api/v1/payments/banklink/testbank/return"

#: how the API writes an exact value under each name (API.md)
FORMS = {
    "net": r"-?\d+\.\d{2}", "vat": r"-?\d+\.\d{2}", "total": r"-?\d+\.\d{2}",
    "paid": r"-?\d+\.\d{2}", "amount": r"-?\d+\.\d{2}", "credit": r"-?\d+\.\d{2}",
    "paid_total": r"-?\d+\.\d{2}", "vat_rate": r"\d+\.\d{2}", "rate": r"\d+\.\d{2}",
    "price": r"\d+\.\d{6}", "unit_price": r"\d+\.\d{6}",
}


class FloatSpy:
    """Every float the billing database's driver returns, with the column it came in."""

    def __init__(self):
        self.seen = []

    def attach(self, dbapi_connection, _record):
        if isinstance(dbapi_connection, psycopg2.extensions.connection):
            if dbapi_connection.info.dbname.endswith("_billing"):
                def cast(text, cursor):
                    value = None if text is None else float(text)
                    self.seen.append(([d.name for d in cursor.description or []], value))
                    return value
                psycopg2.extensions.register_type(psycopg2.extensions.new_type(
                    (700, 701), "FLOAT_SPY", cast), dbapi_connection)
        else:   # sqlite3
            [(_, _, path)] = dbapi_connection.execute("PRAGMA database_list").fetchall()
            if path.endswith("billing.sqlite3"):
                def rows(cursor, row):
                    if any(isinstance(value, float) for value in row):
                        self.seen.append(([d[0] for d in cursor.description], row))
                    return row
                dbapi_connection.row_factory = rows


@pytest.fixture
def float_spy():
    spy = FloatSpy()
    sa.event.listen(sa.pool.Pool, "connect", spy.attach)
    yield spy
    sa.event.remove(sa.pool.Pool, "connect", spy.attach)


@pytest.fixture
def billing(float_spy, run_services, rpc, tmp_path, real_time_clock, bus):
    real_time_clock.set(datetime(2026, 4, 3, 9, tzinfo=timezone.utc))
    banks = make_banks(tmp_path)
    tap = bus.bind_tap("billing.events")
    run_services(IdentityService, ContractsService, MeteringService, BillingService,
                 VOOL_BANKS_FILE=str(banks.banks_file))
    return banks, tap


def odd_values(value, path="answer"):
    """Where ``value`` holds a float, or an exact value not in the API's form."""
    found = []
    if isinstance(value, float):
        found.append(f"{path} is a float: {value!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            form = FORMS.get(key)
            if form and item is not None and not (
                    isinstance(item, str) and re.fullmatch(form, item)):
                found.append(f"{path}.{key} is {item!r}, not a string {form}")
            found.extend(odd_values(item, f"{path}.{key}"))
    elif isinstance(value, (list, tuple)):
        for n, item in enumerate(value):
            found.extend(odd_values(item, f"{path}[{n}]"))
    return found


def test_money_is_exact_from_the_database_to_the_answer(billing, rpc, bus, database_urls,
                                                        float_spy, real_time_clock):
    banks, tap = billing
    answers = []

    def ask(answer):
        answers.append(answer)
        return answer

    ask(rpc.billing.add_tariff({"code": "ODD", "components": [
        {"kind": "energy", "price": "0.123457", "valid_from": "2026-01-01"},
        {"kind": "network", "price": "0.033333", "valid_from": "2026-01-01"},
        {"kind": "monthly_fee", "price": "1.005000", "valid_from": "2026-01-01"}]}))
    ask(rpc.billing.list_tariffs())
    ask(rpc.billing.list_vat_rates())
    signed = rpc.contracts.sign_contract(contract_command(
        initial={"T1": 1000}, start_date="2026-01-01", tariff_plan="ODD"))
    cid, reference = signed["customer_id"], signed["reference_no"]
    point = signed["consumption_point_id"]
    wait_for(lambda: _known(rpc, point), message="metering to learn the meter")
    for day, value in (("2026-01-31", 1333), ("2026-02-28", 1777), ("2026-03-31", 2001)):
        reading = rpc.metering.submit_reading({"consumption_point_id": point,
                                               "reading_date": day,
                                               "registers": {"T1": value}})
        ask(wait_for(lambda: rpc.billing.get_charge(reading["reading_id"])))

    def invoiced(periods):   # billing hears of the contract from an event
        for period in periods:
            ask(rpc.billing.billing_run(period))
        found = rpc.billing.invoices_of(cid)
        return found if len(found) == len(periods) else None
    invoices = sorted(wait_for(lambda: invoiced(["2026-01", "2026-02"])),
                      key=lambda i: i["invoice_no"])
    january, february = invoices
    for invoice in invoices:
        ask(rpc.billing.get_invoice(invoice["invoice_no"], cid))

    # a statement pays a part of January's invoice: the banklink then pays the rest
    # of January and all of February, chosen (the _pay_chosen path)
    part = (Decimal(january["total"]) / 3).quantize(Decimal("0.01"))
    ask(rpc.billing.import_statement(_base64(camt(ntry(
        f"{part:.2f}", booked="<BookgDt><Dt>2026-04-02</Dt></BookgDt>",
        ids="<AcctSvcrRef>E-1</AcctSvcrRef>",
        details=f"<NtryDtls>{tx(rmt=_ref(reference))}</NtryDtls>"),
        ntry("7.77", ids="<AcctSvcrRef>E-2</AcctSvcrRef>")))))
    order = ask(rpc.billing.start_bank_payment(
        cid, [january["invoice_no"], february["invoice_no"]], "testbank", "test"))
    assert Decimal(order["amount"]) == (Decimal(january["total"]) - part
                                        + Decimal(february["total"]))
    form = rpc.identity.payment_request("testbank", order["stamp"], order["amount"],
                                        order["reference_no"], order["message"], RETURN_URL)
    reply = banks.bank.payment_reply(form["fields"], banks.bank.check_request(form["fields"]),
                                     paid=True, now=real_time_clock.now())
    verified = rpc.identity.verify_payment_reply("testbank", reply)
    paid = ask(rpc.billing.finish_bank_payment("testbank", verified))
    assert paid["status"] == "paid"
    assert ask(rpc.billing.finish_bank_payment("testbank", verified)) == paid   # once

    # more than is owed: the rest is credit, spent by the next run
    ask(rpc.billing.import_statement(_base64(camt(ntry(
        "50.00", booked="<BookgDt><Dt>2026-04-02</Dt></BookgDt>",
        ids="<AcctSvcrRef>E-3</AcctSvcrRef>",
        details=f"<NtryDtls>{tx(rmt=_ref(reference))}</NtryDtls>")))))
    ask(rpc.billing.billing_run("2026-03"))
    statuses = {i["invoice_no"]: (i["status"], i["paid"])
                for i in ask(rpc.billing.invoices_of(cid))}
    assert statuses[january["invoice_no"]] == ("paid", january["total"])
    assert statuses[february["invoice_no"]] == ("paid", february["total"])
    ask(rpc.billing.overdue_sweep("2026-04-04"))
    ask(rpc.billing.payments_of(cid))
    ask(rpc.billing.unmatched_payments())
    book = ask(rpc.billing.payment_book(reference, [cid]))
    assert Decimal(book["paid_total"]) == part + Decimal(order["amount"]) + Decimal("50.00")

    def events():
        seen.extend(parse_event(json.loads(body)).data for _, body in bus.drain(tap))
        return len([e for e in seen if "invoice_no" in e and "period" in e]) >= 3
    seen = []
    wait_for(events, timeout=15, message="billing's invoice_issued events")

    odd = odd_values(answers) + odd_values(seen, "events")
    assert odd == []
    assert float_spy.seen == [], "the billing database's driver gave out floats"
    assert _exact_columns_read_back(database_urls["billing"]) == []


def _exact_columns_read_back(url):
    """Every exact column of billing's tables, read back through the models: the
    values that are not a Decimal of the column's scale."""
    engine = make_engine(url)
    odd = []
    try:
        with engine.connect() as conn:
            for table in billing_metadata.sorted_tables:
                exact = [c for c in table.columns if isinstance(
                    getattr(c.type, "impl_instance", c.type), sa.Numeric)]
                if not exact:
                    continue
                for row in conn.execute(sa.select(*exact)).all():
                    for column, value in zip(exact, row):
                        if value is not None and not (
                                isinstance(value, Decimal)
                                and value.as_tuple().exponent == -_scale(column)):
                            odd.append(f"{table.name}.{column.name} = {value!r}")
    finally:
        engine.dispose()
    return odd


def _scale(column):
    return getattr(column.type, "impl_instance", column.type).scale


def _ref(reference):
    return f"<RmtInf><Strd><CdtrRefInf><Ref>{reference}</Ref></CdtrRefInf></Strd></RmtInf>"


def _base64(xml):
    import base64
    return base64.b64encode(xml).decode("ascii")


def _known(rpc, point):
    try:
        return rpc.metering.list_readings(point)
    except Exception:
        return None
