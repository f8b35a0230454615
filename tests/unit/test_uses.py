"""The access log's uses in words (services/gateway/uses), and how a change's
outcome is read from the handler's answer (outcomes.py)."""
from werkzeug.wrappers import Response

from services.common.errors import Conflict, ServiceUnavailable, ValidationFailed
from services.gateway import uses
from services.gateway.uses import describe
from services.gateway.uses.outcomes import outcome_of


def test_every_text_has_its_estonian_translation():
    texts = [*uses.PARTS.values(), *uses.READS.values(), *uses.OUTCOMES.values(),
             *(text for pair in uses.CHANGES.values() for text in pair)]
    estonian = uses.gettext("et")
    assert [t for t in texts if estonian(t) == t] == []


def test_every_portal_form_is_described_as_its_api_route():
    assert set(uses.PORTAL_FORMS.values()) <= set(uses.CHANGES)
    entry = {"use": "portal_change_contact", "action": "change", "outcome": "done"}
    assert describe(entry, "en") == "changed the contact details"
    assert describe(entry, "et") == "muutis kontaktandmeid"


def test_an_invoice_and_its_pdf_name_the_invoice():
    entry = {"use": "invoice_pdf", "details": {"invoice_no": "2026-11-0001"}}
    assert describe(entry, "en") == "opened invoice 2026-11-0001 (PDF)"
    assert describe(entry, "et") == "avas arve 2026-11-0001 (PDF)"


def test_a_page_lists_its_parts_in_the_language_s_own_way():
    entry = {"use": "portal:overview", "action": "read",
             "details": {"parts": ["invoices", "claims"]}}
    assert describe(entry, "en") == "viewed the invoices and the claims"
    assert describe(entry, "et") == "vaatas arveid ja mõõtepunktide taotlusi"


def test_an_entry_older_than_the_codes_says_no_developer_text():
    old_change = {"use": None, "action": "change", "outcome": "attempted",
                  "what": "Submit a meter reading"}
    assert describe(old_change, "en") == "tried to change the data — the outcome is not known"
    assert describe({"action": "read", "what": "The invoice as PDF"}, "et") == "vaatas andmeid"


def test_the_outcome_is_the_answer_s_status():
    assert outcome_of(Response(status=201)) == "done"
    assert outcome_of({"reading_id": "r1"}) == "done"       # a route's plain result
    assert outcome_of(Response(status=303)) == "done"       # a page's redirect
    assert outcome_of(Response(status=422)) == "refused"    # a page's refusal
    assert outcome_of(exc=ValidationFailed.field("registers.T1", "too low")) == "refused"
    assert outcome_of(exc=Conflict("taken")) == "refused"
    assert outcome_of(exc=ServiceUnavailable("metering is down")) is None   # not known
    assert outcome_of(exc=RuntimeError("a bug")) is None


def test_the_page_answering_a_logged_change_is_not_a_use_of_its_own():
    class Request:
        pending_use = None
    request = Request()
    assert uses.page_use(request, "invoices") == "portal:invoices"
    request.pending_use = (7, "c1")          # authorize logged a change under a mandate
    assert uses.page_use(request, "invoices") is None
