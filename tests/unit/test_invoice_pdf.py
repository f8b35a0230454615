"""services.billing.invoice_pdf: the invoice as a PDF, in Estonian and English."""
import copy
import io

import pytest
from pypdf import PdfReader

from services.billing.invoice_pdf import render_invoice

INVOICE = {
    "invoice_no": "2026110042",
    "period": "2026-11",
    "issued_on": "2026-12-01",
    "due_on": "2026-12-15",
    "reference_no": "12345678903",
    "contract_no": "VL-2024-0001",
    "customer": {"name": "Õie Mäger", "postal_address": "Pärnu mnt 12-5, 10148 Tallinn"},
    "consumption_point": {
        "eic": "38ZEE-00123456-7",
        "address": "Šveitsi tee 3, Žõgõva küla, Rapla vald",
    },
    "lines": [
        {"kind": "energy", "register": "T1", "kwh": "180", "unit_price": "0.112340",
         "period_from": "2026-11-01", "period_to": "2026-11-30", "net": "20.22"},
        {"kind": "energy", "register": "T2", "kwh": "120", "unit_price": "0.081",
         "period_from": "2026-11-01", "period_to": "2026-11-30", "net": "9.72"},
        {"kind": "network", "kwh": "300", "unit_price": "0.0512", "net": "15.36"},
        {"kind": "renewable", "kwh": "300", "unit_price": "0.0084", "net": "2.52"},
        {"kind": "excise", "kwh": "300", "unit_price": "0.001", "net": "0.30"},
        {"kind": "monthly_fee", "unit_price": "2.50", "net": "2.50"},
    ],
    "net": "1050.62",
    "vat": "252.15",
    "vat_rate": "24.00",
    "total": "1302.77",
    "paid": "300.00",
    "status": "unpaid",
}


def text_of(pdf: bytes) -> list[str]:
    """The text of each page, as pypdf extracts it."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_estonian_invoice_shows_what_the_customer_needs_to_pay_it():
    pdf = render_invoice(INVOICE, "et")
    assert pdf.startswith(b"%PDF-")
    [text] = text_of(pdf)

    # Estonian characters survive (embedded Unicode font, not Latin-1 core fonts)
    for phrase in ("Õie Mäger", "Pärnu mnt 12-5", "Šveitsi tee 3, Žõgõva küla", "öö"):
        assert phrase in text
    assert "Vool Energia AS" in text
    assert "Arve nr" in text and "2026110042" in text
    assert "Viitenumber" in text and "12345678903" in text
    assert "38ZEE-00123456-7" in text
    assert "november 2026" in text
    assert "Arve kuupäev 01.12.2026" in text
    assert "Maksetähtaeg 15.12.2026" in text
    # lines: kinds translated, T1/T2 as day/night because the plan has two registers
    for label in ("Elektrienergia, päev", "Elektrienergia, öö", "Võrgutasu",
                  "Taastuvenergia tasu", "Elektriaktsiis", "Kuutasu"):
        assert label in text
    assert "0,112340 €" in text
    # totals with comma decimals, thousands grouped, VAT with its rate
    assert "Summa käibemaksuta 1 050,62 €" in text
    assert "Käibemaks 24% 252,15 €" in text
    assert "Arve summa kokku 1 302,77 €" in text
    assert "Juba tasutud 300,00 €" in text
    assert "Tasuda 1 002,77 €" in text  # total less what is already paid
    assert "1302.77" not in text and "€1" not in text


def test_english_invoice_uses_english_labels_dates_and_amounts():
    [text] = text_of(render_invoice(INVOICE, "en"))

    assert "Õie Mäger" in text
    assert "Invoice no." in text and "2026110042" in text
    assert "Reference number" in text and "12345678903" in text
    assert "November 2026" in text
    assert "Issue date 1 December 2026" in text
    assert "Due date 15 December 2026" in text
    for label in ("Energy, day", "Energy, night", "Network fee",
                  "Renewable energy charge", "Electricity excise", "Monthly fee"):
        assert label in text
    assert "Net amount €1,050.62" in text
    assert "VAT 24% €252.15" in text
    assert "Invoice total €1,302.77" in text
    assert "Already paid €300.00" in text
    assert "To pay €1,002.77" in text
    for estonian in ("Viitenumber", "Võrgutasu", "Tasuda", "01.12.2026"):
        assert estonian not in text


def test_register_is_not_shown_for_a_single_register_plan():
    invoice = copy.deepcopy(INVOICE)
    invoice["lines"] = [{"kind": "energy", "register": "T1", "kwh": "300",
                         "unit_price": "0.1", "net": "30.00"}]
    [text] = text_of(render_invoice(invoice, "et"))
    assert "Elektrienergia 300" in text
    assert "Elektrienergia," not in text


def test_same_input_gives_identical_bytes():
    first = render_invoice(INVOICE, "et")
    assert render_invoice(copy.deepcopy(INVOICE), "et") == first
    assert render_invoice(INVOICE, "en") != first


def test_unknown_language_is_rejected():
    with pytest.raises(ValueError):
        render_invoice(INVOICE, "ru")


def test_forty_lines_paginate_without_losing_the_totals():
    invoice = copy.deepcopy(INVOICE)
    invoice["lines"] = [
        {"kind": "energy", "kwh": "10", "unit_price": "0.100000",
         "period_from": f"2026-11-{day:02d}", "period_to": f"2026-11-{day:02d}",
         "net": f"{day}.00"}
        for day in range(1, 31)
    ] + [{"kind": "network", "kwh": "10", "unit_price": "0.05", "net": "0.50"}] * 10
    pages = text_of(render_invoice(invoice, "et"))

    assert len(pages) >= 2
    everything = "\n".join(pages)
    for day in (1, 15, 30):  # every line is there, on some page
        assert f"{day:02d}.11.2026–{day:02d}.11.2026" in everything
    assert everything.count("Võrgutasu") == 10
    # the table's headings repeat, and every page says which invoice it belongs to
    assert all("Ühikuhind" in page and "2026110042" in page for page in pages)
    assert f"Lehekülg {len(pages)}/{len(pages)}" in pages[-1]
    assert "Arve summa kokku 1 302,77 €" in pages[-1]
    assert "Tasuda 1 002,77 €" in pages[-1]


def test_estimated_lines_and_their_taking_back_are_marked_in_both_languages():
    invoice = copy.deepcopy(INVOICE)
    invoice["lines"] = [
        {"kind": "energy", "kwh": "310", "unit_price": "0.129000", "net": "39.99",
         "period_from": "2026-10-16", "period_to": "2026-11-15", "estimated": True,
         "method": "recent_average"},
        {"kind": "energy", "kwh": "-290", "unit_price": "0.129000", "net": "-37.41",
         "period_from": "2026-09-16", "period_to": "2026-10-15", "estimated": True,
         "method": "recent_average", "corrects_estimate": True},
        {"kind": "energy", "kwh": "40", "unit_price": "0.129000", "net": "5.16",
         "period_from": "2026-11-16", "period_to": "2026-11-30"},
    ]
    # a long item wraps in its cell: compare the words
    [et] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "et"))]
    assert "Elektrienergia (hinnanguline)" in et and "(hinnangu tagasivõtmine)" in et
    assert "Hinnanguliseks märgitud read" in et
    [en] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "en"))]
    assert "Energy (estimated)" in en and "Energy (estimate taken back)" in en
    assert en.count("(estimated)") == 1


def test_vat_is_shown_per_rate_when_the_lines_are_at_two_rates():
    invoice = copy.deepcopy(INVOICE)
    invoice["lines"] = [
        {"kind": "energy", "kwh": "-310", "unit_price": "0.129000", "net": "-39.99",
         "period_from": "2025-05-16", "period_to": "2025-06-15", "estimated": True,
         "method": "recent_average", "corrects_estimate": True, "vat_rate": "22.00"},
        {"kind": "energy", "kwh": "400", "unit_price": "0.151000", "net": "60.40",
         "period_from": "2025-07-01", "period_to": "2025-08-15", "vat_rate": "24.00"},
    ]
    invoice.update(net="20.41", vat="5.70", total="26.11", paid="0.00", vat_by_rate=[
        {"vat_rate": "22.00", "net": "-39.99", "vat": "-8.80"},
        {"vat_rate": "24.00", "net": "60.40", "vat": "14.50"}])
    [et] = text_of(render_invoice(invoice, "et"))
    assert "Käibemaks 22% -8,80 €" in et and "Käibemaks 24% 14,50 €" in et
    [en] = text_of(render_invoice(invoice, "en"))
    assert "VAT 22% -€8.80" in en
    assert "VAT 24% €14.50" in en and "Invoice total €26.11" in en


def test_a_credit_note_says_what_it_pays_and_asks_for_nothing():
    invoice = copy.deepcopy(INVOICE)
    invoice.update(net="-40.00", vat="-9.60", total="-49.60", paid="0.00", status="paid",
                   vat_by_rate=[{"vat_rate": "24.00", "net": "-40.00", "vat": "-9.60"}])
    [et] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "et"))]
    assert "See arve on kreeditarve summas 49,60 €" in et and "Tasuda pole midagi" in et
    assert "Palume tasuda" not in et and "Palume tasuda" in " ".join(
        text_of(render_invoice(INVOICE, "et"))[0].split())
    assert et.count("KREEDITARVE") == 1 and " ARVE " not in et
    [en] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "en"))]
    assert "This invoice is a credit of €49.60" in en and "There is nothing to pay." in en
    assert "CREDIT NOTE" in en and "INVOICE" not in en
    assert "Please pay" not in en and "€0.00 by" not in en


def test_an_invoice_paid_from_credit_asks_for_nothing():
    invoice = copy.deepcopy(INVOICE)
    invoice["paid"] = invoice["total"]            # a credit note's credit paid it
    [en] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "en"))]
    assert "This invoice is paid: there is nothing to pay." in en
    assert "Please pay" not in en and " by 15 December 2026" not in en
    assert "INVOICE" in en
    [et] = [" ".join(t.split()) for t in text_of(render_invoice(invoice, "et"))]
    assert "See arve on tasutud: tasuda pole midagi." in et and "Palume tasuda" not in et
