"""docs/rpc.md, written from the RpcMethods each service publishes in its api.py.

For every method: its summary, its arguments (name, type, required or default,
constraints), its result and the errors it raises; then each model the methods
use, as a table of its fields. Types and constraints are read from the JSON
schema pydantic derives from the models that validate (so an alias is the name
on the wire, and a constraint is what is enforced); the descriptions are the
models' docstrings and the ``#:`` comments above their fields.

``render([(service, api_module), ...])`` returns the Markdown; ``vool docs``
(services/docs.py) writes it.
"""
import inspect
import json
import re
from typing import get_args

from pydantic import BaseModel, TypeAdapter

from services.common import errors as error_types
from services.common.rpc_methods import RpcMethod, methods_of

INTRO = """\
# Vool's RPC methods

*Generated from `services/<service>/api.py` by `vool docs`; do not edit by hand.*

Other programs (a call-centre application, a CRM) call Vool's services over RPC as
the gateway does. From Python, use `VoolClient` with the published models: the
arguments are checked before they travel, the answer comes back as the result
model, a refusal as the typed error.

```python
from services.common.client import VoolClient
from services.metering import api as metering

with VoolClient("amqp://guest:guest@127.0.0.1:5672/") as vool:
    receipt = vool.call(metering.submit_reading, metering.SubmitReading(
        consumption_point_id="...", reading_date="2026-12-01",
        registers={"T1": 45710}, source="import", submitted_by="crm"))
    print(receipt.status, receipt.consumption)
```

On the wire (any AMQP client): nameko RPC. Publish JSON
`{"args": [...], "kwargs": {...}}` to the exchange `nameko-rpc` with routing key
`<service>.<method>`, `content_type` `application/json`, a `reply_to` queue and a
`correlation_id`; the reply is `{"result": ..., "error": null}` or
`{"result": null, "error": {"exc_type", "exc_path", "exc_args", "value"}}`.
Arguments are given by position (in the order of the tables below) or by name.
A request that is not of that shape is answered with `MalformedRequest` and parked
in `rpc-<service>.dead-letter`.
"""

ERRORS_INTRO = """\
## Errors

A method raises only the errors it lists (and `ServiceUnavailable` from the client
when the service does not answer in time or is not running). Over the wire an
error's `exc_path` is `services.common.errors.<Name>` and `exc_args` is
`[detail, errors, code]`: `detail` for people, `errors` a list of `{field, message}`,
`code` (may be empty) the exact rule that failed. A field of a model-valued argument is
named by its path inside the model (`registers.T1`, not `command.registers.T1`); any
other argument by its name.
"""


def render(apis):
    """The Markdown of every method of every ``(service, api module)``."""
    parts = [INTRO, _contents(apis)]
    raised = []
    for service, module in apis:
        parts.append(_service(service, module))
        for method in methods_of(module):
            raised += [e for e in method.raises if e not in raised]
    parts.append(_errors(raised))
    return "\n".join(parts).rstrip() + "\n"


def _contents(apis):
    lines = ["## Contents", ""]
    for service, module in apis:
        names = ", ".join(f"[{m.name}](#{_anchor(service, m.name)})" for m in methods_of(module))
        lines.append(f"- **{service}**: {names}")
    return "\n".join(lines) + "\n"


def _service(service, module):
    methods = methods_of(module)
    schemas, definitions = _schemas(methods)
    docs = _field_docs(methods)
    lines = [f"## {service}", ""]
    if not methods:
        lines += ["No published methods.", ""]
    for method in methods:
        lines += _method(service, method, schemas, definitions)
    if definitions:
        lines += [f"### {service}: models", ""]
        for name in sorted(definitions):
            if name in schemas["argument models"]:
                continue   # the arguments of a method, tabled with the method
            lines += _model(service, name, definitions[name], docs.get(name, {}))
    return "\n".join(lines)


def _schemas(methods):
    """Each method's argument and result schema, with the models they use named
    once per service (arguments as sent, results as answered)."""
    items = []
    for method in methods:
        items.append(((method.name, "arguments"), "validation", TypeAdapter(method.arguments)))
        if method.returns is not None:
            items.append(((method.name, "returns"), "serialization",
                          TypeAdapter(method.returns)))
    keys, top = TypeAdapter.json_schemas(items, ref_template="#/$defs/{model}")
    schemas = {key: schema for (key, _mode), schema in keys.items()}
    definitions = top.get("$defs", {})
    # the Arguments models are shown as the method's table, not as models
    schemas["argument models"] = {
        _ref_name(schemas[(m.name, "arguments")]) for m in methods}
    return schemas, definitions


def _method(service, method: RpcMethod, schemas, definitions):
    arguments = _resolve(schemas[(method.name, "arguments")], definitions)
    parameters = ", ".join(method.parameters)
    lines = [f'<a id="{_anchor(service, method.name)}"></a>',
             f"### {service}.{method.name}({parameters})", ""]
    if method.summary:
        lines += [method.summary, ""]
    docs = _docs_of(method.arguments)
    if arguments.get("properties"):
        lines += ["| argument | type | required | constraints | description |",
                  "|---|---|---|---|---|"]
        required = set(arguments.get("required", ()))
        for name, prop in arguments["properties"].items():
            lines.append(_row(service, name, prop, name in required, docs.get(name, "")))
        lines.append("")
    else:
        lines += ["No arguments.", ""]
    returns = schemas.get((method.name, "returns"))
    result = "not declared" if returns is None else _type(service, returns)
    lines += [f"**Returns** {result}", ""]
    if method.raises:
        raised = ", ".join(f"[`{e.__name__}`](#error-{e.__name__.lower()})"
                           for e in method.raises)
        lines += [f"**Raises** {raised}", ""]
    return lines


def _model(service, name, schema, docs):
    lines = [f'<a id="{_model_anchor(service, name)}"></a>', f"#### {name}", ""]
    if schema.get("description"):
        lines += [_oneline(schema["description"]), ""]
    properties = schema.get("properties")
    if not properties:
        lines += [f"{_type(service, schema)}", ""]
        return lines
    lines += ["| field | type | required | constraints | description |",
              "|---|---|---|---|---|"]
    required = set(schema.get("required", ()))
    for field, prop in properties.items():
        lines.append(_row(service, field, prop, field in required, docs.get(field, "")))
    extra = schema.get("additionalProperties")
    note = {False: "Other fields are refused."}.get(extra, "")
    return lines + ([""] + [note] if note else []) + [""]


def _row(service, name, prop, required, doc):
    if required:
        requirement = "yes"
    elif "default" in prop:
        requirement = f"no (default `{json.dumps(prop['default'], ensure_ascii=False)}`)"
    else:
        requirement = "no"
    description = _oneline(doc or prop.get("description", ""))
    return (f"| `{name}` | {_type(service, prop)} | {requirement} | "
            f"{_cell(_constraints(prop))} | {_cell(description)} |")


# -- JSON schema as words ----------------------------------------------------------

def _type(service, schema):
    if "$ref" in schema:
        name = _ref_name(schema)
        return f"[{name}](#{_model_anchor(service, name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'], ensure_ascii=False)}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`"
                                     for v in schema["enum"])
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            parts = [_type(service, part) for part in schema[combinator]]
            # "object of integer, or null": not an object of integers or nulls
            return (", or " if any(" " in part for part in parts) else " or ").join(parts)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _type(service, schema["allOf"][0])
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            items = ", ".join(_type(service, item) for item in schema["prefixItems"])
            return f"array [{items}]"
        items = schema.get("items")
        return "array of " + (_type(service, items) if items else "anything")
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and values:
            return "object of " + _type(service, values)
        return "object"
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    if isinstance(kind, list):
        return " or ".join(kind)
    return kind or "anything"


CONSTRAINTS = {
    "minLength": "at least {} characters", "maxLength": "at most {} characters",
    "pattern": "matches `{}`", "minimum": "≥ {}", "maximum": "≤ {}",
    "exclusiveMinimum": "> {}", "exclusiveMaximum": "< {}", "multipleOf": "a multiple of {}",
    "minItems": "at least {} items", "maxItems": "at most {} items",
    "uniqueItems": "no item twice", "minProperties": "at least {} entries",
    "maxProperties": "at most {} entries",
}


def _constraints(schema):
    return "; ".join(_constraint_list(schema))


def _constraint_list(schema, within=""):
    found = []
    for key, words in CONSTRAINTS.items():
        if key in schema:
            value = schema[key]
            text = words if key == "uniqueItems" else words.format(value)
            if value == 1:   # "at least 1 character", not "1 characters"
                text = text.replace("characters", "character").replace(
                    "items", "item").replace("entries", "entry")
            found.append(f"{within}{text}")
    for combinator in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(combinator, ()):
            found += [c for c in _constraint_list(part, within) if c not in found]
    if isinstance(schema.get("items"), dict):
        found += _constraint_list(schema["items"], "each: ")
    if isinstance(schema.get("additionalProperties"), dict):
        found += _constraint_list(schema["additionalProperties"], "each value: ")
    return found


def _resolve(schema, definitions):
    return definitions[_ref_name(schema)] if "$ref" in schema else schema


def _ref_name(schema):
    return schema["$ref"].rsplit("/", 1)[-1]


def _anchor(service, name):
    """A method's anchor (``metering-submit-reading``); a model's is prefixed
    (``metering-model-submitreading``), so a method and a model may share a name."""
    return f"{service}-{name}".lower().replace("_", "-")


def _model_anchor(service, name):
    return _anchor(service, f"model-{name}")


def _oneline(text):
    """One line of Markdown: the docstrings' reST ````literals```` as `literals`."""
    return " ".join(str(text).split()).replace("``", "`")


def _cell(text):
    return str(text).replace("|", "\\|")


# -- descriptions from the source ----------------------------------------------------

_FIELD = re.compile(r"^\s+(\w+)\s*:")
_DOC_COMMENT = re.compile(r"^\s+#:\s?(.*)$")


def _docs_of(model):
    """``{wire name: the #: comment above the field}`` of a model and its bases."""
    docs = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        comment = []
        for line in source:
            doc = _DOC_COMMENT.match(line)
            if doc:
                comment.append(doc.group(1))
                continue
            field = _FIELD.match(line)
            if field and comment and field.group(1) in model.model_fields:
                info = model.model_fields[field.group(1)]
                docs[info.serialization_alias or info.alias or field.group(1)] = " ".join(comment)
            comment = []
    return docs


def _field_docs(methods):
    """``{model name: {field: comment}}`` of every model the methods use."""
    docs = {}
    for model in _models(methods):
        docs.setdefault(model.__name__, _docs_of(model))
    return docs


def _models(methods):
    seen, pending = [], []
    for method in methods:
        pending += [method.arguments, method.returns]
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                continue
            seen.append(annotation)
            pending += [f.annotation for f in annotation.model_fields.values()]
        else:
            pending += list(get_args(annotation))
    return seen


def _errors(raised):
    lines = [ERRORS_INTRO]
    for error in raised + [error_types.ServiceUnavailable] * (
            error_types.ServiceUnavailable not in raised):
        doc = _oneline(inspect.getdoc(error) or "") if error.__doc__ else ""
        lines += [f'<a id="error-{error.__name__.lower()}"></a>', f"### {error.__name__}", ""]
        lines += [doc or _ERROR_WORDS.get(error.__name__, ""), ""]
    return "\n".join(lines)


# what the errors without a docstring of their own mean to a caller
_ERROR_WORDS = {
    "NotFound": "What the call names does not exist (or is not the given customer's).",
    "Conflict": "The call contradicts what is already recorded (a reused idempotency "
                "key with another reading, a meter already registered, ...).",
    "Forbidden": "The caller may not do this.",
    "Unauthenticated": "The session or login is not (or no longer) valid.",
    "ServiceUnavailable": "The service, or one it needs, did not answer in time: try "
                          "again later.",
}
