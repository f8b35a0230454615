"""A published RPC method: what it takes, what it returns and what it raises.

Each service declares its methods in ``services/<service>/api.py``::

    class ListReadings(Arguments):
        consumption_point_id: str
        customer_id: Optional[str] = None

    list_readings = RpcMethod("metering", "list_readings", ListReadings,
                              returns=list[ReadingRow], raises=(NotFound,))

An ``Arguments`` model has one field per parameter of the method, in the order
of its parameters, so the wire stays what nameko sends (``{"args", "kwargs"}``
bound to the method's signature). The service validates with it at entry
(``@rpc(list_readings)`` in services/common/rpc.py); other programs call with it
(services/common/client.py); docs/rpc.md is generated from it.
"""
import os
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from services.common.errors import ValidationFailed, VoolError
from services.common.validation import field_errors

#: set (to anything but "" or "0") and every typed method checks its result
#: against ``returns`` before answering: the tests run with it, so a result that
#: drifts from its published model fails them; production skips the cost
CHECK_RESULTS_SETTING = "VOOL_CHECK_RPC_RESULTS"


class Arguments(BaseModel):
    """The parameters of one RPC method, one field each, in their order.
    Unknown parameters are an error (nameko would refuse them too)."""
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class NoArguments(Arguments):
    pass


class Health(BaseModel):
    """What every service's ``health`` method answers."""
    status: str
    database: str


class ResultCheckFailed(Exception):
    """A typed method's result does not fit its published model: a bug of the
    service, never the caller's fault (so not a VoolError)."""


@dataclass(frozen=True)
class RpcMethod:
    service: str
    name: str
    arguments: type[Arguments] = NoArguments
    returns: Any = None
    raises: tuple[type[VoolError], ...] = ()
    summary: str = ""
    _returns_adapter: Optional[TypeAdapter] = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not (isinstance(self.arguments, type) and issubclass(self.arguments, Arguments)):
            raise TypeError(f"{self.service}.{self.name}: arguments must be an Arguments model")
        object.__setattr__(self, "_returns_adapter",
                           None if self.returns is None else TypeAdapter(self.returns))

    @property
    def parameters(self):
        return tuple(self.arguments.model_fields)

    # -- the service's side ---------------------------------------------------------

    def bind(self, args, kwargs):
        """The call's arguments as the model, or ValidationFailed naming each field.

        A field inside a model-valued parameter is named by its own path (a
        command's ``registers.T1``, not ``command.registers.T1``), as the clients
        that built the command know it."""
        names = self.parameters
        if len(args) > len(names):
            raise ValidationFailed(f"{self.name} takes {len(names)} arguments, not {len(args)}",
                                   [{"field": "args", "message": "too many arguments"}])
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name in values:
                raise ValidationFailed.field(name, "given twice")
            values[name] = value
        try:
            return self.arguments.model_validate(values)
        except ValidationError as exc:
            errors = [self._unwrapped(error) for error in field_errors(exc)]
            summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise ValidationFailed(summary, errors) from None

    def _unwrapped(self, error):
        head, _, rest = error["field"].partition(".")
        annotation = self.arguments.model_fields.get(head)
        if rest and annotation is not None and _is_model(annotation.annotation):
            return {**error, "field": rest}
        return error

    def check_result(self, result):
        """``result`` unchanged when it fits ``returns`` (checked only with
        VOOL_CHECK_RPC_RESULTS set); ResultCheckFailed otherwise."""
        if self._returns_adapter is None or os.environ.get(CHECK_RESULTS_SETTING, "") in ("", "0"):
            return result
        try:
            validated = self._returns_adapter.validate_python(result)
        except ValidationError as exc:
            raise ResultCheckFailed(
                f"{self.service}.{self.name} answered what its published result model "
                f"does not allow: {exc}") from None
        # a field the model does not declare would be dropped by the client and missing
        # from docs/rpc.md: the answer has drifted from its model as surely
        undeclared = _undeclared(result, validated)
        if undeclared:
            raise ResultCheckFailed(
                f"{self.service}.{self.name} answered fields its published result model "
                f"does not declare: {', '.join(undeclared)}")
        return result

    # -- the caller's side ----------------------------------------------------------

    def wire_kwargs(self, *args, **kwargs):
        """The keyword arguments to send for a call given as models or plain values,
        validated here first (a bad call fails in the caller, naming the field).
        The method's Arguments model itself may be given as the only argument."""
        if len(args) == 1 and not kwargs and isinstance(args[0], self.arguments):
            bound = args[0]
        else:
            bound = self.bind(args, kwargs)
        return bound.model_dump(mode="json", exclude_unset=True)

    def result_of(self, raw):
        """The answer as the published model (or plain value for simple types)."""
        if self._returns_adapter is None:
            return raw
        return self._returns_adapter.validate_python(raw)


def _undeclared(raw, value, path=""):
    """The paths of fields in ``raw`` that its validated ``value`` dropped."""
    found = []
    if isinstance(value, BaseModel) and isinstance(raw, dict):
        fields = type(value).model_fields
        keys = {name: info.alias or name for name, info in fields.items()}
        if type(value).model_config.get("extra") != "allow":
            found += [f"{path}{key}" for key in raw
                      if key not in keys.values() and key not in fields]
        for name, key in keys.items():
            for given in dict.fromkeys((key, name)):   # the alias first, once
                if given in raw:
                    found += _undeclared(raw[given], getattr(value, name), f"{path}{given}.")
                    break
    elif isinstance(value, (list, tuple)) and isinstance(raw, (list, tuple)):
        for index, (item, parsed) in enumerate(zip(raw, value)):
            found += _undeclared(item, parsed, f"{path}{index}.")
    elif isinstance(value, dict) and isinstance(raw, dict):
        for key, item in raw.items():
            if key in value:
                found += _undeclared(item, value[key], f"{path}{key}.")
    return found


def _is_model(annotation):
    """A model, or an optional one (``Optional[Command]``)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_model(arg) for arg in get_args(annotation) if arg is not type(None))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def methods_of(module):
    """The RpcMethods a service's api module publishes, in the order declared."""
    return [value for value in vars(module).values() if isinstance(value, RpcMethod)]
