"""Building camt.053 bank statements for tests."""


def ntry(amount="10.00", *, ccy="EUR", indicator="CRDT", status="BOOK", version=2,
         booked="<BookgDt><Dt>2024-03-01</Dt></BookgDt>", ids="<AcctSvcrRef>A1</AcctSvcrRef>",
         details="") -> str:
    sts = f"<Sts>{status}</Sts>" if version < 8 else f"<Sts><Cd>{status}</Cd></Sts>"
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt>' if ccy is not None else f"<Amt>{amount}</Amt>"
    return (f"<Ntry>{amt}<CdtDbtInd>{indicator}</CdtDbtInd>{sts}{booked}{ids}"
            f"{details}</Ntry>")


def camt(*entries: str, version: int = 2, stmt_id="<Id>S1</Id>",
         acct="<Acct><Id><IBAN>EE352200221012345678</IBAN></Id></Acct>") -> bytes:
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"
    return (f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ns}"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-02T05:00:00</CreDtTm></GrpHdr>"
            f"<Stmt>{stmt_id}{acct}{''.join(entries)}</Stmt>"
            f"</BkToCstmrStmt></Document>").encode("utf-8")


def tx(*, ref="", amount="", debtor="", rmt="") -> str:
    return f"<TxDtls><Refs>{ref}</Refs>{amount}<RltdPties>{debtor}</RltdPties>{rmt}</TxDtls>"
