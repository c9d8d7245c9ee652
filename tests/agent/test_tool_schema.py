"""Function tool schemas: from a typed signature and its docstring to an OpenAI ``parameters`` object."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
import pytest

from graphflow.agent.tool_schema import parse_docstring
from graphflow.agent.tools import RunContext, function_tool
from graphflow.errors import ConfigError


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(msgspec.Struct):
    """Where on earth."""

    lat: float
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] = 0.0


class Tree(msgspec.Struct):
    children: list[Tree] = []


class Plain:
    pass


@function_tool
async def forecast(
    city: Annotated[str, "the city, e.g. Paris"],
    ctx: RunContext,
    days: int,
    place: Place,
    unit: Unit = Unit.CELSIUS,
    scale: float = 1.5,
    detailed: bool = False,
    mode: Literal["brief", "full"] = "brief",
    tags: list[str] = ["a"],  # noqa: B006 - copied per call
    note: str | None = None,
) -> dict[str, Any]:
    """Tell the weather
    for a few days.

    Looks it up somewhere.

    Args:
        city: overridden by the annotation.
        days (int): how many days,
            counted from today.
        tags: labels to attach.
    """
    return {"city": city, "days": days, "call": ctx.call.id, "tags": tags}


@function_tool(name="add_numbers", description="Add two numbers.")
def add(a: int, /, b: int) -> int:
    """Not this description."""
    return a + b


def test_schema_covers_every_parameter_kind_and_leaves_out_the_context() -> None:
    assert forecast.name == "forecast"
    assert forecast.description == "Tell the weather for a few days."
    assert forecast.needs_context and forecast.is_async
    assert forecast.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "the city, e.g. Paris"},
            "days": {"type": "integer", "description": "how many days, counted from today."},
            "place": {
                "type": "object",
                "description": "Where on earth.",
                "properties": {
                    "lat": {"type": "number"},
                    "lon": {"type": "number", "minimum": -180, "maximum": 180, "default": 0.0},
                },
                "required": ["lat"],
            },
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            "scale": {"type": "number", "default": 1.5},
            "detailed": {"type": "boolean", "default": False},
            "mode": {"type": "string", "enum": ["brief", "full"], "default": "brief"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "labels to attach."},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["city", "days", "place"],
        "additionalProperties": False,
    }
    assert list(forecast.parameters) == ["type", "properties", "required", "additionalProperties"]
    assert "$defs" not in str(forecast.parameters) and "$ref" not in str(forecast.parameters)


def test_decorator_arguments_and_the_openai_shape() -> None:
    assert add.openai_schema() == {
        "type": "function",
        "function": {
            "name": "add_numbers",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
        },
    }
    assert add(2, b=3) == 5  # still a function
    assert not add.is_async and not add.needs_context

    @function_tool
    def nothing() -> str:
        return "ok"

    assert nothing.description == ""
    assert nothing.parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_docstring_styles() -> None:
    google = """Book a table.

    Args:
        name (str): who books.
        size: how many
            people.

    Returns:
        size: not a parameter.
    """
    numpy = """Book a table.

    Parameters
    ----------
    name : str
        who books.
    size : int
        how many
        people.

    Returns
    -------
    str
    """
    sphinx = """Book a table.

    :param name: who books.
    :param int size: how many
        people.
    :returns: a confirmation.
    """
    expected = ("Book a table.", {"name": "who books.", "size": "how many people."})
    assert parse_docstring(google) == parse_docstring(numpy) == parse_docstring(sphinx) == expected
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("One line only") == ("One line only", {})


def test_tools_that_cannot_be_described_are_refused_with_the_reason() -> None:
    def untyped(x) -> None:
        pass

    def star(*names: str) -> None:
        pass

    def unsupported(thing: Plain) -> None:
        pass

    def recursive(tree: Tree) -> None:
        pass

    def two(a: RunContext, b: RunContext) -> None:
        pass

    cases: list[tuple[Callable[..., Any], str]] = [
        (untyped, "parameter 'x' has no type annotation"),
        (star, "*args and **kwargs"),
        (unsupported, "parameter 'thing': its type cannot be described"),
        (recursive, "'Tree' refers to itself"),
        (two, "only one parameter may take the RunContext"),
        (lambda: None, "'<lambda>' cannot be a tool name"),
    ]
    for fn, message in cases:
        with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("(", r"\(")):
            function_tool(fn)
