"""From a typed Python function to the JSON schema of its arguments, and back from JSON to a call.

The function's parameters become the fields of a msgspec Struct built with
``msgspec.defstruct``; ``msgspec.json.schema`` describes that Struct, and the result is
inlined (no ``$ref``/``$defs``) into the plain ``"parameters"`` object a chat-completions
``tools`` entry wants. The same Struct decodes the model's arguments, strictly, so the
schema the model sees and the check its arguments pass are one and the same.

A tool may instead come with a ready schema (:func:`describe_raw`, for tools served by
an MCP server, say): its function then takes the arguments as one decoded ``dict``, and
only their shape (one JSON object) is checked here.
"""

from __future__ import annotations

import copy
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from graphflow.agent.tool_context import RunContext
from graphflow.errors import ConfigError

_GOOGLE_SECTIONS = {
    "args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
    "other parameters", "returns", "return", "yields", "raises", "examples", "example",
    "notes", "note", "see also", "attributes", "warnings", "warning", "references", "todo",
}  # fmt: skip
_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_ENTRY = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*(?::\s*(?P<text>.*))?$")
_SPHINX = re.compile(r"^:param\s+(?:[^:]*\s)?(?P<name>\w+)\s*:\s*(?P<text>.*)$")
_AT = re.compile(r"^(?P<detail>.*) - at `\$\.?(?P<path>.*)`$")
_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<name>[^`]*)`$")
_KEYS_WITH_SCHEMAS = {"properties", "patternProperties", "$defs", "definitions"}
_KEYS_WITH_SCHEMA = {"items", "additionalProperties", "not", "contains", "propertyNames"}
_KEYS_WITH_LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """The first paragraph of ``doc`` on one line, and the parameter descriptions it gives.

    Google (``Args:``), NumPy (``Parameters`` underlined) and Sphinx (``:param x:``)
    styles are understood.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip() or _header(lines, i) or line.strip().startswith(":"):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        sphinx = _SPHINX.match(lines[i].strip())
        header = _header(lines, i)
        if sphinx is not None:
            texts, indent, i = [sphinx["text"]], _indent(lines[i]), i + 1
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > indent:
                texts.append(lines[i].strip())
                i += 1
            params[sphinx["name"]] = _join(*texts)
        elif header is not None and header[0] in _PARAM_SECTIONS:
            i = _section(lines, i + header[1], numpy=header[1] == 2, into=params)
        else:
            i += 1
    return _join(*summary), params


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function's arguments as a Struct type and a schema, and how to call it with them.

    With a raw schema, ``arguments`` is ``dict`` and ``raw`` names the parameter that
    takes the whole decoded object.
    """

    arguments: type[msgspec.Struct] | type[dict[str, Any]]
    parameters: dict[str, Any]
    positional: tuple[str, ...]
    keyword: tuple[str, ...]
    context: str | None
    description: str
    decoder: msgspec.json.Decoder[Any]
    raw: str | None = None

    def call_args(self, arguments: Any, context: RunContext | None) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the function, from decoded ``arguments``."""

        def value(name: str) -> Any:
            if name == self.context:
                return context
            return arguments if name == self.raw else getattr(arguments, name)

        return [value(n) for n in self.positional], {n: value(n) for n in self.keyword}


def describe(fn: Callable[..., Any], name: str) -> ToolSpec:
    """The :class:`ToolSpec` of ``fn``, a tool called ``name``; a ``ConfigError`` says what cannot work."""
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError, ValueError) as e:
        raise ConfigError(
            f"tool {name!r}: cannot read the parameters of {fn!r}: {type(e).__name__}: {e}",
            hint="annotate every parameter with a type importable where the function is defined",
        ) from e
    description, docs = parse_docstring(inspect.getdoc(fn))
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    positional: list[str] = []
    keyword: list[str] = []
    context: str | None = None
    for index, param in enumerate(signature.parameters.values()):
        if index == 0 and param.name in ("self", "cls") and param.name not in hints:
            continue  # a method: bound to its object when looked up on it
        where = f"tool {name!r}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"{where}: *args and **kwargs cannot be described to the model")
        if param.name not in hints:
            raise ConfigError(
                f"{where} has no type annotation",
                hint="annotate it (str, int, Literal[...], a Struct, ...), or RunContext to get the context",
            )
        (positional if param.kind is param.POSITIONAL_ONLY else keyword).append(param.name)
        hint = hints[param.name]
        if _is_context(hint):
            if context is not None:
                raise ConfigError(f"{where}: only one parameter may take the RunContext ({context!r} does)")
            context = param.name
            continue
        annotated = _with_description(hint, docs.get(param.name, ""))
        try:
            msgspec.json.schema(annotated)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: its type cannot be described as JSON: {e}") from e
        if param.default is param.empty:
            fields.append((param.name, annotated))
        else:
            fields.append((param.name, annotated, _default(param.default)))
    try:
        arguments = msgspec.defstruct(
            "Arguments", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
        )
        parameters = _object_schema(msgspec.json.schema(arguments))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"tool {name!r}: its parameters cannot be described as JSON: {e}") from e
    return ToolSpec(
        arguments=arguments,
        parameters=parameters,
        positional=tuple(positional),
        keyword=tuple(keyword),
        context=context,
        description=description,
        decoder=msgspec.json.Decoder(arguments),
    )


def describe_raw(fn: Callable[..., Any], name: str, schema: Mapping[str, Any]) -> ToolSpec:
    """The :class:`ToolSpec` of ``fn`` offered with a ready ``schema`` (``description``, ``parameters``).

    ``fn`` takes the decoded arguments object as its one parameter (and may take a
    :class:`RunContext` too); the schema's ``name`` is read by the caller.
    """
    description = schema.get("description", "")
    parameters = schema.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(description, str):
        raise ConfigError(f"tool {name!r}: the raw schema's 'description' must be a string")
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise ConfigError(
            f"tool {name!r}: the raw schema's 'parameters' must be a JSON schema of type 'object'",
            hint='e.g. {"type": "object", "properties": {"city": {"type": "string"}}}',
        )
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError, ValueError) as e:
        raise ConfigError(f"tool {name!r}: cannot read the parameters of {fn!r}: {e}") from e
    positional: list[str] = []
    keyword: list[str] = []
    context: str | None = None
    raw: list[str] = []
    for index, param in enumerate(signature.parameters.values()):
        if index == 0 and param.name in ("self", "cls") and param.name not in hints:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(f"tool {name!r}, parameter {param.name!r}: a raw-schema tool takes no *args")
        (positional if param.kind is param.POSITIONAL_ONLY else keyword).append(param.name)
        if param.name in hints and _is_context(hints[param.name]) and context is None:
            context = param.name
        else:
            raw.append(param.name)
    if len(raw) != 1:
        raise ConfigError(
            f"tool {name!r}: a raw-schema tool takes one parameter for the arguments, not {len(raw)}",
            hint="def tool(raw_arguments: dict[str, object], ctx: RunContext) -> ...",
        )
    return ToolSpec(
        arguments=dict,
        parameters=copy.deepcopy(dict(parameters)),
        positional=tuple(positional),
        keyword=tuple(keyword),
        context=context,
        description=description,
        decoder=msgspec.json.Decoder(dict[str, Any]),
        raw=raw[0],
    )


def explain(error: msgspec.MsgspecError, raw: str | bytes) -> str:
    """What is wrong with the arguments ``raw``, for the model, naming the argument at fault."""
    if not isinstance(error, msgspec.ValidationError):
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        shown = text if len(text) <= 200 else text[:200] + "…"
        return f"the arguments are not valid JSON ({error}): {shown!r}; send one JSON object"
    message = str(error)
    at = _AT.match(message)
    detail, path = (at["detail"], at["path"]) if at else (message, "")
    if not path:
        field = _FIELD.match(detail)
        if field is not None:
            kind = "missing required" if field["what"] == "missing required" else "unknown"
            return f"{kind} argument {field['name']!r}"
        if detail.startswith("Expected `object`"):
            return "the arguments must be one JSON object, " + detail.split(", ", 1)[-1]
        return detail
    return f"argument {path!r}: {detail[:1].lower()}{detail[1:]}"


# ------------------------------------------------------------------ helpers
def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _header(lines: list[str], i: int) -> tuple[str, int] | None:
    """A section header at line ``i``: its lower-case title and how many lines it spans."""
    text = lines[i].strip()
    if not text:
        return None
    following = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if following and set(following) == {"-"}:
        return text.lower(), 2
    if text.endswith(":") and text[:-1].strip().lower() in _GOOGLE_SECTIONS:
        return text[:-1].strip().lower(), 1
    return None


def _section(lines: list[str], i: int, *, numpy: bool, into: dict[str, str]) -> int:
    """Read parameter entries from line ``i`` into ``into``; return the line after the section."""
    base: int | None = None
    name: str | None = None
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        indent = _indent(line)
        if _header(lines, i) is not None or (base is not None and indent < base):
            return i
        if base is None:
            base = indent
        if indent == base:
            entry = _ENTRY.match(line.strip())
            if entry is None:
                return i
            name = entry["name"]
            into[name] = "" if numpy else (entry["text"] or "").strip()
        elif name is not None:
            into[name] = _join(into[name], line)
        i += 1
    return i


def _is_context(hint: Any) -> bool:
    if typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return isinstance(hint, type) and issubclass(hint, RunContext)


def _with_description(hint: Any, doc: str) -> Any:
    """``hint`` with its description as ``msgspec.Meta``: from ``Annotated[T, "text"]``, else ``doc``."""
    metas: list[msgspec.Meta] = []
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        for extra in extras:
            if isinstance(extra, str):
                metas.append(msgspec.Meta(description=extra))
            elif isinstance(extra, msgspec.Meta):
                metas.append(extra)
    if doc and not any(m.description for m in metas):
        metas.append(msgspec.Meta(description=doc))
    return Annotated[(hint, *metas)] if metas else hint


def _default(value: Any) -> Any:
    """A default msgspec accepts: a non-empty mutable one becomes a factory of copies."""
    if isinstance(value, list | dict | set | bytearray) and value:
        return msgspec.field(default_factory=lambda: copy.deepcopy(value))
    return value


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The Struct's schema inlined, with the keys of an OpenAI ``parameters`` object first."""
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}), ())
    inlined.pop("description", None)
    ordered: dict[str, Any] = {
        "type": "object",
        "properties": inlined.pop("properties", {}),
        "required": inlined.pop("required", []),
        "additionalProperties": False,
    }
    inlined.pop("type", None)
    inlined.pop("additionalProperties", None)
    return ordered | inlined


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition and titles dropped."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    if "$ref" in node:
        ref = str(node["$ref"]).rsplit("/", 1)[-1]
        if ref in seen:
            raise ConfigError(
                f"the type {ref!r} refers to itself, which a tool's parameters cannot describe",
                hint="give the model a flat or bounded structure instead",
            )
        out.update(_inline(defs[ref], defs, (*seen, ref)))
    for key, value in node.items():
        if key in ("$ref", "$defs", "title", "discriminator"):
            continue
        if key in _KEYS_WITH_SCHEMAS:
            out[key] = {k: _inline(v, defs, seen) for k, v in value.items()}
        elif key in _KEYS_WITH_SCHEMA:
            out[key] = _inline(value, defs, seen)
        elif key in _KEYS_WITH_LISTS:
            out[key] = [_inline(v, defs, seen) for v in value]
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        kinds = {type(v) for v in out["enum"]}
        if kinds in ({str}, {int}):
            out["type"] = "string" if kinds == {str} else "integer"
    return out
