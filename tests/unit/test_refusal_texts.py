"""Every refusal a service can make has its customer's words in Estonian and English
(services/gateway/refusals/), with its parameters in the page's formats."""
import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from services.common.validation import parse
from services.contracts.api import Claim, ContactChange
from services.gateway import problems, refusals
from services.gateway.actions.readings import NewReading
from services.identity import mandates
from services.identity.api import MandateGrant
from services.notifications.api import Feedback

SERVICES = Path(__file__).resolve().parents[2] / "services"
CATALOG = Path(refusals.LOCALE_DIR) / "et" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")

#: the calls that name a rule by their first argument, and by their third
CODE_FIRST = {"rule_error", "reject"}
CODE_THIRD = {"field_error", "field"}


def _name(func):
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def raised_codes():
    """Every code the services' source names for a refusal: ``code="..."`` (as
    tests/unit/test_openapi_document.py greps them for PROBLEM_TYPES), a field
    error's code (field_error's and ValidationFailed.field's third argument), a
    validator's rule_error, a banklink reply's reject, and the mandates' refusals."""
    constants, calls = {}, []
    for source in SERVICES.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        codes = set(re.findall(r'code="([a-z-]+)"', text))
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants[target.id] = node.value.value
            elif isinstance(node, ast.Call):
                calls.append(node)
        calls.extend(ast.Constant(code) for code in codes)
    found = set()
    for node in calls:
        if isinstance(node, ast.Constant):
            found.add(node.value)
            continue
        name, args = _name(node.func), node.args
        named = [k.value for k in node.keywords if k.arg == "code"]
        if name in CODE_FIRST and args:
            named.append(args[0])
        if name in CODE_THIRD and len(args) >= 3:
            named.append(args[2])
        for arg in named:
            if isinstance(arg, ast.Name):
                arg = ast.Constant(constants.get(arg.id))
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
    return found | {code for _, code in mandates.REFUSALS.values()}


#: what a customer can send in each of the portal's forms, honest and not
FORM_INPUTS = {
    NewReading: [
        {"reading_date": None, "registers": {"T1": None}},
        {"reading_date": "31.02.2026", "registers": {"T1": "12,5", "T2": "1.5"}},
        {"reading_date": "2026-02-30", "registers": {"T1": "x" * 5000}},
        {"registers": {"T1": "99999999999999999999999999"}, "extra": 1},
        {"reading_date": [], "registers": []},
    ],
    ContactChange: [
        {"phone": "abc", "email": "oie@", "postal_address": "x" * 501, "language": "fi"},
        {"phone": "+372 1", "email": "oie.example.ee", "language": ""},
        {"phone": "5" * 40, "email": "@" * 400},
    ],
    Feedback: [
        {"kind": "", "subject": "", "body": ""},
        {"kind": "praise", "subject": "x" * 301, "body": "x" * 10_001},
    ],
    Claim: [
        {"address": "", "eic": "38ZEE-00000001-A"},
        {"address": "ab", "eic": "x", "meter_serial": "m" * 65, "note": "n" * 2001},
        {"address": None},
    ],
    MandateGrant: [
        {"grantee_person_code": "", "scopes": []},
        {"grantee_person_code": "37605030290", "scopes": ["invoices:read", "everything"],
         "valid_until": "someday"},
        {"grantee_person_code": "37605030299", "scopes": ["invoices:read"],
         "valid_from": "2026-06-01", "valid_until": "2026-05-31"},
        {"scopes": "invoices:read", "valid_until": "2026-02-30"},
    ],
}


def form_codes():
    """The codes pydantic (services/common/validation.py) gives what the forms post."""
    codes = set()
    for model, inputs in FORM_INPUTS.items():
        for payload in inputs:
            try:
                parse(model, payload)
            except Exception as refused:        # ValidationFailed
                codes |= {error["code"] for error in refused.errors}
            else:
                pytest.fail(f"{model.__name__} took {payload}")
    return codes


def estonian():
    with open(CATALOG, "rb") as po:
        return {m.id: m.string for m in read_po(po, locale="et") if m.id}


def test_every_code_a_service_raises_has_a_text_and_none_is_pydantic_s_nameless_one():
    codes = raised_codes() | set(problems.PROBLEM_TYPES) | form_codes()
    # the scan finds what it should: a field's rule, a validator's, a bank's, a mandate's
    assert {"reading-lower-than-previous", "phone-invalid", "banklink-bad-mac",
            "mandate-expired", "nul-character", "form-token-mismatch", "string-too-long",
            "date-from-datetime-parsing", "scope-unknown", "invoices-paid"} <= codes
    # a validator that raised a plain ValueError names no rule a client could say
    assert "value-error" not in form_codes()
    assert sorted(code for code in codes if not refusals.knows(code)) == []


def test_every_text_is_in_estonian_with_the_same_placeholders_and_nothing_else_is():
    english = {message for _, message, _, _ in extract_from_file(
        "python", refusals.__file__, keywords={"N_": None})}
    translated = estonian()
    assert set(refusals.TEXTS.values()) | set(refusals.AT_LEAST_ONE.values()) | {
        refusals.NOTHING_SAID} == english
    assert set(translated) == english
    for message, text in translated.items():
        assert text and text != message, message
        assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message)), message


def test_a_text_says_its_parameters_in_the_customer_s_formats():
    lower = {"field": "registers.T1", "code": "reading-lower-than-previous",
             "message": "is lower than the previous reading (45600 on 2026-12-02)",
             "params": {"register": "T1", "previous": "45600", "previous_date": "2026-12-02"}}
    assert refusals.describe(lower, "en") == (
        "Lower than the previous reading (45,600 kWh on 2 December 2026). "
        "Check the number on the meter.")
    assert refusals.describe(lower, "et") == (
        "Väiksem kui eelmine näit (45 600 kWh, 02.12.2026). Vaata arvesti näit uuesti üle.")
    long = {"field": "note", "code": "string-too-long", "message": "String should have at "
            "most 2000 characters", "params": {"max_length": "2000"}}
    assert refusals.describe(long, "en") == "At most 2,000 characters: please shorten it."
    assert refusals.describe(long, "et") == "Kõige rohkem 2 000 märki: palun lühenda."
    assert refusals.describe({"code": "register-unknown", "params": {"register": "T9"},
                              "message": "", "field": "registers.T9"}, "et") == (
        "Sellel arvestil ei ole registrit T9.")


def test_an_empty_field_is_said_as_empty_not_as_at_least_one_character():
    empty = {"field": "subject", "code": "string-too-short", "params": {"min_length": "1"},
             "message": "String should have at least 1 character"}
    assert refusals.describe(empty, "en") == "Fill this in."
    assert refusals.describe({**empty, "params": {"min_length": "3"}}, "en") == (
        "Enter at least 3 characters.")
    assert refusals.describe({"field": "scopes", "code": "too-short", "message": "",
                              "params": {"min_length": "1"}}, "et") == "Vali vähemalt üks."


def test_a_whole_refusal_is_said_by_its_code():
    assert refusals.describe_problem("reading-decided", {}, "en", "the reading is accepted") \
        == "This reading has already been decided, so it can no longer be withdrawn."
    assert refusals.describe_problem("form-token-mismatch", None, "et", "") == (
        "Vorm on aegunud. Palun laadi leht uuesti ja saada vorm uuesti.")
    assert refusals.describe_problem("not-found", {}, "fi", "") == "Seda ei leitud."


def test_an_unknown_code_or_a_missing_parameter_is_said_as_the_service_said_it():
    said = "is not what we expected"
    assert refusals.describe({"field": "x", "code": "a-new-rule", "message": said}, "et") == said
    assert refusals.describe({"field": "x", "message": said}, "en") == said
    assert refusals.describe({"field": "x", "code": "value-error", "message": said}, "et") == said
    # an older service that sent the code without what the text needs
    assert refusals.describe({"field": "registers.T1", "code": "reading-lower-than-previous",
                              "message": said}, "et") == said
    assert refusals.describe_problem("a-new-conflict", {}, "et", "the detail") == "the detail"
    # and never nothing at all
    assert refusals.describe_problem("a-new-conflict", {}, "et", "") == (
        "Seda ei õnnestunud teha. Palun kontrolli ja proovi uuesti.")


def test_a_parameter_not_of_its_kind_is_put_in_as_it_came():
    odd = {"field": "reading_date", "code": "date-in-future", "message": "",
           "params": {"today": "soon"}}
    assert refusals.describe(odd, "en") == "The date cannot be later than today (soon)."


def refused_fields(model, payload):
    try:
        parse(model, payload)
    except Exception as refused:        # ValidationFailed
        return {error["field"]: error for error in refused.errors}
    pytest.fail(f"{model.__name__} took {payload}")


def test_a_validator_s_refusal_names_its_rule_and_keeps_its_message_for_api_clients():
    contact = refused_fields(ContactChange, {"phone": "abc", "email": "oie@"})
    assert contact["phone"] == {"field": "phone", "message": "not a phone number",
                                "code": "phone-invalid"}
    assert contact["email"]["code"] == "email-invalid"
    assert contact["email"]["message"].startswith("There must be something after the @-sign")
    grant = refused_fields(MandateGrant, {"grantee_person_code": "123",
                                          "scopes": ["invoices:read", "everything"]})
    assert grant["grantee_person_code"] == {
        "field": "grantee_person_code", "message": "not a valid Estonian personal code",
        "code": "personal-code-invalid"}
    assert grant["scopes"]["code"] == "scope-unknown"
    assert grant["scopes"]["params"] == {"scopes": "everything"}
    assert grant["scopes"]["message"].startswith("unknown scope everything; one of ")
    period = refused_fields(MandateGrant, {"grantee_person_code": "37605030299",
                                           "scopes": ["invoices:read"],
                                           "valid_from": "2026-06-01",
                                           "valid_until": "2026-05-31"})
    assert period["body"] == {"field": "body", "message": "valid_until is before valid_from",
                              "code": "date-before-start",
                              "params": {"valid_from": "2026-06-01"}}
    assert refused_fields(Claim, {"address": "Kase 1", "eic": "x"})["eic"]["code"] == \
        "eic-invalid"
