"""The mandate form in words: each scope group stands for the scopes the portal's
contract names, the raw scopes are still taken, dates are read as the page's
language writes them; and every text of the account pages has its Estonian."""
import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from werkzeug.datastructures import MultiDict

from services.common.errors import ValidationFailed
from services.gateway.portal import account_pages, forms
from tests.samples import GRANDCHILD

PORTAL = Path(forms.__file__).parent


@pytest.mark.parametrize("group, scopes", [
    ("contract", ["contract:read"]),
    ("invoices", ["invoices:read"]),
    ("readings", ["readings:write"]),
    ("pay", ["invoices:read", "payments:write"]),
    ("contact", ["contact:write", "contract:read"]),
    ("desk", ["feedback:write"]),
    ("claims", ["consumption-points:claim"]),
])
def test_each_scope_group_stands_for_its_scopes(group, scopes):
    grant = forms.mandate_grant(MultiDict([("grantee_person_code", GRANDCHILD),
                                           ("scope_group", group)]), "en")
    assert grant.scopes == scopes
    # and a mandate of those scopes reads as that group again
    groups, other = forms.groups_of_scopes(scopes)
    assert group in [key for key, _, _ in groups] and other == []


def test_groups_add_up_and_raw_scopes_are_still_taken():
    grant = forms.mandate_grant(MultiDict([
        ("grantee_person_code", GRANDCHILD), ("scope_group", "pay"),
        ("scope_group", "invoices"), ("scopes", "readings:read")]), "et")
    assert grant.scopes == ["invoices:read", "payments:write", "readings:read"]
    # a scope no group stands for is said on its own
    assert forms.groups_of_scopes(["readings:read"]) == ([], ["See the readings"])


def test_every_problem_of_the_grant_form_is_named_at_its_field_at_once():
    with pytest.raises(ValidationFailed) as refused:
        forms.mandate_grant(MultiDict([("grantee_person_code", "123"),
                                       ("valid_until", "32.13.2027")]), "et")
    fields = {e["field"] for e in refused.value.errors}
    assert fields == {"grantee_person_code", "scope_group", "valid_until"}
    with pytest.raises(ValidationFailed) as unknown:
        forms.mandate_grant(MultiDict([("grantee_person_code", GRANDCHILD),
                                       ("scope_group", "everything")]), "en")
    assert [e["field"] for e in unknown.value.errors] == ["scope_group"]


@pytest.mark.parametrize("language, typed", [("et", "31.12.2027"), ("en", "31/12/2027"),
                                             ("et", "2027-12-31"), ("en", "31.12.2027")])
def test_validity_dates_are_read_as_her_language_writes_them(language, typed):
    grant = forms.mandate_grant(MultiDict([("grantee_person_code", GRANDCHILD),
                                           ("scope_group", "readings"),
                                           ("valid_from", "2027-01-01"),
                                           ("valid_until", typed)]), language)
    assert (grant.valid_from, grant.valid_until) == (date(2027, 1, 1), date(2027, 12, 31))
    assert forms.date_value(grant.valid_until, language) == "31.12.2027"


def _texts():
    """The msgids of the account pages: their templates and what Python says there."""
    found = set()
    for name in ("contract", "messages", "mandates", "mandate_review", "account_forms"):
        with open(PORTAL / "templates" / f"{name}.html", "rb") as template:
            for _, _, message, _ in babel_extract(template, ["_"], [], {}):
                message = message if isinstance(message, str) else (message or [None])[0]
                if message:
                    found.add(message)
    found.update(text for _, _, title, explanation in forms.SCOPE_GROUPS
                 for text in (title, explanation))
    found.update(forms.SCOPE_WORDS.values())
    for words in (account_pages.MANDATE_STATUS, account_pages.CLAIM_STATUS,
                  account_pages.CONTRACT_STATUS):
        found.update(words.values())
    source = (PORTAL / "account_pages.py").read_text(encoding="utf-8")
    found.update(re.findall(r'"message": "([^"]+)"', source))
    found.add(account_pages.CLAIM_SENT)
    found.update(re.findall(r'words\(request, "([^"]+)"\)', source))
    return found


def test_every_text_of_the_account_pages_has_its_estonian():
    with open(PORTAL / "locale" / "et" / "LC_MESSAGES" / "messages.po", "rb") as po:
        translated = {m.id for m in read_po(po) if m.id and m.string}
    assert sorted(_texts() - translated) == []
