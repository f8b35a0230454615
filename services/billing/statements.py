"""Incoming payments from an ISO 20022 camt.053 bank-to-customer statement.

`parse_statement` reads the XML a bank sends (camt.053.001.02 and every later
version) and returns the booked credit entries on the account: who paid, how much,
when, and with which reference number or free text. It does nothing else: it does not
validate the reference number's 7-3-1 check digit nor match payments to invoices;
that happens where the payments are imported, and a payment that matches nothing is
listed there, never guessed.

Every entry must carry an identifier of the bank's (AcctSvcrRef, or NtryRef), so
that importing the same statement twice changes nothing; a statement with an entry
that has none is refused whole, as is any other statement this module cannot read
without guessing (bad amounts, a batch whose parts do not add up to its total).

The XML comes from outside, so the parser resolves no entities, loads no DTD, reaches
no network and refuses a document that declares a DOCTYPE at all (billion laughs,
external entities).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

CAMT053_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d{2})$")
OLDEST_VERSION = 2

_AMOUNT = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:$|[T+\-Z])")
_MAX_DIGITS = 18            # ISO 20022 amounts: totalDigits 18
CENT = Decimal("0.01")


class StatementError(ValueError):
    """The bytes are not a camt.053 statement this module can read without guessing."""


@dataclass(frozen=True)
class CreditEntry:
    entry_id: str
    amount: Decimal
    currency: str
    booked_on: date
    reference_no: str | None
    debtor_name: str | None
    remittance: str | None


@dataclass(frozen=True)
class Statement:
    statement_id: str
    account_iban: str | None
    entries: list[CreditEntry]


def parse_statement(xml: bytes) -> Statement:
    """The one statement in a camt.053 document, with its booked credit entries."""
    statements = parse_statements(xml)
    if len(statements) != 1:
        raise StatementError(
            f"the camt.053 document holds {len(statements)} statements (Stmt), expected one")
    return statements[0]


def parse_statements(xml: bytes) -> list[Statement]:
    """Every statement (BkToCstmrStmt/Stmt) in a camt.053 document, in document order."""
    root = _parse_xml(xml)
    ns = _camt053_namespace(root)
    q = _Finder(ns)
    container = q.find(root, "BkToCstmrStmt")
    if container is None:
        raise StatementError("not a camt.053 statement: Document has no BkToCstmrStmt")
    return [_statement(q, stmt) for stmt in q.findall(container, "Stmt")]


# -- XML ---------------------------------------------------------------------------------

def _make_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,     # no entity expansion: no billion laughs, no file reads
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,            # libxml2's limits on depth and text size stay on
        remove_comments=True,
        remove_pis=True,
    )


def _parse_xml(xml: bytes) -> etree._Element:
    if not isinstance(xml, (bytes, bytearray, memoryview)):
        raise TypeError(f"a statement is parsed from bytes, not {type(xml).__name__}")
    data = bytes(xml)
    if not data.strip():
        raise StatementError("not XML: the statement is empty")
    try:
        root = etree.fromstring(data, _make_parser())
    except etree.XMLSyntaxError as e:
        raise StatementError(f"not well-formed XML: {e}") from None
    if root is None:
        raise StatementError("not XML: no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise StatementError("refused: the XML declares a DOCTYPE (DTDs and entities "
                             "are not allowed in a bank statement)")
    return root


def _camt053_namespace(root: etree._Element) -> str:
    qname = etree.QName(root)
    ns = qname.namespace or ""
    match = CAMT053_NAMESPACE.match(ns)
    if qname.localname != "Document" or match is None:
        shown = f"{{{ns}}}{qname.localname}" if ns else qname.localname
        raise StatementError(
            f"not a camt.053 statement: the root element is {shown}, expected Document "
            "in namespace urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN")
    if int(match.group(1)) < OLDEST_VERSION:
        raise StatementError(f"camt.053.001.{match.group(1)} is not supported, "
                             f"only camt.053.001.{OLDEST_VERSION:02d} and later")
    return ns


class _Finder:
    """ElementPath look-ups with every step in the statement's namespace."""

    def __init__(self, ns: str):
        self.ns = ns
        self._paths: dict[str, str] = {}

    def _path(self, path: str) -> str:
        full = self._paths.get(path)
        if full is None:
            full = "/".join(f"{{{self.ns}}}{step}" for step in path.split("/"))
            self._paths[path] = full
        return full

    def find(self, el, path: str):
        return el.find(self._path(path))

    def findall(self, el, path: str) -> list:
        return el.findall(self._path(path))

    def text(self, el, path: str) -> str | None:
        """The element's stripped text, None when it is absent or blank."""
        found = el.find(self._path(path))
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def first_text(self, el, *paths: str) -> str | None:
        for path in paths:
            value = self.text(el, path)
            if value is not None:
                return value
        return None


# -- statement and entries ---------------------------------------------------------------

def _statement(q: _Finder, stmt) -> Statement:
    statement_id = q.text(stmt, "Id")
    if statement_id is None:
        raise StatementError("the statement has no Stmt/Id")
    iban = q.text(stmt, "Acct/Id/IBAN")
    if iban is not None:
        iban = "".join(iban.split()).upper()
    where = f"statement {statement_id}"
    entries: list[CreditEntry] = []
    for position, ntry in enumerate(q.findall(stmt, "Ntry"), start=1):
        entries.extend(_entry(q, ntry, f"{where}, entry {position}"))
    seen: set[str] = set()
    for entry in entries:
        if entry.entry_id in seen:
            raise StatementError(f"{where}: two credit entries have the same "
                                 f"identifier {entry.entry_id!r}")
        seen.add(entry.entry_id)
    return Statement(statement_id=statement_id, account_iban=iban, entries=entries)


def _entry(q: _Finder, ntry, where: str) -> list[CreditEntry]:
    indicator = q.text(ntry, "CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise StatementError(f"{where}: CdtDbtInd is {indicator!r}, expected CRDT or DBIT")
    if indicator != "CRDT" or _status(q, ntry, where) != "BOOK":
        return []
    if (q.text(ntry, "RvslInd") or "").lower() in ("true", "1"):
        # a credit that reverses one of our debits (a returned transfer), not a
        # customer's payment
        return []

    amount, currency = _amount(q, ntry, "Amt", where)
    booked_on = _booking_date(q, ntry, where)
    details = q.findall(ntry, "NtryDtls/TxDtls")
    own_id = q.first_text(ntry, "AcctSvcrRef", "NtryRef")

    if len(details) <= 1:
        tx = details[0] if details else None
        entry_id = own_id or (q.text(tx, "Refs/AcctSvcrRef") if tx is not None else None)
        if entry_id is None:
            raise StatementError(
                f"{where} ({amount} {currency} booked {booked_on}) has no identifier: "
                "neither AcctSvcrRef, NtryRef nor NtryDtls/TxDtls/Refs/AcctSvcrRef")
        return [_credit(q, tx, entry_id, amount, currency, booked_on)]

    # a batch: one payment per transaction, adding up to the entry's amount
    credits = []
    for index, tx in enumerate(details, start=1):
        tx_where = f"{where}, transaction {index}"
        entry_id = q.text(tx, "Refs/AcctSvcrRef")
        if entry_id is None:
            if own_id is None:
                raise StatementError(
                    f"{tx_where} has no identifier: neither its Refs/AcctSvcrRef nor the "
                    "entry's AcctSvcrRef or NtryRef")
            _fits(own_id, _MAX35, "its identifier (AcctSvcrRef/NtryRef)", tx_where)
            entry_id = f"{own_id}:{index}"
        if q.find(tx, "AmtDtls/TxAmt/Amt") is not None:
            tx_amount, tx_currency = _amount(q, tx, "AmtDtls/TxAmt/Amt", tx_where)
        elif q.find(tx, "Amt") is not None:
            tx_amount, tx_currency = _amount(q, tx, "Amt", tx_where)
        else:
            raise StatementError(f"{tx_where} has no amount "
                                 "(neither AmtDtls/TxAmt/Amt nor Amt)")
        if tx_currency != currency:
            raise StatementError(f"{tx_where} is in {tx_currency}, the entry in {currency}")
        credits.append(_credit(q, tx, entry_id, tx_amount, currency, booked_on))
    total = sum((c.amount for c in credits), Decimal("0.00"))
    if total != amount:
        raise StatementError(f"{where}: its {len(credits)} transactions add up to "
                             f"{total} {currency}, the entry says {amount} {currency}")
    return credits


def _credit(q: _Finder, tx, entry_id: str, amount: Decimal, currency: str,
            booked_on: date) -> CreditEntry:
    reference = debtor = remittance = None
    if tx is not None:
        reference = q.text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
        if reference is None:   # Strd repeats: the first one that has a creditor reference
            for strd in q.findall(tx, "RmtInf/Strd"):
                reference = q.text(strd, "CdtrRefInf/Ref")
                if reference is not None:
                    break
        if reference is not None:
            reference = "".join(reference.split()) or None
        debtor = q.first_text(tx, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm")
        lines = [el.text.strip() for el in q.findall(tx, "RmtInf/Ustrd")
                 if el.text and el.text.strip()]
        remittance = " ".join(lines) or None
    where = f"entry {entry_id!r}"
    # a batch's transactions are "<entry id>:<n>" when they have no id of their own
    _fits(entry_id, _MAX35 + len(":99999"), "its identifier (AcctSvcrRef/NtryRef)", where)
    _fits(reference, _MAX35, "the creditor reference (CdtrRefInf/Ref)", where)
    _fits(debtor, _MAX140, "the debtor's name (Dbtr/Nm)", where)
    if amount > _LARGEST:
        raise StatementError(f"{where}: {amount} {currency} is more than one payment can be")
    if remittance is not None:
        remittance = remittance[:_REMITTANCE_KEPT]   # free text for the desk: its start is enough
    return CreditEntry(entry_id=entry_id, amount=amount, currency=currency,
                       booked_on=booked_on, reference_no=reference, debtor_name=debtor,
                       remittance=remittance)


# ISO 20022's text limits (Max35Text, Max140Text): a statement beyond them is not valid
_MAX35, _MAX140 = 35, 140
_REMITTANCE_KEPT = 500
_LARGEST = Decimal("999999999999.99")   # payments.amount: NUMERIC(14, 2)


def _fits(value, limit, what, where):
    if value is not None and len(value) > limit:
        raise StatementError(f"{where}: {what} is longer than ISO 20022's {limit} characters")


def _status(q: _Finder, ntry, where: str) -> str:
    """BOOK, PDNG, INFO...: Sts's text up to version 07, Sts/Cd (or Sts/Prtry) after."""
    sts = q.find(ntry, "Sts")
    if sts is None:
        raise StatementError(f"{where} has no status (Sts)")
    code = q.first_text(sts, "Cd", "Prtry") or (sts.text or "").strip()
    if not code:
        raise StatementError(f"{where} has an empty status (Sts)")
    return code


def _amount(q: _Finder, el, path: str, where: str) -> tuple[Decimal, str]:
    found = q.find(el, path)
    if found is None:
        raise StatementError(f"{where} has no amount ({path})")
    text = (found.text or "").strip()
    currency = (found.get("Ccy") or "").strip()
    if not _CURRENCY.match(currency):
        raise StatementError(f"{where}: {path} has no valid currency "
                             f"(Ccy={found.get('Ccy')!r})")
    if text.startswith("-"):
        raise StatementError(f"{where}: negative amount {text!r} in {path}")
    if not _AMOUNT.match(text):
        raise StatementError(f"{where}: bad amount {text!r} in {path}, expected digits "
                             "with at most two decimals")
    if len(text.replace(".", "")) > _MAX_DIGITS:
        raise StatementError(f"{where}: amount {text!r} in {path} has too many digits")
    try:
        value = Decimal(text)
        cents = value.quantize(CENT)
    except InvalidOperation:
        raise StatementError(f"{where}: bad amount {text!r} in {path}") from None
    if cents != value:
        raise StatementError(f"{where}: amount {text!r} in {path} has more than two "
                             "decimals")
    return cents, currency


def _booking_date(q: _Finder, ntry, where: str) -> date:
    text = q.first_text(ntry, "BookgDt/Dt", "BookgDt/DtTm")
    if text is None:
        raise StatementError(f"{where} is booked but has no booking date (BookgDt)")
    match = _DATE.match(text)
    try:
        if match is None:
            raise ValueError
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise StatementError(f"{where}: bad booking date {text!r}") from None


def payment_id(statement: Statement, entry: CreditEntry) -> str:
    """What makes a credit entry the same payment when a statement comes again:
    the bank's entry identifier on our account (or, without an IBAN, the statement)."""
    return f"statement:{statement.account_iban or statement.statement_id}:{entry.entry_id}"
