"""A published RPC method (services/common/rpc_methods.py) and the typed ``@rpc``
(services/common/rpc.py): how a call's arguments are bound to the method's
model, how its errors name the fields, when its result is checked, and which
handlers the decorator refuses."""
from datetime import date
from types import SimpleNamespace
from typing import Literal, Optional

import pytest
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.exceptions import IncorrectSignature
from pydantic import BaseModel, Field

from services.common.errors import NotFound, ValidationFailed, VoolError
from services.common.rpc import rpc
from services.common.rpc_methods import (
    CHECK_RESULTS_SETTING, Arguments, Health, NoArguments, ResultCheckFailed, RpcMethod,
    methods_of)
from services.common.validation import Shape


class Meter(Shape):
    serial: str = Field(min_length=1, max_length=20)
    registers: dict[str, int]


class Reading(Shape):
    reading_date: date
    meter: Meter
    source: Literal["customer", "import"] = "customer"


class Receipt(BaseModel):
    reading_id: str
    status: Literal["accepted", "held_for_review"]


class SubmitArguments(Arguments):
    point_id: str = Field(min_length=1, max_length=36)
    reading: Reading
    note: Optional[str] = None


class OptionalReadingArguments(Arguments):
    reading: Optional[Reading] = None


submit = RpcMethod("example", "submit", SubmitArguments, returns=Receipt,
                   raises=(ValidationFailed, NotFound), summary="Submit a reading.")
amend = RpcMethod("example", "amend", OptionalReadingArguments, returns=list[Receipt])
health = RpcMethod("example", "health", returns=Health)

READING = {"reading_date": "2026-02-15", "meter": {"serial": "MTR1", "registers": {"T1": 5}}}


def refusal(call):
    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value


def fields(error):
    return [e["field"] for e in error.errors]


# -- binding --------------------------------------------------------------------------

def test_positional_and_keyword_arguments_bind_to_the_parameters_in_their_order():
    by_position = submit.bind(["cp-1", READING, "by phone"], {})
    by_name = submit.bind([], {"note": "by phone", "reading": READING, "point_id": "cp-1"})
    mixed = submit.bind(["cp-1"], {"reading": READING, "note": "by phone"})

    assert by_position == by_name == mixed
    assert by_position.point_id == "cp-1" and by_position.note == "by phone"
    # a model-valued parameter arrives as its model
    assert isinstance(by_position.reading, Reading)
    assert by_position.reading.reading_date == date(2026, 2, 15)
    assert by_position.reading.meter.registers == {"T1": 5}


def test_a_parameter_left_out_takes_its_default():
    assert submit.bind(["cp-1", READING], {}).note is None
    assert submit.bind(["cp-1", READING], {}).reading.source == "customer"


def test_the_parameters_are_the_model_s_fields_in_order():
    assert submit.parameters == ("point_id", "reading", "note")
    assert health.parameters == ()
    assert health.arguments is NoArguments


def test_too_many_arguments_are_refused():
    error = refusal(lambda: submit.bind(["cp-1", READING, None, "one more"], {}))
    assert fields(error) == ["args"]
    assert "takes 3 arguments, not 4" in error.detail
    assert fields(refusal(lambda: health.bind(["x"], {}))) == ["args"]


def test_an_unknown_argument_is_refused_by_its_name():
    error = refusal(lambda: submit.bind(["cp-1", READING], {"colour": "red"}))
    assert fields(error) == ["colour"]


def test_an_argument_given_by_position_and_by_name_is_refused():
    error = refusal(lambda: submit.bind(["cp-1", READING], {"point_id": "cp-2"}))
    assert error.errors == [{"field": "point_id", "message": "given twice"}]


def test_each_missing_argument_is_named():
    error = refusal(lambda: submit.bind([], {}))
    assert sorted(fields(error)) == ["point_id", "reading"]
    assert all(e["message"] == "Field required" for e in error.errors)


# -- the names of fields in errors ---------------------------------------------------

def test_a_scalar_parameter_is_named_by_its_parameter_name():
    error = refusal(lambda: submit.bind(["", READING], {}))
    assert fields(error) == ["point_id"]
    assert error.detail.startswith("point_id: ")


def test_a_field_of_a_model_valued_parameter_is_named_without_the_parameter():
    bad = {"reading_date": "not a date",
           "meter": {"serial": "MTR1", "registers": {"T1": "many"}}, "source": "mail"}
    error = refusal(lambda: submit.bind(["cp-1", bad], {}))
    # as the caller who built the reading knows them, not reading.meter.registers.T1
    assert sorted(fields(error)) == ["meter.registers.T1", "reading_date", "source"]
    assert "meter.registers.T1: " in error.detail


def test_an_unknown_field_inside_a_model_is_named_without_the_parameter():
    error = refusal(lambda: submit.bind(["cp-1", {**READING, "colour": "red"}], {}))
    assert fields(error) == ["colour"]


def test_a_model_valued_parameter_that_is_missing_or_not_an_object_keeps_its_name():
    assert fields(refusal(lambda: submit.bind(["cp-1"], {}))) == ["reading"]
    assert fields(refusal(lambda: submit.bind(["cp-1", "a reading"], {}))) == ["reading"]


def test_an_optional_model_valued_parameter_names_its_fields_unprefixed_too():
    error = refusal(lambda: amend.bind([{**READING, "reading_date": "soon"}], {}))
    assert fields(error) == ["reading_date"]


def test_several_errors_are_all_named_and_summarised():
    error = refusal(lambda: submit.bind(["", {**READING, "source": "mail"}], {"note": 7}))
    assert sorted(fields(error)) == ["note", "point_id", "source"]
    for field in ("point_id: ", "source: ", "note: "):
        assert field in error.detail
    assert isinstance(error, VoolError)


def test_the_refused_input_is_not_repeated_in_the_error():
    # errors end up in logs and in the gateway's answers: a secret stays out
    error = refusal(lambda: submit.bind(["cp-1", READING], {"password": "hunter2"}))
    assert "hunter2" not in repr(error.errors) and "hunter2" not in error.detail


# -- the result ------------------------------------------------------------------------

def test_the_result_is_not_checked_unless_the_setting_says_so(monkeypatch):
    monkeypatch.delenv(CHECK_RESULTS_SETTING, raising=False)
    wrong = {"reading_id": "r1", "status": "lost"}
    assert submit.check_result(wrong) is wrong
    monkeypatch.setenv(CHECK_RESULTS_SETTING, "0")
    assert submit.check_result(wrong) is wrong


def test_with_the_setting_a_result_that_does_not_fit_its_model_fails(monkeypatch):
    monkeypatch.setenv(CHECK_RESULTS_SETTING, "1")
    good = {"reading_id": "r1", "status": "accepted"}
    assert submit.check_result(good) is good
    with pytest.raises(ResultCheckFailed, match="example.submit answered") as caught:
        submit.check_result({"reading_id": "r1", "status": "lost"})
    # a bug of the service, not the caller's fault: no typed error the gateway maps
    assert not isinstance(caught.value, VoolError)
    with pytest.raises(ResultCheckFailed):
        amend.check_result([good, {"status": "accepted"}])


def test_a_method_without_a_result_model_answers_anything(monkeypatch):
    monkeypatch.setenv(CHECK_RESULTS_SETTING, "1")
    untyped = RpcMethod("example", "ping")
    assert untyped.check_result({"any": "thing"}) == {"any": "thing"}
    assert untyped.result_of([1, 2]) == [1, 2]


def test_the_caller_gets_the_result_as_its_model():
    receipt = submit.result_of({"reading_id": "r1", "status": "accepted"})
    assert receipt == Receipt(reading_id="r1", status="accepted")
    receipts = amend.result_of([{"reading_id": "r1", "status": "held_for_review"}])
    assert receipts == [Receipt(reading_id="r1", status="held_for_review")]


# -- the caller's side ---------------------------------------------------------------

def test_a_call_travels_as_json_keyword_arguments_of_what_the_caller_gave():
    wire = submit.wire_kwargs("cp-1", Reading.model_validate(READING))
    assert wire == {"point_id": "cp-1", "reading": {
        "reading_date": "2026-02-15", "meter": {"serial": "MTR1", "registers": {"T1": 5}}}}
    assert submit.wire_kwargs(point_id="cp-1", reading=READING, note="x")["note"] == "x"


def test_a_bad_call_fails_in_the_caller_naming_the_field():
    error = refusal(lambda: submit.wire_kwargs("cp-1", {**READING, "meter": {"serial": ""}}))
    assert sorted(fields(error)) == ["meter.registers", "meter.serial"]


def test_a_method_needs_an_arguments_model():
    with pytest.raises(TypeError, match="must be an Arguments model"):
        RpcMethod("example", "submit", Reading)


def test_methods_of_lists_a_module_s_methods_in_their_order():
    import types
    module = types.ModuleType("api")
    module.Receipt, module.submit, module.health = Receipt, submit, health
    assert methods_of(module) == [submit, health]


# -- the typed @rpc ----------------------------------------------------------------------

class Example:
    name = "example"

    def __init__(self):
        self.calls = []

    @rpc(submit)
    def submit(self, point_id, reading, note=None):
        self.calls.append((point_id, reading, note))
        return {"reading_id": "r1", "status": self.status}

    status = "accepted"

    @rpc(health)
    def health(self):
        return {"status": "ok", "database": "ok"}


def entrypoint(method):
    [extension] = getattr(method, ENTRYPOINT_EXTENSIONS_ATTR)
    return extension


def test_the_handler_gets_its_arguments_parsed():
    service = Example()
    assert service.submit("cp-1", READING) == {"reading_id": "r1", "status": "accepted"}
    assert service.submit(reading=READING, point_id="cp-2", note="n")
    [(point, reading, note), (other, _, other_note)] = service.calls
    assert (point, note, other, other_note) == ("cp-1", None, "cp-2", "n")
    assert isinstance(reading, Reading) and reading.meter.serial == "MTR1"
    assert service.health() == {"status": "ok", "database": "ok"}


def test_a_bad_call_never_reaches_the_handler():
    service = Example()
    error = refusal(lambda: service.submit("cp-1", {**READING, "reading_date": "soon"}))
    assert fields(error) == ["reading_date"]
    assert service.calls == []


def test_nameko_checks_a_call_against_the_handler_s_own_signature():
    extension = entrypoint(Example.submit)
    assert extension.expected_exceptions == (VoolError,)
    extension.container = SimpleNamespace(service_cls=Example)
    extension.method_name = "submit"
    extension.check_signature(("cp-1", READING), {})
    extension.check_signature((), {"point_id": "cp-1", "reading": READING, "note": "n"})
    for args, kwargs in [(("cp-1", READING, None, "more"), {}), (("cp-1", READING),
                         {"colour": "red"}), ((), {})]:
        with pytest.raises(IncorrectSignature):
            extension.check_signature(args, kwargs)


def test_a_call_of_the_wrong_shape_never_reaches_the_handler():
    service = Example()
    assert fields(refusal(lambda: service.submit("cp-1", READING, None, "more"))) == ["args"]
    assert fields(refusal(lambda: service.submit("cp-1", READING, colour="red"))) == ["colour"]
    assert sorted(fields(refusal(lambda: service.submit()))) == ["point_id", "reading"]
    assert service.calls == []


def test_the_typed_entrypoint_checks_its_result_with_the_setting(monkeypatch):
    service = Example()
    service.status = "lost"
    monkeypatch.delenv(CHECK_RESULTS_SETTING, raising=False)
    assert service.submit("cp-1", READING)["status"] == "lost"
    monkeypatch.setenv(CHECK_RESULTS_SETTING, "1")
    with pytest.raises(ResultCheckFailed):
        service.submit("cp-1", READING)


def test_the_typed_entrypoint_takes_options():
    class Sensitive:
        name = "example"

        @rpc(submit, sensitive_arguments=("note",))
        def submit(self, point_id, reading, note=None):
            pass

    assert entrypoint(Sensitive.submit).sensitive_arguments == ("note",)


@pytest.mark.parametrize("handler_source", [
    "def submit(self, point_id, reading): pass",                 # one missing
    "def submit(self, point_id, reading, note, extra): pass",    # one too many
    "def submit(self, reading, point_id, note): pass",           # out of order
    "def submit(self, point, reading, note): pass",              # renamed
    "def submit(self, *args, **kwargs): pass",                   # hides them
    "def submit_reading(self, point_id, reading, note): pass",   # another name
])
def test_a_handler_that_does_not_match_its_published_method_is_refused(handler_source):
    namespace = {}
    exec(handler_source, namespace)
    [handler] = [value for key, value in namespace.items() if key != "__builtins__"]
    with pytest.raises(TypeError, match=r"does not match its published example\.submit"):
        rpc(submit)(handler)


def test_the_arguments_model_itself_may_be_the_call():
    arguments = SubmitArguments(point_id="cp-1", reading=READING)
    assert submit.wire_kwargs(arguments) == submit.wire_kwargs("cp-1", READING)


def test_with_the_setting_a_field_the_result_model_does_not_declare_fails(monkeypatch):
    # the client would drop it and docs/rpc.md would not show it: the answer drifted
    monkeypatch.setenv(CHECK_RESULTS_SETTING, "1")
    with pytest.raises(ResultCheckFailed, match="does not declare: colour"):
        submit.check_result({"reading_id": "r1", "status": "accepted", "colour": "red"})
    with pytest.raises(ResultCheckFailed, match="does not declare: 1.colour"):
        amend.check_result([{"reading_id": "r1", "status": "accepted"},
                            {"reading_id": "r2", "status": "accepted", "colour": "red"}])
    nested = RpcMethod("example", "overview", returns=dict[str, list[Receipt]])
    receipt = {"reading_id": "r1", "status": "accepted"}
    with pytest.raises(ResultCheckFailed, match="does not declare: cp-1.0.colour"):
        nested.check_result({"cp-1": [{**receipt, "colour": "red"}]})
    assert nested.check_result({"cp-1": [receipt]}) == {"cp-1": [receipt]}


@pytest.mark.parametrize("name", ["identity", "contracts", "metering", "billing",
                                  "notifications"])
def test_every_rpc_method_a_service_serves_is_published_in_its_api(name):
    """No untyped method: each @rpc entrypoint is an RpcMethod of the service's
    api.py (so it is validated at entry, in docs/rpc.md and callable by VoolClient)."""
    import importlib

    from nameko.containers import ServiceContainer

    from services.common.rpc import GuardedRpc
    from services.common.rpc_methods import methods_of
    service = importlib.import_module(f"services.{name}.service")
    [cls] = [c for c in vars(service).values()
             if isinstance(c, type) and getattr(c, "name", None) == name]
    container = ServiceContainer(cls, {"AMQP_URI": "memory://"})
    served = {e.method_name for e in container.entrypoints if isinstance(e, GuardedRpc)}
    published = {m.name for m in methods_of(importlib.import_module(f"services.{name}.api"))}
    assert served == published
    typed = {m for m in served if hasattr(getattr(cls, m), "__wrapped__")}
    assert typed == served, "served with a plain @rpc"
