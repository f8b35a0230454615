"""camt.053 bank statements: parsing the booked credits, refusing what cannot be read."""
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.billing import statements
from services.billing.statements import (CreditEntry, Statement, StatementError,
                                         parse_statement, parse_statements)

from tests.camt053 import camt, ntry, tx

FIXTURES = Path(__file__).parent / "fixtures" / "camt053"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# -- the fixtures ------------------------------------------------------------------------

def test_swedbank_camt053_001_02():
    statement = parse_statement(fixture("swedbank_camt053_v02.xml"))

    assert statement == Statement(
        statement_id="EE352200221012345678-2024-03-01",
        account_iban="EE352200221012345678",
        entries=[
            CreditEntry(entry_id="2024030100012345", amount=Decimal("58.65"), currency="EUR",
                        booked_on=date(2024, 3, 1), reference_no="202400424",
                        debtor_name="ÕIE MÄGER", remittance="Arve 2024-0042"),
            CreditEntry(entry_id="2024030100012346", amount=Decimal("120.00"), currency="EUR",
                        booked_on=date(2024, 3, 1), reference_no=None, debtor_name="Jaan Tamm",
                        remittance="elektri eest, leping 1042 veebruar 2024"),
            # no entry-level AcctSvcrRef: the transaction's is the identifier
            CreditEntry(entry_id="2024030100012399", amount=Decimal("7.50"), currency="EUR",
                        booked_on=date(2024, 3, 1), reference_no="12345678",
                        debtor_name="Mari Mäger", remittance=None),
        ])


def test_the_debit_in_the_swedbank_statement_is_skipped():
    statement = parse_statement(fixture("swedbank_camt053_v02.xml"))
    ids = [e.entry_id for e in statement.entries]
    assert "2024030100012347" not in ids            # the bank's fee, a DBIT
    assert Decimal("15.30") not in [e.amount for e in statement.entries]
    assert sum(e.amount for e in statement.entries) == Decimal("186.15")  # TtlCdtNtries/Sum


def test_camt053_001_08_with_status_code_and_party_name():
    statement = parse_statement(fixture("camt053_v08_sts_cd.xml"))

    assert statement.statement_id == "STMT-2024-04-01-0093"
    assert statement.account_iban == "EE072200221055554444"     # spaces removed
    assert statement.entries == [
        # AcctSvcrRef wins over NtryRef; BookgDt/DtTm's date as written, not moved to UTC
        CreditEntry(entry_id="LHV-240401-7781234", amount=Decimal("1042.37"), currency="EUR",
                    booked_on=date(2024, 4, 1), reference_no="12345672",
                    debtor_name="Rapla Korteriühistu", remittance=None),
        # PDNG credit (NtryRef 2) and the debit (NtryRef 3) are not there
        CreditEntry(entry_id="4", amount=Decimal("19.99"), currency="EUR",
                    booked_on=date(2024, 4, 1), reference_no=None, debtor_name="Mari Mäger",
                    remittance="Tartu, Riia 12-4"),
    ]


def test_a_batch_entry_gives_one_credit_per_transaction():
    statement = parse_statement(fixture("camt053_v06_batch.xml"))

    assert statement.account_iban == "EE501010220034567890"
    assert statement.entries == [
        CreditEntry(entry_id="SEB-0505-77-001", amount=Decimal("100.00"), currency="EUR",
                    booked_on=date(2024, 5, 5), reference_no="555018", debtor_name="Õie Mäger",
                    remittance=None),
        CreditEntry(entry_id="SEB-0505-77-002", amount=Decimal("150.35"), currency="EUR",
                    booked_on=date(2024, 5, 5), reference_no=None, debtor_name="Jaan Tamm",
                    remittance="Saaremaa suvila"),
        # no AcctSvcrRef of its own: the entry's, with the transaction's place (from 1)
        CreditEntry(entry_id="SEB-BATCH-0505-77:3", amount=Decimal("49.65"), currency="EUR",
                    booked_on=date(2024, 5, 5), reference_no="9000124", debtor_name=None,
                    remittance=None),
    ]


@pytest.mark.parametrize("name", ["swedbank_camt053_v02.xml", "camt053_v08_sts_cd.xml",
                                  "camt053_v06_batch.xml"])
def test_parsing_the_same_statement_twice_gives_the_same_identifiers(name):
    first, second = parse_statement(fixture(name)), parse_statement(fixture(name))
    assert first == second
    ids = [e.entry_id for e in first.entries]
    assert len(ids) == len(set(ids)) and all(ids)


# -- versions, statuses, fields --------------------------------------------------------

@pytest.mark.parametrize("version", range(2, 14))
def test_every_version_from_02_on(version):
    debtor = ("<Dbtr><Nm>Õie</Nm></Dbtr>" if version < 8
              else "<Dbtr><Pty><Nm>Õie</Nm></Pty></Dbtr>")
    xml = camt(ntry("58.65", version=version,
                    details=f"<NtryDtls>{tx(debtor=debtor)}</NtryDtls>"),
               ntry("1.00", version=version, indicator="DBIT", ids="<AcctSvcrRef>D</AcctSvcrRef>"),
               version=version)
    [entry] = parse_statement(xml).entries
    assert (entry.entry_id, entry.amount, entry.debtor_name) == ("A1", Decimal("58.65"), "Õie")


@pytest.mark.parametrize("status", ["PDNG", "INFO", "FUTR"])
@pytest.mark.parametrize("version", [2, 8])
def test_entries_not_booked_are_skipped(status, version):
    xml = camt(ntry(status=status, version=version, ids=""), version=version)
    assert parse_statement(xml).entries == []    # not booked: not even its id is needed


def test_debits_are_skipped_even_without_an_identifier():
    assert parse_statement(camt(ntry(indicator="DBIT", ids=""))).entries == []


def test_ntryref_when_there_is_no_acctsvcrref():
    [entry] = parse_statement(camt(ntry(ids="<NtryRef>N-7</NtryRef>"))).entries
    assert entry.entry_id == "N-7"


@pytest.mark.parametrize("text, expected", [
    ("58.65", "58.65"), ("7.5", "7.50"), ("120", "120.00"), ("0.01", "0.01"),
    (" 1042.37 ", "1042.37"), ("58.650", "58.65"), ("123456789012.34", "123456789012.34"),
])
def test_amounts_are_exact_decimals_with_two_places(text, expected):
    [entry] = parse_statement(camt(ntry(text))).entries
    assert isinstance(entry.amount, Decimal)
    assert str(entry.amount) == expected
    assert entry.amount.as_tuple().exponent == -2


def test_booking_date_from_a_date_time_and_a_date_with_offset():
    xml = camt(ntry(booked="<BookgDt><DtTm>2024-12-31T23:59:59-05:00</DtTm></BookgDt>"),
               ntry(booked="<BookgDt><Dt>2024-02-29+02:00</Dt></BookgDt>",
                    ids="<AcctSvcrRef>A2</AcctSvcrRef>"))
    assert [e.booked_on for e in parse_statement(xml).entries] == [date(2024, 12, 31),
                                                                   date(2024, 2, 29)]


def test_reference_is_kept_as_given_without_spaces_and_not_validated():
    rmt = ("<RmtInf><Ustrd>  arve  </Ustrd><Ustrd></Ustrd><Ustrd>nr 5</Ustrd>"
           "<Strd><RfrdDocInf><Nb>INV-1</Nb></RfrdDocInf></Strd>"
           "<Strd><CdtrRefInf><Ref> 1234 5678\n</Ref></CdtrRefInf></Strd></RmtInf>")
    [entry] = parse_statement(camt(ntry(details=f"<NtryDtls>{tx(rmt=rmt)}</NtryDtls>"))).entries
    assert entry.reference_no == "12345678"      # 7-3-1 check digit wrong: kept all the same
    assert entry.remittance == "arve nr 5"


def test_an_entry_without_details_has_no_reference_debtor_or_text():
    [entry] = parse_statement(camt(ntry())).entries
    assert (entry.reference_no, entry.debtor_name, entry.remittance) == (None, None, None)


def test_account_without_iban():
    xml = camt(ntry(), acct="<Acct><Id><Othr><Id>123</Id></Othr></Id></Acct>")
    assert parse_statement(xml).account_iban is None


def test_a_statement_without_entries():
    assert parse_statement(camt()) == Statement("S1", "EE352200221012345678", [])


def test_several_statements_in_one_document():
    one = camt(ntry())
    two = one.replace(b"</Stmt>", b"</Stmt><Stmt><Id>S2</Id>" + ntry("5.00").encode()
                      + b"</Stmt>", 1)
    with pytest.raises(StatementError, match="2 statements"):
        parse_statement(two)
    assert [(s.statement_id, [e.amount for e in s.entries]) for s in parse_statements(two)] \
        == [("S1", [Decimal("10.00")]), ("S2", [Decimal("5.00")])]


def test_bytes_only():
    with pytest.raises(TypeError):
        parse_statement(camt(ntry()).decode())


# -- batches -------------------------------------------------------------------------------

def test_a_batch_without_any_identifier_is_refused():
    details = ("<NtryDtls>" + tx(amount='<Amt Ccy="EUR">4.00</Amt>')
               + tx(amount='<Amt Ccy="EUR">6.00</Amt>') + "</NtryDtls>")
    with pytest.raises(StatementError, match=r"entry 1, transaction 1 has no identifier"):
        parse_statement(camt(ntry("10.00", ids="", details=details)))


def test_a_batch_whose_transactions_do_not_add_up_is_refused():
    details = ("<NtryDtls>" + tx(amount='<Amt Ccy="EUR">4.00</Amt>')
               + tx(amount='<Amt Ccy="EUR">5.00</Amt>') + "</NtryDtls>")
    with pytest.raises(StatementError, match=r"add up to 9.00 EUR, the entry says 10.00 EUR"):
        parse_statement(camt(ntry("10.00", details=details)))


def test_a_batch_transaction_without_an_amount_is_refused():
    details = "<NtryDtls>" + tx(amount='<Amt Ccy="EUR">10.00</Amt>') + tx() + "</NtryDtls>"
    with pytest.raises(StatementError, match=r"transaction 2 has no amount"):
        parse_statement(camt(ntry("10.00", details=details)))


def test_a_batch_transaction_in_another_currency_is_refused():
    details = ("<NtryDtls>" + tx(amount='<Amt Ccy="EUR">4.00</Amt>')
               + tx(amount='<Amt Ccy="SEK">6.00</Amt>') + "</NtryDtls>")
    with pytest.raises(StatementError, match=r"transaction 2 is in SEK, the entry in EUR"):
        parse_statement(camt(ntry("10.00", details=details)))


def test_a_batch_across_two_ntrydtls_and_txamt_preferred_over_amt():
    one = tx(ref="<AcctSvcrRef>T1</AcctSvcrRef>",
             amount='<Amt Ccy="EUR">999.99</Amt>'
                    '<AmtDtls><TxAmt><Amt Ccy="EUR">4.00</Amt></TxAmt></AmtDtls>')
    two = tx(amount='<Amt Ccy="EUR">6.00</Amt>')
    xml = camt(ntry("10.00", details=f"<NtryDtls>{one}</NtryDtls><NtryDtls>{two}</NtryDtls>"))
    assert [(e.entry_id, e.amount) for e in parse_statement(xml).entries] == [
        ("T1", Decimal("4.00")), ("A1:2", Decimal("6.00"))]


# -- refused: not XML, not camt.053 -----------------------------------------------------

@pytest.mark.parametrize("data", [
    b"", b"   \n", b"not xml at all", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", b"\x00\x01\x02",
    b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
    b"<BkToCstmrStmt><Stmt>",      # cut off
    b"IBAN;Kuupaev;Summa\nEE35;01.03.2024;58,65\n",
])
def test_not_xml(data):
    with pytest.raises(StatementError, match=r"XML"):
        parse_statement(data)


@pytest.mark.parametrize("data, shown", [
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn/>'
     b"</Document>", "camt.054.001.02"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"><CstmrCdtTrfInitn/>'
     b"</Document>", "pain.001"),
    (b"<Document><BkToCstmrStmt><Stmt><Id>S</Id></Stmt></BkToCstmrStmt></Document>",
     "root element is Document"),
    (b'<html xmlns="http://www.w3.org/1999/xhtml"><body>Login</body></html>', "html"),
    (b'<Statement xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>', "Statement"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.2"/>', "camt.053.001.2"),
])
def test_xml_that_is_not_camt053(data, shown):
    with pytest.raises(StatementError, match=r"not a camt\.053 statement") as error:
        parse_statement(data)
    assert shown in str(error.value)


def test_camt053_001_01_is_not_supported():
    with pytest.raises(StatementError, match=r"camt\.053\.001\.01 is not supported"):
        parse_statement(camt(ntry(), version=1))


def test_camt053_without_bktocstmrstmt():
    with pytest.raises(StatementError, match="no BkToCstmrStmt"):
        parse_statement(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
                        b"<Other/></Document>")


# -- refused: XML attacks --------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<Id>S1</Id><Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>A1</AcctSvcrRef>
<NtryDtls><TxDtls><RmtInf><Ustrd>&lol9;</Ustrd></RmtInf></TxDtls></NtryDtls>
</Ntry></Stmt></BkToCstmrStmt></Document>"""


def test_billion_laughs_is_refused_quickly():
    started = time.monotonic()
    # libxml2 itself stops the amplification while reading the DTD; had it not, the
    # DOCTYPE would be refused
    with pytest.raises(StatementError, match=r"(?i)DOCTYPE|entity amplification"):
        parse_statement(BILLION_LAUGHS)
    assert time.monotonic() - started < 2


def external_entity(secret: Path) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            "<Stmt><Id>&xxe;</Id><Ntry><Amt Ccy=\"EUR\">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            "<Sts>BOOK</Sts><BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>A1</AcctSvcrRef>"
            "<NtryDtls><TxDtls><RmtInf><Ustrd>&xxe;</Ustrd></RmtInf></TxDtls></NtryDtls>"
            "</Ntry></Stmt></BkToCstmrStmt></Document>").encode()


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-7f3a")
    return path


def test_an_external_entity_is_refused_and_the_file_not_read(secret):
    with pytest.raises(StatementError, match="DOCTYPE") as error:
        parse_statement(external_entity(secret))
    assert "TOP-SECRET" not in str(error.value)


def test_an_external_dtd_is_refused(secret):
    xml = (f'<?xml version="1.0"?><!DOCTYPE Document SYSTEM "{secret.as_uri()}">'
           '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>').encode()
    with pytest.raises(StatementError, match="DOCTYPE") as error:
        parse_statement(xml)
    assert "TOP-SECRET" not in str(error.value)


def test_the_parser_itself_expands_no_entity(secret):
    """Beneath the refusal of DOCTYPEs: the parser would not expand entities anyway."""
    from lxml import etree
    root = etree.fromstring(external_entity(secret), statements._make_parser())
    assert b"TOP-SECRET" not in etree.tostring(root)
    try:
        root = etree.fromstring(BILLION_LAUGHS, statements._make_parser())
    except etree.XMLSyntaxError as e:           # libxml2's own amplification limit
        assert "amplification" in str(e)
    else:
        assert len(etree.tostring(root)) < 2000


# -- refused: entries that cannot be read without guessing ------------------------------

def test_an_entry_without_an_identifier_is_refused():
    details = f"<NtryDtls>{tx(ref='<EndToEndId>E</EndToEndId>')}</NtryDtls>"
    xml = camt(ntry(), ntry("58.65", ids="", details=details))
    with pytest.raises(StatementError) as error:
        parse_statement(xml)
    message = str(error.value)
    assert "statement S1, entry 2" in message and "58.65 EUR" in message
    assert "has no identifier" in message and "AcctSvcrRef" in message


def test_blank_identifiers_count_as_none():
    with pytest.raises(StatementError, match="has no identifier"):
        parse_statement(camt(ntry(ids="<AcctSvcrRef>  </AcctSvcrRef><NtryRef/>")))


def test_two_entries_with_the_same_identifier_are_refused():
    with pytest.raises(StatementError, match=r"same identifier 'A1'"):
        parse_statement(camt(ntry("1.00"), ntry("2.00")))


@pytest.mark.parametrize("text, message", [
    ("58.655", "more than two decimals"),
    ("0.001", "more than two decimals"),
    ("-5.00", "negative amount '-5.00'"),
    ("abc", "bad amount 'abc'"),
    ("", "bad amount ''"),
    ("1e3", "bad amount '1e3'"),
    ("58,65", "bad amount '58,65'"),
    ("NaN", "bad amount 'NaN'"),
    ("Infinity", "bad amount 'Infinity'"),
    ("+5.00", "bad amount '+5.00'"),
    ("1 000.00", "bad amount '1 000.00'"),
    ("12345678901234567890.00", "too many digits"),
])
def test_bad_amounts_are_refused(text, message):
    with pytest.raises(StatementError, match="entry 1") as error:
        parse_statement(camt(ntry(text)))
    assert message in str(error.value)


@pytest.mark.parametrize("ccy", [None, "", "eur", "EURO", "€"])
def test_an_amount_without_a_valid_currency_is_refused(ccy):
    with pytest.raises(StatementError, match="no valid currency"):
        parse_statement(camt(ntry(ccy=ccy)))


def test_a_bad_amount_in_a_batch_transaction_is_refused():
    details = ("<NtryDtls>" + tx(amount='<Amt Ccy="EUR">4.001</Amt>')
               + tx(amount='<Amt Ccy="EUR">6.00</Amt>') + "</NtryDtls>")
    with pytest.raises(StatementError, match=r"transaction 1: amount '4.001'"):
        parse_statement(camt(ntry("10.00", details=details)))


@pytest.mark.parametrize("entry, message", [
    ("<Ntry><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><AcctSvcrRef>A</AcctSvcrRef></Ntry>",
     "entry 1 has no amount (Amt)"),
    (ntry(indicator=""), "CdtDbtInd is None, expected CRDT or DBIT"),
    (ntry(indicator="CREDIT"), "CdtDbtInd is 'CREDIT'"),
    (ntry().replace("<Sts>BOOK</Sts>", ""), "entry 1 has no status (Sts)"),
    (ntry(booked=""), "entry 1 is booked but has no booking date (BookgDt)"),
    (ntry(booked="<BookgDt><Dt>01.03.2024</Dt></BookgDt>"), "bad booking date '01.03.2024'"),
    (ntry(booked="<BookgDt><Dt>2024-02-30</Dt></BookgDt>"), "bad booking date '2024-02-30'"),
])
def test_entries_missing_what_a_payment_needs_are_refused(entry, message):
    with pytest.raises(StatementError) as error:
        parse_statement(camt(entry))
    assert message in str(error.value)


def test_a_statement_without_an_id_is_refused():
    with pytest.raises(StatementError, match=r"no Stmt/Id"):
        parse_statement(camt(ntry(), stmt_id=""))


def test_statement_error_is_a_value_error():
    assert issubclass(StatementError, ValueError)


def test_a_reversal_is_not_a_payment():
    reversal = ntry("25.00", ids="<AcctSvcrRef>R1</AcctSvcrRef>").replace(
        "<CdtDbtInd>CRDT</CdtDbtInd>", "<CdtDbtInd>CRDT</CdtDbtInd><RvslInd>true</RvslInd>")
    statement = parse_statement(camt(ntry("10.00"), reversal))
    assert [e.amount for e in statement.entries] == [Decimal("10.00")]


def details(**parts):
    return f"<NtryDtls>{tx(**parts)}</NtryDtls>"


@pytest.mark.parametrize("entry, message", [
    (ntry(ids=f"<AcctSvcrRef>{'A' * 200}</AcctSvcrRef>"), "identifier .* longer than ISO"),
    (ntry(details=details(rmt=f"<RmtInf><Strd><CdtrRefInf><Ref>{'1' * 40}</Ref></CdtrRefInf>"
                              "</Strd></RmtInf>")), "creditor reference .* longer than ISO"),
    (ntry(details=details(debtor=f"<Dbtr><Nm>{'Õ' * 141}</Nm></Dbtr>")),
     "debtor's name .* longer"),
    (ntry("9999999999999999.99"), "more than one payment can be"),
])
def test_values_beyond_the_standard_s_limits_refuse_the_statement(entry, message):
    """What a schema-valid statement cannot hold is an error naming it, not a
    database error half-way through the import."""
    with pytest.raises(StatementError, match=message):
        parse_statement(camt(entry))


def test_a_long_remittance_text_is_kept_to_its_start():
    lines = "".join(f"<Ustrd>{'x' * 140}</Ustrd>" for _ in range(5))
    [entry] = parse_statement(camt(ntry(details=details(rmt=f"<RmtInf>{lines}</RmtInf>")))).entries
    assert len(entry.remittance) == 500 and entry.remittance.startswith("x" * 140)
