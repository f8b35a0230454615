"""An invoice as a PDF, in Estonian or English.

Framework-free: ``render_invoice(invoice, language)`` takes the invoice as the API
shows it (see API.md, "invoice line") and returns the PDF's bytes. Built with fpdf2;
the text is set in DejaVu Sans, shipped in ``fonts/`` (with its licence), because
fpdf2's core fonts are Latin-1 only and have no š or ž, and the runtime image has
no system fonts. The texts are English msgids; Estonian is in
``locale/et/LC_MESSAGES/messages.po`` (``make messages`` after changing one); no
``_()`` inside an f-string, where Babel's extractor (Python 3.11) does not see it.

The output is byte-identical for the same input: the PDF's creation date (and so
its /ID) is taken from the invoice's ``issued_on``, not from the clock.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from services.billing.money import exact, to_cents
from services.common import formats
from services.common.translations import N_, translations

SELLER_NAME = "Vool Energia AS"
SELLER_ADDRESS = "Narva mnt 5, 10117 Tallinn"
SELLER_REGISTRY_CODE = "16912345"
SELLER_VAT_NO = "EE102912345"
SELLER_BANK = "Swedbank"
SELLER_IBAN = "EE382200221020145685"

FONT_DIR = Path(__file__).resolve().parent / "fonts"
_FONT = "DejaVuSans"

LANGUAGES = ("et", "en")

LOCALE_DIR = Path(__file__).resolve().parent / "locale"


# A line's kind and register as the customer reads them (msgids; Estonian in locale/)
_KINDS = {
    "energy": N_("Energy"),
    "network": N_("Network fee"),
    "renewable": N_("Renewable energy charge"),
    "excise": N_("Electricity excise"),
    "monthly_fee": N_("Monthly fee"),
}
_REGISTERS = {
    # Translators: a tariff's time of day, after the line's kind: "Energy, day"
    "T1": N_("day"),
    "T2": N_("night"),
}

# --- formatting (services/common/formats.py: the portal's and e-mails' formats) ------

_ESTIMATED = N_("estimated")
_ESTIMATE_TAKEN_BACK = N_("estimate taken back")
_ESTIMATES_NOTE = N_("Lines marked estimated charge a reading we estimated because none "
                     "was entered; your next actual reading settles them.")

_CREDIT_NOTE = N_("This invoice is a credit of %(amount)s: it is deducted from your open and "
                  "next invoices, oldest first. There is nothing to pay.")


def _date_text(value: str, language: str, short: bool = False) -> str:
    return formats.day(value, language, short=short)


def _period_text(period: str, language: str) -> str:
    return formats.month(period, language)


def _money_text(amount, language: str, places: int = 2) -> str:
    value = to_cents(amount) if places == 2 else exact(amount)
    return formats.money(value, language, places)


def _decimals(value: Decimal) -> int:
    return max(0, -value.as_tuple().exponent)


def _unit_price_text(unit_price, language: str) -> str:
    value = exact(unit_price)
    return _money_text(value, language, places=max(2, _decimals(value)))


def _kwh_text(kwh, language: str) -> str:
    return formats.number(exact(kwh), language)


def _rate_text(rate, language: str) -> str:
    return formats.number(exact(rate).normalize(), language)  # "24.00" -> 24


def _iban_text(iban: str) -> str:
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def _line_item(line: dict, gettext, show_registers: bool) -> str:
    kind = line["kind"]
    text = gettext(_KINDS[kind]) if kind in _KINDS else kind
    register = line.get("register")
    if show_registers and register:
        text += f", {gettext(_REGISTERS[register]) if register in _REGISTERS else register}"
    if line.get("corrects_estimate"):
        # Translators: a line taking back what an estimated reading was charged
        text += f" ({gettext(_ESTIMATE_TAKEN_BACK)})"
    elif line.get("estimated"):
        # Translators: a line charging an estimated reading (et: "hinnanguline")
        text += f" ({gettext(_ESTIMATED)})"
    return text


def _line_period(line: dict, language: str) -> str:
    start, end = line.get("period_from"), line.get("period_to")
    if start and end:
        return f"{_date_text(start, language, True)}–{_date_text(end, language, True)}"
    return _date_text(start or end, language, True) if (start or end) else ""


# --- the document -----------------------------------------------------------------

class _InvoicePDF(FPDF):
    def __init__(self, footer_text: str, page_label: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text
        self._page_label = page_label

    def footer(self):
        self.set_y(-15)
        self.set_font(_FONT, size=8)
        self.set_text_color(100)
        self.cell(0, 5, self._footer_text, align="L")
        self.set_x(self.l_margin)
        label = self._page_label % {"page": self.page_no(), "pages": "{nb}"}
        self.cell(0, 5, label, align="R")
        self.set_text_color(0)


def render_invoice(invoice: dict, language: str) -> bytes:
    """The invoice as PDF bytes, in ``language`` ("et" or "en")."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {LANGUAGES}")
    _ = translations(str(LOCALE_DIR), language).gettext

    invoice_no = str(invoice["invoice_no"])
    reference_no = str(invoice["reference_no"])
    issued_on = date.fromisoformat(invoice["issued_on"])
    total = to_cents(invoice["total"])
    paid = to_cents(invoice.get("paid") or "0")
    to_pay = max(total - paid, Decimal("0.00"))
    # a negative total: a credit note (kreeditarve), nothing to pay
    title = _("Credit note") if total < 0 else _("Invoice")

    def money(amount) -> str:
        return _money_text(amount, language)

    pdf = _InvoicePDF(
        footer_text=" ".join((SELLER_NAME, "·", _("Invoice no."), invoice_no)),
        # Translators: in the footer of every page: "Page 1 of 2"
        page_label=_("Page %(page)s of %(pages)s"),
    )
    pdf.set_creation_date(datetime.combine(issued_on, time(0), tzinfo=timezone.utc))
    pdf.set_title(" ".join((title, invoice_no)))
    pdf.set_author(SELLER_NAME)
    pdf.set_creator(SELLER_NAME)
    pdf.set_lang("et-EE" if language == "et" else "en")
    pdf.add_font(_FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(_FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(20, 15, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.epw
    left = pdf.l_margin
    half = width / 2

    # seller (left) and title (right)
    top = pdf.get_y()
    pdf.set_font(_FONT, "B", 16)
    pdf.cell(half, 8, SELLER_NAME)
    pdf.set_font(_FONT, "B", 18)
    pdf.cell(half, 8, title.upper(), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=8)
    seller_lines = [
        SELLER_ADDRESS,
        " ".join((_("Registry code"), SELLER_REGISTRY_CODE, "·", _("VAT no."), SELLER_VAT_NO)),
        " ".join((_("Bank account"), _iban_text(SELLER_IBAN), f"({SELLER_BANK})")),
    ]
    pdf.multi_cell(half + 20, 4, "\n".join(seller_lines), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 24) + 4)

    # customer (left) and invoice details (right)
    top = pdf.get_y()
    customer = invoice["customer"]
    pdf.set_font(_FONT, "B", 9)
    pdf.cell(half, 5, _("Customer"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=10)
    pdf.multi_cell(half - 5, 5, customer["name"], new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(half - 5, 5, customer.get("postal_address") or "", new_x="LMARGIN", new_y="NEXT")
    bottom_left = pdf.get_y()

    details = [
        (_("Invoice no."), invoice_no),
        (_("Period"), _period_text(invoice["period"], language)),
        (_("Issue date"), _date_text(invoice["issued_on"], language)),
        *([] if total < 0 else [(_("Due date"), _date_text(invoice["due_on"], language))]),
        (_("Contract no."), str(invoice.get("contract_no") or "")),
    ]   # a credit note is due nothing
    pdf.set_y(top)
    for label, value in details:
        pdf.set_x(left + half)
        pdf.set_font(_FONT, size=9)
        pdf.cell(35, 5, label)
        pdf.set_font(_FONT, "B", 9)
        pdf.cell(half - 35, 5, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(bottom_left, pdf.get_y()) + 5)

    # the reference number, prominently: customers pay by it
    pdf.set_fill_color(235, 241, 250)
    pdf.set_draw_color(60, 100, 170)
    box_top = pdf.get_y()
    pdf.rect(left, box_top, width, 16, style="DF")
    pdf.set_xy(left + 4, box_top + 2)
    pdf.set_font(_FONT, size=9)
    pdf.cell(width / 2, 5, _("Reference number"))
    pdf.set_font(_FONT, size=9)
    pdf.cell(width / 2 - 8, 5, _("To pay"), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(left + 4)
    pdf.set_font(_FONT, "B", 15)
    pdf.cell(width / 2, 8, reference_no)
    pdf.set_font(_FONT, "B", 12)
    # Translators: the sum to pay and its due date, under "To pay": "€1,002.77 by 15 December 2026"
    pay_by = money(to_pay) if to_pay == 0 else _("%(amount)s by %(due)s") % {
        "amount": money(to_pay), "due": _date_text(invoice["due_on"], language)}
    pdf.cell(width / 2 - 8, 8, pay_by, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(0)
    pdf.set_fill_color(255)
    pdf.set_y(box_top + 16 + 5)

    # consumption point
    point = invoice.get("consumption_point") or {}
    pdf.set_font(_FONT, "B", 9)
    pdf.cell(width, 5, _("Consumption point"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, size=9)
    pdf.multi_cell(width, 5, point.get("address") or "", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width, 5, " ".join((_("EIC code"), point.get("eic") or "")),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    # lines
    lines = invoice.get("lines") or []
    registers = {line.get("register") for line in lines if line.get("register")}
    show_registers = len(registers) >= 2
    pdf.set_font(_FONT, size=8.5)
    with pdf.table(
        col_widths=(52, 42, 22, 28, 26),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 241, 250)),
        borders_layout="HORIZONTAL_LINES",
        cell_fill_mode="ROWS",
        cell_fill_color=(246, 246, 246),
        line_height=5,
        repeat_headings=1,
        width=width,
    ) as table:
        table.row((_("Item"), _("Period"), _("kWh"), _("Unit price"), _("Amount")))
        for line in lines:
            kwh, unit_price = line.get("kwh"), line.get("unit_price")
            table.row((
                _line_item(line, _, show_registers),
                _line_period(line, language),
                _kwh_text(kwh, language) if kwh is not None else "",
                _unit_price_text(unit_price, language) if unit_price is not None else "",
                money(line["net"]),
            ))

    if any(line.get("estimated") for line in lines):
        pdf.set_font(_FONT, size=7.5)
        pdf.multi_cell(width, 4, _(_ESTIMATES_NOTE), new_x="LMARGIN", new_y="NEXT")

    # totals, kept together
    # VAT by rate: a line is taxed at the rate of its days (an estimate taken back,
    # at the estimate's), each rate's VAT rounded once; without a breakdown (an
    # invoice of one rate), the invoice's rate
    by_rate = invoice.get("vat_by_rate") or [
        {"vat_rate": invoice["vat_rate"], "vat": invoice["vat"]}]
    totals = [
        (_("Net amount"), money(invoice["net"]), False),
        *((_("VAT %(rate)s%%") % {"rate": _rate_text(group["vat_rate"], language)},
           money(group["vat"]), False) for group in by_rate),
        (_("Invoice total"), money(total), True),
        (_("Already paid"), money(paid), False),
        (_("To pay"), money(to_pay), True),
    ]
    block_height = 4 + 6 * len(totals) + 4 + 15
    if pdf.will_page_break(block_height):
        pdf.add_page()
    pdf.ln(4)
    label_width, value_width = 60, 30
    for label, value, bold in totals:
        pdf.set_x(left + width - label_width - value_width)
        pdf.set_font(_FONT, "B" if bold else "", 10)
        pdf.cell(label_width, 6, label)
        pdf.cell(value_width, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(_FONT, size=8.5)
    if total < 0:   # a credit note: nothing to pay, the amount pays later invoices
        pdf.multi_cell(width, 4.5, _(_CREDIT_NOTE) % {"amount": money(-total)},
                       new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())
    if to_pay == 0:
        pdf.multi_cell(width, 4.5, _("This invoice is paid: there is nothing to pay."),
                       new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())
    pdf.multi_cell(width, 4.5, _(
        "Please pay to the bank account %(iban)s (%(bank)s), payee %(seller)s, quoting the "
        "reference number %(ref)s. Without it we may not be able to match your payment to "
        "this invoice.") % {"iban": _iban_text(SELLER_IBAN), "bank": SELLER_BANK,
                            "seller": SELLER_NAME, "ref": reference_no})

    return bytes(pdf.output())
