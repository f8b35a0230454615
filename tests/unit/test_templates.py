"""Every notification kind renders in Estonian and in English from its one
template (English texts, Estonian from the catalog), with what the customer must
know and nothing left unfilled."""
from datetime import date

import pytest
from jinja2 import UndefinedError

from services.notifications import reactions, templates

MANDATE = {"mandate_id": "m", "grantor_customer_id": "g", "grantor_name": "Õie Mäger",
           "grantee_person_code": "60507120130", "grantee_name": "Mari Mäger",
           "grantee_customer_id": "c", "scopes": ["readings:write", "invoices:read"],
           "consumption_point_ids": [], "valid_from": "2026-03-01", "valid_until": "2027-02-28",
           "created_via": "online", "revoked_at": None}

# kind -> (values, {language: texts the body must contain})
SAMPLES = {
    "reading_reminder": (
        {"missed_date": date(2026, 2, 15), "next_date": date(2026, 3, 15),
         "address": "Narva mnt 7, Tallinn", "on_behalf_of": None},
        {"et": ["15.02.2026", "15.03.2026", "Narva mnt 7"],
         "en": ["15 February 2026", "15 March 2026", "Narva mnt 7"]}),
    "reading_held": (
        {"reading_date": "2026-02-28", "reason": "far above the usual use"},
        {"et": ["28.02.2026", "kontrollimisel", "far above the usual use"],
         "en": ["28 February 2026", "being checked", "far above the usual use"]}),
    "reading_decided": (
        {"reading_date": "2026-02-28", "reason": "the photo shows 500", "accepted": False},
        {"et": ["lükati tagasi: the photo shows 500"],
         "en": ["was rejected: the photo shows 500"]}),
    "reading_estimated": (
        {"reading_date": "2026-03-15", "previous_reading_date": "2026-02-15",
         "consumption": {"T1": 200, "T2": 80}, "method": "same_season_last_year"},
        {"et": ["15.03.2026", "15.02.2026", "280 kWh", "hinnanguline"],
         "en": ["15 March 2026", "15 February 2026", "280 kWh", "same season a year ago"]}),
    "invoice_issued": (     # as the reaction hands it on: with what is left to pay
        reactions._with_credit({
            "invoice_no": "2026-00000042", "customer_id": "c", "contract_no": "VL-000007",
            "period": "2026-02", "issued_on": "2026-03-01", "due_on": "2026-03-15",
            "reference_no": "1000074", "total": "1234.50"}),
        {"et": ["2026-00000042", "veebruar 2026", "1 234,50 €", "15.03.2026", "1000074"],
         "en": ["2026-00000042", "February 2026", "€1,234.50", "15 March 2026", "1000074"]}),
    "credit_note_issued": (
        {"invoice_no": "2026-00000043", "customer_id": "c", "contract_no": "VL-000007",
         "period": "2026-03", "issued_on": "2026-04-01", "reference_no": "1000074",
         "amount": "17.36"},
        {"et": ["Kreeditarve 2026-00000043", "märts 2026", "17,36 €", "Tasuda pole midagi"],
         "en": ["Credit note 2026-00000043", "March 2026", "€17.36", "nothing to pay"]}),
    "payment_received": (
        {"payment_id": "p", "amount": "60.00", "currency": "EUR", "received_on": "2026-03-10",
         "reference_no": "1000074", "source": "statement", "invoice_nos": ["2026-00000042"],
         "contract_no": "VL-000007", "customer_id": "c", "credit": "5.50",
         "payer_name": "Õie Mäger"},
        {"et": ["60,00 €", "10.03.2026", "2026-00000042", "5,50 €"],
         "en": ["€60.00", "10 March 2026", "2026-00000042", "€5.50"]}),
    "invoice_overdue": (
        {"invoice_no": "2026-00000042", "customer_id": "c", "contract_no": "VL-000007",
         "reference_no": "1000074", "due_on": "2026-03-15", "total": "80.00", "paid": "30.00",
         "as_of": "2026-03-20", "outstanding": "50.00"},
        {"et": ["2026-00000042", "15.03.2026", "50,00 €", "1000074"],
         "en": ["2026-00000042", "15 March 2026", "€50.00", "1000074"]}),
    "mandate_granted": (
        {**MANDATE, "role": "grantee"},
        {"et": ["Õie Mäger", "näitude teatamine", "arvete ja maksete vaatamine", "28.02.2027"],
         "en": ["Õie Mäger", "entering meter readings", "viewing invoices", "28 February 2027"]}),
    "mandate_revoked": (
        {**MANDATE, "revoked_at": "2026-04-01T10:00:00+00:00", "role": "grantor"},
        {"et": ["Mari Mäger", "tagasi võetud", "01.04.2026"],
         "en": ["Mari Mäger", "revoked", "1 April 2026"]}),
    "mandate_expired": (
        {**MANDATE, "role": "grantee"},
        {"et": ["Õie Mäger", "lõppenud", "28.02.2027"],
         "en": ["Õie Mäger", "expired", "28 February 2027"]}),
    "contract_signed": (
        {"contract_no": "VL-000007", "address": "Narva mnt 7, Tallinn", "reference_no": "1000074",
         "start_date": "2026-01-01", "reading_day": 15, "tariff_plan": "BASIC"},
        {"et": ["VL-000007", "Narva mnt 7", "01.01.2026", "1000074", "15."],
         "en": ["VL-000007", "Narva mnt 7", "1 January 2026", "1000074", "day 15"]}),
    "claim_decided": (
        {"approved": False, "contract_no": None, "reason": "the meter is not yours"},
        {"et": ["lükati tagasi: the meter is not yours"],
         "en": ["was rejected: the meter is not yours"]}),
    "case_answered": (
        {"case_subject": "Arve on liiga suur", "reply": "Vaatasime üle: näit oli vale."},
        {"et": ["Arve on liiga suur", "Vaatasime üle: näit oli vale."],
         "en": ["Arve on liiga suur", "Vaatasime üle: näit oli vale."]}),
}


def test_there_is_a_sample_and_one_template_per_kind():
    assert set(SAMPLES) == set(templates.KINDS)
    files = {p.stem for p in templates.TEMPLATES.glob("*.txt") if not p.stem.startswith("_")}
    assert files == set(templates.KINDS)


@pytest.mark.parametrize("language", templates.LANGUAGES)
@pytest.mark.parametrize("kind", templates.KINDS)
def test_every_template_renders_in_both_languages(kind, language):
    values, expected = SAMPLES[kind]
    subject, body = templates.render(kind, language, values)
    assert subject and "\n" not in subject and body
    for text in expected[language]:
        assert text in body or text in subject, f"{kind}/{language}: {text!r} missing:\n{body}"
    assert "{" not in subject + body and "None" not in subject + body


@pytest.mark.parametrize("kind", templates.KINDS)
def test_the_two_languages_say_it_differently(kind):
    values, _ = SAMPLES[kind]
    assert templates.render(kind, "et", values) != templates.render(kind, "en", values)


def test_each_party_of_a_mandate_reads_about_the_other():
    grantor = templates.render("mandate_granted", "en", {**MANDATE, "role": "grantor"})[1]
    grantee = templates.render("mandate_granted", "en", {**MANDATE, "role": "grantee"})[1]
    assert "You have authorised Mari Mäger" in grantor
    assert "Õie Mäger has authorised you" in grantee
    open_ended = templates.render("mandate_granted", "et", {
        **MANDATE, "role": "grantor", "valid_until": None, "consumption_point_ids": ["p1"]})[1]
    assert "tähtajatult" in open_ended and "1 tarbimiskoha" in open_ended


def test_a_reminder_to_a_delegate_names_whom_it_is_for():
    values = {**SAMPLES["reading_reminder"][0], "on_behalf_of": "Õie Mäger"}
    assert "Õie Mäger, who has authorised you" in templates.render(
        "reading_reminder", "en", values)[1]
    assert "Õie Mäger (kes on Teid volitanud)" in templates.render(
        "reading_reminder", "et", values)[1]


def test_a_reading_released_from_review_is_told_as_accepted():
    for language, said in (("et", "vastu võetud"), ("en", "checked and accepted")):
        _, body = templates.render("reading_decided", language,
                                   {"reading_date": "2026-02-28", "accepted": True})
        assert said in body and "28" in body
        assert "rejected" not in body and "tagasi" not in body


def test_an_approved_claim_names_the_contract():
    values = {"approved": True, "contract_no": "VL-000009", "reason": None}
    subject, body = templates.render("claim_decided", "et", values)
    assert "rahuldatud" in subject and "VL-000009" in body


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_a_value_the_event_did_not_carry_is_an_error_not_a_blank(language):
    with pytest.raises(UndefinedError):
        templates.render("invoice_issued", language, {"invoice_no": "2026-00000042"})
    with pytest.raises(UndefinedError):  # a value filled into a translated sentence
        templates.render("reading_held", language, {"reading_date": "2026-02-28"})


@pytest.mark.parametrize("language", templates.LANGUAGES)
def test_what_the_customer_wrote_is_filled_in_as_written(language):
    # the sentences are format strings; a value is never read as one
    said = "100% wrong: %(total)s {total}"
    subject, body = templates.render("case_answered", language,
                                     {"case_subject": said, "reply": "Yes, 50%."})
    assert said in subject and said in body and body.endswith("Yes, 50%.")


def test_an_unknown_language_falls_back_to_estonian():
    values, _ = SAMPLES["reading_held"]
    assert templates.render("reading_held", "fi", values) == templates.render(
        "reading_held", "et", values)


@pytest.mark.parametrize("paid, et, en", [
    ("1234.50", ["Arve on juba tasutud: tasuda pole midagi"],
     ["It is already paid: there is nothing to pay"]),
    ("234.50", ["Sellest 234,50 € on juba tasutud: tasuda jääb 1 000,00 €", "15.03.2026"],
     ["Of it, €234.50 is already paid: €1,000.00 is left to pay", "15 March 2026"]),
])
def test_an_invoice_issued_says_what_was_already_paid_of_it(paid, et, en):
    invoice = {**SAMPLES["invoice_issued"][0], "paid": paid}
    for language, expected in (("et", et), ("en", en)):
        _, body = templates.render("invoice_issued", language,
                                   reactions._with_credit(invoice))
        assert all(text in body for text in expected), body
    _, unpaid = templates.render("invoice_issued", "en", reactions._with_credit(
        {**invoice, "paid": "0.00"}))
    assert "already paid" not in unpaid and "15 March 2026" in unpaid
