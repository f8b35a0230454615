"""The demo's history, told over RPC once `make run` has signed the demo's
contracts: so that a new user sees every part of the portal within a minute —
a chart of her consumption, invoices and their PDFs, a payment in the payment
book, a reply from the desk and a pending claim — instead of empty pages until the hourly
billing run.

Each contract of the last two years gets a reading on every reading day since
it began, of a household's seasonal use (more in winter); every month since is
billed; one bank statement pays all but the last month's invoices; the
grandmother's question about her night tariff has been answered; her claim of
her late husband's garage waits for the desk. The late husband's cottage,
signed in 2019, is left unread since, waiting for her claim in the portal.
Everything goes through the services' published methods, as another system
would do it.
"""
import base64
from datetime import date
from decimal import Decimal

from lxml import etree

#: how much of a month's use falls in each month (January first): a Tallinn home
SEASON = (1.35, 1.25, 1.1, 0.95, 0.8, 0.7, 0.7, 0.75, 0.85, 1.0, 1.15, 1.3)
#: a month's use by register, by tariff plan and the point's registers
MONTHLY_KWH = {"DAYNIGHT": {"T1": 180, "T2": 110}, "BASIC": {"T1": 260}}
#: the history told: two years and the current month, what the chart compares
HISTORY_MONTHS = 25
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
#: Vool's account, on which the demo's statement is
VOOL_IBAN = "EE382200221020145685"
#: the grandmother's claim waiting for the desk: the garage in her apartment's yard,
#: still under her late husband's name
GARAGE_CLAIM = {"address": "Pärnu mnt 10 garaaž 4, Tallinn", "meter_serial": "TLN-G-0412",
                "note": "Garaaž oli minu abikaasa Jaan Mägeri nimel; ta suri 2024. aastal."}


def reading_days(start, reading_day, today):
    """Every reading day after ``start`` and before ``today``, oldest first."""
    days, year, month = [], start.year, start.month
    while True:
        day = date(year, month, min(reading_day, 28))
        if day >= today:
            return days
        if day > start:
            days.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def use_in(day, register, plan):
    """A month's kWh of ``register`` read on ``day``: seasonal, a little uneven."""
    base = MONTHLY_KWH.get(plan, MONTHLY_KWH["BASIC"]).get(register, 120)
    wobble = (day.month * 7 + day.year) % 11 - 5          # the same every run
    return max(1, round(base * SEASON[day.month - 1]) + wobble)


def periods(first, today):
    """The billing periods (YYYY-MM) from ``first``'s month through last month."""
    out, year, month = [], first.year, first.month
    while (year, month) < (today.year, today.month):
        out.append(f"{year}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def statement(payments, booked_on):
    """A camt.053 statement of ``payments`` ``[(entry id, reference no, amount,
    payer)]``, as the bank would send it (base64 of the XML)."""
    ns = "{%s}" % CAMT

    def sub(parent, tag, text=None, **attrs):
        element = etree.SubElement(parent, ns + tag, **attrs)
        element.text = text
        return element

    document = etree.Element(ns + "Document", nsmap={None: CAMT})
    report = sub(document, "BkToCstmrStmt")
    header = sub(report, "GrpHdr")
    sub(header, "MsgId", f"DEMO-{booked_on:%Y%m%d}")
    sub(header, "CreDtTm", f"{booked_on}T06:00:00")
    stmt = sub(report, "Stmt")
    sub(stmt, "Id", f"DEMO-{booked_on:%Y%m%d}")
    sub(sub(sub(stmt, "Acct"), "Id"), "IBAN", VOOL_IBAN)
    for entry_id, reference_no, amount, payer in payments:
        entry = sub(stmt, "Ntry")
        sub(entry, "Amt", f"{amount:.2f}", Ccy="EUR")
        sub(entry, "CdtDbtInd", "CRDT")
        sub(entry, "Sts", "BOOK")
        sub(sub(entry, "BookgDt"), "Dt", booked_on.isoformat())
        sub(entry, "AcctSvcrRef", entry_id)
        details = sub(sub(entry, "NtryDtls"), "TxDtls")
        sub(sub(sub(details, "RltdPties"), "Dbtr"), "Nm", payer)
        sub(sub(sub(sub(details, "RmtInf"), "Strd"), "CdtrRefInf"), "Ref", reference_no)
    xml = etree.tostring(document, xml_declaration=True, encoding="UTF-8")
    return base64.b64encode(xml).decode("ascii")


def tell(rpc, signed, today, wait):
    """Tell the demo's history. ``rpc``: a nameko ClusterRpcProxy; ``signed``:
    what contracts.load_demo signed; ``wait(check, what)``: polls until ``check()``
    is true. Returns what was made, for `vool run` to say."""
    since = add_months(today.replace(day=1), -HISTORY_MONTHS)
    told = [(s, c) for s, c in ((s, rpc.contracts.get_contract(s["contract_no"]))
                                for s in signed)
            if date.fromisoformat(str(c["start_date"])) >= since]
    points = [c["consumption_point"]["id"] for _, c in told]
    wait(lambda: len(rpc.metering.reading_overview(points)) == len(points),
         "metering knows the demo's meters")
    last_readings, submitted = [], 0
    for _, contract in told:
        point = contract["consumption_point"]["id"]
        registers = dict(rpc.metering.list_readings(point)[-1]["registers"])   # the initial
        receipt = None
        for day in reading_days(date.fromisoformat(str(contract["start_date"])),
                                contract["reading_day"], today):
            registers = {code: value + use_in(day, code, contract["tariff_plan"])
                         for code, value in registers.items()}
            receipt = rpc.metering.submit_reading({
                "consumption_point_id": point, "reading_date": day.isoformat(),
                "registers": registers, "source": "import", "submitted_by": "demo"})
            submitted += 1
        if receipt:
            last_readings.append(receipt["reading_id"])
    wait(lambda: all(rpc.billing.get_charge(r) for r in last_readings),
         "billing priced the demo's readings")
    first = min((date.fromisoformat(str(c["start_date"])) for _, c in told), default=today)
    for period in periods(first, today):
        rpc.billing.billing_run(period)
    payments = []
    for number, (s, contract) in enumerate(told, 1):
        invoices = rpc.billing.invoices_of(s["customer_id"])
        older = [i for i in invoices if i["contract_no"] == s["contract_no"]
                 and i["status"] != "paid"][1:]       # newest first: all but the last month
        if older:
            payments.append((f"DEMO-{today:%Y%m%d}-{number}", s["reference_no"],
                             sum(Decimal(i["total"]) for i in older),
                             contract["customer"]["name"]))
    if payments:
        rpc.billing.import_statement(statement(payments, today))
    grandmother = signed[0]["customer_id"]
    case = rpc.notifications.open_case(grandmother, {
        "kind": "question", "subject": "Öötariif",
        "body": "Kas öötariif kehtib ka nädalavahetustel terve päeva?"}, "demo")
    rpc.notifications.reply_to_case(case["case_id"], {
        "body": "Jah: laupäeval ja pühapäeval kehtib öötariif ööpäev läbi."}, "operator:desk")
    # her claim of the late husband's garage, with the desk: a pending claim to see
    # (the Saaremaa cottage stays hers to claim in the portal)
    her = rpc.contracts.get_contract(signed[0]["contract_no"])["customer"]
    rpc.contracts.claim_consumption_point(grandmother, GARAGE_CLAIM, her["person_code"])
    return {"readings": submitted, "periods": len(periods(first, today)),
            "payments": len(payments), "claims": 1}


def add_months(first, count):
    index = first.year * 12 + first.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)
