"""Turn a typed function into a served utility: its schemas come from its signature.

`Registry.add` reads the signature at import, so at start-up, and refuses with
a `RegistrationError` naming the function and parameter it cannot model, as
Ninja's ConfigError does for views.
"""

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, create_model

from core.validators import AS_JSON, reject_nul_and_surrogates

Execution = Literal["inline", "thread", "process"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class RegistrationError(Exception):
    """A function that cannot be served as it is written."""


@dataclass(frozen=True)
class Utility:
    """A registered function with its schemas and how it runs.

    `timeout_s`, `concurrency` and `max_body_bytes` of None mean: the
    settings' default (runners.limits_for resolves them per call).
    """

    name: str
    func: Callable[..., Any]
    execution: Execution
    job: bool
    timeout_s: float | None
    concurrency: int | None
    max_body_bytes: int | None
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    summary: str
    description: str

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def parameters_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the arguments object."""
        return self.args_model.model_json_schema()

    def returns_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the return value."""
        schema: dict[str, Any] = self.result_model.model_json_schema()
        result = dict(schema["properties"]["result"])
        if "$defs" in schema:
            result["$defs"] = schema["$defs"]
        return result


def _reject_bad_text(value: Any) -> Any:
    """Refuse NUL and lone surrogates anywhere in a value, as the users API does.

    A served function may store or log its input; the check costs little and
    keeps the one rule for text in one place.
    """
    if isinstance(value, str):
        reject_nul_and_surrogates(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_bad_text(key)
            _reject_bad_text(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _reject_bad_text(item)
    elif isinstance(value, BaseModel):
        _reject_bad_text(value.model_dump())
    return value


def _as_json(annotation: Any) -> Any:
    """Return `annotation` reading ints, floats and bools as JSON's, at any depth.

    Arguments arrive as JSON, which has numbers and booleans of its own:
    `"5"` or `true` for an `int` is a client's mistake to refuse (422), not to
    coerce (core/validators.py). Strings keep pydantic's parsing: datetimes
    arrive as text.
    """
    if isinstance(annotation, type) and annotation in AS_JSON:
        return Annotated[annotation, AS_JSON[annotation]]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is None or origin is Literal or not args:
        return annotation
    if origin is Annotated:
        inner, metadata = args[0], annotation.__metadata__
        if isinstance(inner, type) and inner in AS_JSON:  # the marker goes last
            return Annotated[(inner, *metadata, AS_JSON[inner])]
        return Annotated[(_as_json(inner), *metadata)]
    converted = tuple(arg if arg is Ellipsis else _as_json(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return Union[converted]  # noqa: UP007  (built from a tuple)
    return origin[converted]


def utility_camel(name: str) -> str:
    """`count_primes` -> `CountPrimes`: the prefix of the utility's schema names."""
    return "".join(part.capitalize() for part in name.split("_"))


def _check_schema(annotation: Any, where: str) -> None:
    try:
        TypeAdapter(annotation).json_schema()
    except Exception as exc:  # pydantic raises several unrelated types here
        raise RegistrationError(
            f"{where}: type {annotation!r} cannot be turned into a JSON schema ({exc})"
        ) from exc


def _args_model(func: Callable[..., Any], qualname: str, name: str) -> type[BaseModel]:
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise RegistrationError(
            f"{qualname}: type hints cannot be resolved ({exc})"
        ) from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        where = f"{qualname}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise RegistrationError(f"{where}: *args and **kwargs cannot be modelled")
        if param.kind is param.POSITIONAL_ONLY:
            raise RegistrationError(
                f"{where}: positional-only parameters cannot be named"
            )
        if param.name.startswith("_") or hasattr(BaseModel, param.name):
            # pydantic would take it as a private attribute or an inherited
            # member, not a field, and the argument could never be passed.
            raise RegistrationError(f"{where}: the name is reserved by pydantic")
        if param.name not in hints:
            raise RegistrationError(f"{where}: has no type annotation")
        annotation = hints[param.name]
        _check_schema(annotation, where)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            Annotated[_as_json(annotation), AfterValidator(_reject_bad_text)],
            default,
        )
    try:
        model: type[BaseModel] = create_model(
            f"{utility_camel(name)}Args",
            __config__=ConfigDict(extra="forbid"),
            __doc__=f"Arguments of {name}.",
            **fields,
        )
        model.model_json_schema()
    except Exception as exc:
        raise RegistrationError(
            f"{qualname}: arguments cannot be modelled ({exc})"
        ) from exc
    return model


def _result_model(
    func: Callable[..., Any], qualname: str, name: str
) -> type[BaseModel]:
    hints = typing.get_type_hints(func, include_extras=True)
    if "return" not in hints:
        raise RegistrationError(f"{qualname}: has no return annotation")
    _check_schema(hints["return"], f"{qualname}, return value")
    returns: Any = hints["return"]  # a type known only at run time
    model: type[BaseModel] = create_model(
        f"{utility_camel(name)}Result",
        __doc__=f"What {name} returns.",
        result=(returns, ...),
    )
    return model


class Registry:
    """The served functions, by name."""

    def __init__(self) -> None:
        self._utilities: dict[str, Utility] = {}

    def add(
        self,
        func: Callable[..., Any],
        *,
        execution: Execution | None = None,
        job: bool = False,
        timeout_s: float | None = None,
        concurrency: int | None = None,
        max_body_bytes: int | None = None,
    ) -> Utility:
        """Serve `func`; raise RegistrationError if it cannot be served as written.

        `execution` defaults to `inline` for `async def` and to `thread` for
        `def`; pure-Python CPU work must say `process`.
        """
        name = func.__name__
        qualname = f"{func.__module__}.{func.__qualname__}"
        if not _NAME.match(name):
            raise RegistrationError(f"{qualname}: name must match {_NAME.pattern}")
        if name in self._utilities:
            raise RegistrationError(f"{qualname}: a utility named {name!r} exists")
        is_async = inspect.iscoroutinefunction(func)
        if execution is None:
            execution = "inline" if is_async else "thread"
        if execution not in ("inline", "thread", "process"):
            raise RegistrationError(f"{qualname}: unknown execution {execution!r}")
        if is_async and execution != "inline":
            raise RegistrationError(f"{qualname}: an async function runs inline")
        if execution == "process" and "<locals>" in func.__qualname__:
            raise RegistrationError(
                f"{qualname}: a process function must be importable by name"
            )
        for setting, value in (
            ("timeout_s", timeout_s),
            ("concurrency", concurrency),
            ("max_body_bytes", max_body_bytes),
        ):
            if value is not None and not value > 0:  # NaN too
                raise RegistrationError(f"{qualname}: {setting} must be positive")
        doc = inspect.getdoc(func)
        if not doc:
            raise RegistrationError(f"{qualname}: has no docstring to document it")
        summary, _, description = doc.partition("\n")
        utility = Utility(
            name=name,
            func=func,
            execution=execution,
            job=job,
            timeout_s=timeout_s,
            concurrency=concurrency,
            max_body_bytes=max_body_bytes,
            args_model=_args_model(func, qualname, name),
            result_model=_result_model(func, qualname, name),
            summary=summary.strip(),
            description=description.strip(),
        )
        self._utilities[name] = utility
        return utility

    def get(self, name: str) -> Utility | None:
        return self._utilities.get(name)

    def __iter__(self) -> Iterator[Utility]:
        return iter(self._utilities.values())
