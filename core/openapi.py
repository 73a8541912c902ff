"""The OpenAPI document as client generators need it (#17).

Ninja writes the document from the routes; shape() then makes it a contract
that openapi-python-client, openapi-typescript and Redocly accept:

- every operation has a camelCase operationId, from its handler's name
  (operation_id(): `create_user` -> `createUser`, `call_slugify` ->
  `callSlugify`), unique across the API;
- HEAD is served where GET is, but left out of the document: it would share
  GET's operationId and promise a body it never has;
- operations without authentication say `security: []`;
- every error answer is the shared `Problem` component as
  `application/problem+json`; every answer declares `X-Request-ID`, a 429 or
  503 `Retry-After`; the operations that send `Location` declare it with
  sends_location();
- string enums whose values are not identifiers (`-created_at`) carry
  `x-enum-varnames` (`CREATED_AT_DESC`), so generated members have names;
- components get names that say what they are (`Status` -> `JobStatus`),
  and those no operation uses are left out.
"""

import re
from http import HTTPStatus
from typing import Any

from core.errors import PROBLEM_CONTENT_TYPE, TITLES

TAGS = [
    {"name": "operations", "description": "Liveness and readiness probes."},
    {
        "name": "auth",
        "description": "Bearer tokens: exchange a password for one, revoke it.",
    },
    {"name": "users", "description": "Users: create, read, replace, patch, delete."},
    {
        "name": "utilities",
        "description": "Typed functions served as endpoints, and their catalogue; "
        "some also run as jobs.",
    },
    {"name": "jobs", "description": "Long calls run in the background: poll, cancel."},
]

# Ninja's or pydantic's names that would clash in a client's namespace.
RENAMES = {"Status": "JobStatus", "Summary": "NumberSummary"}

HEADERS = {
    "XRequestID": {
        "description": "The request's id: the one sent in `X-Request-ID`, or a new "
        "one. Every log line of the request carries it.",
        "schema": {"type": "string"},
        "required": True,
    },
    "Location": {
        "description": "The URL of what was created or accepted.",
        "schema": {"type": "string"},
        "required": True,
    },
    "RetryAfter": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    },
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def operation_id(handler_name: str) -> str:
    """camelCase of a handler's name: `submit_count_primes_job` -> `submitCountPrimesJob`."""
    first, *rest = handler_name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def sends_location(status: int) -> dict[str, Any]:
    """`openapi_extra` of an operation whose `status` answer sends `Location`."""
    header = {"Location": {"$ref": "#/components/headers/Location"}}
    return {"responses": {status: {"headers": header}}}


def shape(document: dict[str, Any]) -> None:
    """Shape the document for client generators, in place (see the module)."""
    for operations in document["paths"].values():
        operations.pop("head", None)
        for operation in operations.values():
            operation.setdefault("security", [])
            for status, response in operation["responses"].items():
                _shape_response(int(status), response)
    document["tags"] = TAGS
    components = document.setdefault("components", {})
    components["headers"] = HEADERS
    _rename(document, RENAMES)
    _drop_unused(document)
    _name_enum_members(document)


def _shape_response(status: int, response: dict[str, Any]) -> None:
    headers = response.setdefault("headers", {})
    headers["X-Request-ID"] = {"$ref": "#/components/headers/XRequestID"}
    if status in (429, 503):
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    if status >= 400:
        response["description"] = TITLES.get(status) or HTTPStatus(status).phrase
        response["content"] = {
            PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }


def _refs(node: Any) -> set[str]:
    """The component names `node` refers to."""
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def _drop_unused(document: dict[str, Any]) -> None:
    """Leave out schemas nothing refers to (Ninja adds query and pagination models)."""
    components = document["components"]
    schemas = components.get("schemas", {})
    used: set[str] = set()
    todo = _refs({k: v for k, v in components.items() if k != "schemas"})
    todo |= _refs(document["paths"])
    while todo:
        name = todo.pop()
        if name in used or name not in schemas:
            continue
        used.add(name)
        todo |= _refs(schemas[name])
    for name in list(schemas):
        if name not in used:
            del schemas[name]


def _rename(document: dict[str, Any], renames: dict[str, str]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for old, new in renames.items():
        if old in schemas:
            schemas[new] = schemas.pop(old)
            schemas[new]["title"] = new
    _rewrite_refs(document, renames)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name in renames:
                node["$ref"] = f"#/components/schemas/{renames[name]}"
        for value in node.values():
            _rewrite_refs(value, renames)
    elif isinstance(node, list):
        for item in node:
            _rewrite_refs(item, renames)


def _name_enum_members(node: Any) -> None:
    """Add `x-enum-varnames` to string enums with values that are not names."""
    if isinstance(node, dict):
        values = node.get("enum")
        if (
            isinstance(values, list)
            and all(isinstance(v, str) for v in values)
            and not all(_IDENTIFIER.match(v) for v in values)
        ):
            node["x-enum-varnames"] = [_member_name(v) for v in values]
        for value in node.values():
            _name_enum_members(value)
    elif isinstance(node, list):
        for item in node:
            _name_enum_members(item)


def _member_name(value: str) -> str:
    """`-created_at` -> `CREATED_AT_DESC`: Django's descending prefix, spelled out."""
    descending = value.startswith("-")
    name = re.sub(r"[^A-Za-z0-9]+", "_", value.lstrip("-")).strip("_").upper()
    return f"{name}_DESC" if descending else name
