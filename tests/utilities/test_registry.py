"""Tests for Registry.add: schemas from signatures, refusals, defaults.

(Over 300 lines: every kind of signature Registry.add() accepts or
refuses, one subject.)
"""

import math
import re
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import pytest
from pydantic import ValidationError

from tests.utilities import registry_samples as samples
from utilities import catalogue
from utilities.registry import RegistrationError, Registry, Utility

SAMPLES = "tests.utilities.registry_samples"

POINT_SCHEMA = {
    "description": "A point on a grid.",
    "properties": {
        "x": {"title": "X", "type": "integer"},
        "y": {"title": "Y", "type": "integer"},
    },
    "required": ["x", "y"],
    "title": "Point",
    "type": "object",
}


def _untitled(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` without pydantic's generated `title`."""
    return {key: value for key, value in schema.items() if key != "title"}


@pytest.mark.parametrize(
    ("func", "expected", "required", "defs"),
    [
        pytest.param(samples.plain_int, {"type": "integer"}, True, {}, id="int"),
        pytest.param(
            samples.int_with_default,
            {"type": "integer", "default": 3},
            False,
            {},
            id="int-default",
        ),
        pytest.param(
            samples.bounded_int,
            {"type": "integer", "minimum": 1, "maximum": 10},
            True,
            {},
            id="int-bounds",
        ),
        pytest.param(
            samples.short_str,
            {"type": "string", "maxLength": 5},
            True,
            {},
            id="str-max-length",
        ),
        pytest.param(
            samples.float_list,
            {"type": "array", "items": {"type": "number"}},
            True,
            {},
            id="list-float",
        ),
        pytest.param(samples.flag, {"type": "boolean"}, True, {}, id="bool"),
        pytest.param(
            samples.optional_str,
            {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            False,
            {},
            id="optional-str",
        ),
        pytest.param(
            samples.choice,
            {"type": "string", "enum": ["a", "b"]},
            True,
            {},
            id="literal",
        ),
        pytest.param(
            samples.moment,
            {"type": "string", "format": "date-time"},
            True,
            {},
            id="datetime",
        ),
        pytest.param(
            samples.point,
            {"$ref": "#/$defs/Point"},
            True,
            {"Point": POINT_SCHEMA},
            id="base-model",
        ),
    ],
)
def test_parameter_annotation_gives_its_json_schema(
    func: Callable[..., object],
    expected: dict[str, Any],
    required: bool,
    defs: dict[str, Any],
) -> None:
    """The arguments schema has the parameter's type, bounds and default, and no extras."""
    utility = Registry().add(func)

    schema = utility.parameters_schema()

    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["x"]
    assert _untitled(schema["properties"]["x"]) == expected
    assert schema.get("required", []) == (["x"] if required else [])
    assert schema.get("$defs", {}) == defs


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        pytest.param(samples.plain_int, {"type": "integer"}, id="int"),
        pytest.param(
            samples.returns_int_list,
            {"type": "array", "items": {"type": "integer"}},
            id="list-int",
        ),
        pytest.param(
            samples.returns_point,
            {"$ref": "#/$defs/Point", "$defs": {"Point": POINT_SCHEMA}},
            id="base-model",
        ),
        pytest.param(
            samples.returns_optional_str,
            {"anyOf": [{"type": "string"}, {"type": "null"}]},
            id="optional-str",
        ),
    ],
)
def test_return_annotation_gives_its_json_schema(
    func: Callable[..., object], expected: dict[str, Any]
) -> None:
    """The returns schema is the return type's own, with the models it refers to."""
    utility = Registry().add(func)

    assert _untitled(utility.returns_schema()) == expected


@pytest.mark.parametrize(
    ("func", "parameter", "reason"),
    [
        pytest.param(samples.untyped, "x", "has no type annotation", id="untyped"),
        pytest.param(samples.star_args, "numbers", "*args", id="var-positional"),
        pytest.param(samples.star_kwargs, "options", "**kwargs", id="var-keyword"),
        pytest.param(samples.positional, "x", "positional-only", id="positional-only"),
        pytest.param(samples.locked, "x", "JSON schema", id="lock"),
        pytest.param(samples.opaque, "x", "JSON schema", id="plain-class"),
        pytest.param(samples.private, "_private", "", id="leading-underscore"),
        pytest.param(samples.config, "model_config", "", id="model-config"),
    ],
)
def test_unmodellable_parameter_is_refused_naming_the_parameter(
    func: Callable[..., object], parameter: str, reason: str
) -> None:
    """A parameter the args model cannot carry is refused, naming function and parameter."""
    registry = Registry()

    with pytest.raises(RegistrationError) as raised:
        registry.add(func)

    message = str(raised.value)
    assert message.startswith(f"{SAMPLES}.{func.__name__}, parameter {parameter!r}")
    assert reason in message
    assert registry.get(func.__name__) is None


def test_missing_return_annotation_is_refused_naming_the_function() -> None:
    """A function without a return annotation is refused."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.unreturned: has no return annotation"),
    ):
        Registry().add(samples.unreturned)


def test_unmodellable_return_type_is_refused_naming_the_function() -> None:
    """A return type without a JSON schema is refused, naming the return value."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.returns_opaque, return value: type"),
    ):
        Registry().add(samples.returns_opaque)


def test_missing_docstring_is_refused_naming_the_function() -> None:
    """A function without a docstring cannot be documented, so it is refused."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.undocumented: has no docstring"),
    ):
        Registry().add(samples.undocumented)


def test_duplicate_name_is_refused_and_keeps_the_first() -> None:
    """A second utility of the same name in one registry is refused."""
    registry = Registry()
    first = registry.add(samples.plain_int)

    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.plain_int: a utility named 'plain_int' exists"),
    ):
        registry.add(samples.plain_int, execution="inline")

    assert registry.get("plain_int") is first
    assert list(registry) == [first]


@pytest.mark.parametrize("execution", ["thread", "process"])
def test_async_function_outside_inline_is_refused(execution: str) -> None:
    """An `async def` runs on the event loop, so thread and process are refused."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.coroutine: an async function runs inline"),
    ):
        Registry().add(samples.coroutine, execution=execution)  # type: ignore[arg-type]  # a str from the table


def test_local_function_in_a_process_is_refused() -> None:
    """A `<locals>` function cannot be pickled by name, so `process` is refused."""

    def local(x: int) -> int:
        """Return `x`."""
        return x

    qualname = (
        "tests.utilities.test_registry."
        "test_local_function_in_a_process_is_refused.<locals>.local"
    )
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{qualname}: a process function must be importable"),
    ):
        Registry().add(local, execution="process")


def test_local_function_in_a_thread_is_served() -> None:
    """A `<locals>` function may run in a thread: it is never pickled."""

    def local(x: int) -> int:
        """Return `x`."""
        return x

    utility = Registry().add(local, execution="thread")

    assert utility.execution == "thread"


@pytest.mark.parametrize(
    "timeout_s",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1.5, id="negative"),
        pytest.param(math.nan, id="nan"),
    ],
)
def test_timeout_that_is_not_positive_is_refused(timeout_s: float) -> None:
    """A `timeout_s` that is not a positive number is refused."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.plain_int: timeout_s must be positive"),
    ):
        Registry().add(samples.plain_int, timeout_s=timeout_s)


@pytest.mark.parametrize(
    "execution",
    [
        pytest.param("fork", id="unknown"),
        pytest.param("Thread", id="wrong-case"),
        pytest.param("", id="empty"),
    ],
)
def test_unknown_execution_is_refused_naming_it(execution: str) -> None:
    """An execution other than inline, thread or process is refused."""
    with pytest.raises(
        RegistrationError,
        match=re.escape(f"{SAMPLES}.plain_int: unknown execution {execution!r}"),
    ):
        Registry().add(samples.plain_int, execution=execution)  # type: ignore[arg-type]  # the wrong value is the point


@pytest.mark.parametrize(
    ("func", "execution"),
    [
        pytest.param(samples.coroutine, "inline", id="async-def"),
        pytest.param(samples.plain_int, "thread", id="def"),
    ],
)
def test_execution_defaults_by_kind_of_function(
    func: Callable[..., object], execution: str
) -> None:
    """`async def` runs inline and `def` in a thread unless told otherwise."""
    utility = Registry().add(func)

    assert utility.execution == execution
    assert utility.is_async is (execution == "inline")


def test_docstring_gives_summary_and_description() -> None:
    """The docstring's first line is the summary and the rest the description."""
    utility = Registry().add(samples.documented)

    assert utility.summary == "Return `x` unchanged."
    assert utility.description == (
        "Everything after the summary line is the description,\nline breaks included."
    )


def test_one_line_docstring_gives_empty_description() -> None:
    """A one-line docstring is all summary."""
    utility = Registry().add(samples.plain_int)

    assert (utility.summary, utility.description) == ("Return `x`.", "")


def test_args_model_forbids_extra_keys() -> None:
    """An argument the function does not take is an `extra_forbidden` error."""
    utility = Registry().add(samples.plain_int)

    with pytest.raises(ValidationError) as raised:
        utility.args_model.model_validate({"x": 1, "y": 2})

    errors = raised.value.errors()
    assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", ("y",))]


def test_args_model_accepts_ordinary_text() -> None:
    """Text without NUL or lone surrogates passes, in strings, lists and dicts."""
    utility = Registry().add(samples.texts)
    arguments = {"text": "héllo ✓", "items": ["a", "😀"], "mapping": {"k": "v"}}

    assert utility.args_model.model_validate(arguments).model_dump() == arguments


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        pytest.param("text", "a\x00b", id="str-nul"),
        pytest.param("text", "a\ud800b", id="str-surrogate"),
        pytest.param("items", ["ok", "a\x00"], id="list-nul"),
        pytest.param("items", ["\udfff"], id="list-surrogate"),
        pytest.param("mapping", {"k": "a\x00"}, id="dict-value-nul"),
        pytest.param("mapping", {"k": "\ud83d"}, id="dict-value-surrogate"),
        pytest.param("mapping", {"a\x00": "v"}, id="dict-key-nul"),
        pytest.param("mapping", {"\ud800": "v"}, id="dict-key-surrogate"),
    ],
)
def test_args_model_rejects_nul_and_lone_surrogates(
    parameter: str, value: object
) -> None:
    """NUL and unpaired surrogates are refused at any depth, under the parameter's name."""
    utility = Registry().add(samples.texts)
    arguments: dict[str, object] = {"text": "", "items": [], "mapping": {}}

    with pytest.raises(ValidationError) as raised:
        utility.args_model.model_validate({**arguments, parameter: value})

    errors = raised.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"][0] == parameter


@pytest.mark.parametrize("utility", list(catalogue.registry), ids=attrgetter("name"))
def test_catalogue_entry_is_documented_and_closed(utility: Utility) -> None:
    """Every served function has a summary, a description and a closed arguments schema."""
    assert utility.summary
    assert utility.description
    assert utility.parameters_schema()["additionalProperties"] is False
    assert utility.returns_schema()


def test_catalogue_runs_count_primes_as_a_process_job() -> None:
    """`count_primes` is a job run in a process."""
    utility = catalogue.registry.get("count_primes")

    assert utility is not None
    assert (utility.job, utility.execution) == (True, "process")
