"""The OpenAPI document as client generators need it (core/openapi.py, #17)."""

import re
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync

from core.api import ServiceAPI
from utilities.api import build_jobs_router, build_utilities_router
from utilities.registry import Registry

pytestmark = pytest.mark.django_db

CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
GENERIC = {"Input", "Output", "Status", "Summary", "Result", "Error", "Item", "Schema"}


@pytest.fixture
def document(anon: httpx.AsyncClient) -> dict[str, Any]:
    """The document as served to a client. (Not Django's test Client: it
    connects close_old_connections to request_started again.)"""
    response = async_to_sync(anon.get)("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_operation_ids_are_unique_and_camel_case(
    document: dict[str, Any],
) -> None:
    """A generator names each client function after its operationId."""
    ids = [operation["operationId"] for _, _, operation in _operations(document)]

    assert len(ids) == len(set(ids))
    assert [i for i in ids if not CAMEL.match(i)] == []
    assert {"createUser", "getUser", "patchUser", "callSlugify"} <= set(ids)
    assert {"submitCountPrimesJob", "getJob", "cancelJob", "getHealth"} <= set(ids)


def double_it(n: int) -> int:
    """Return twice n."""
    return 2 * n


def test_a_utility_added_later_gets_operation_ids_of_the_same_kind() -> None:
    """Registering a function is all it takes: its call and job operations
    are named like the others."""
    registry = Registry()
    registry.add(double_it, execution="inline", job=True)
    api = ServiceAPI(urls_namespace="later")
    api.add_router("/utilities", build_utilities_router(registry))
    api.add_router("/jobs", build_jobs_router(registry))

    paths = api.get_openapi_schema(path_prefix="/api/")["paths"]

    assert paths["/api/utilities/double_it"]["post"]["operationId"] == "callDoubleIt"
    jobs = paths["/api/utilities/double_it/jobs"]["post"]
    assert jobs["operationId"] == "submitDoubleItJob"


async def test_head_is_served_but_not_documented(
    anon: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    """HEAD would share GET's operationId and promise a body it never has."""
    head = await anon.head("/api/health")

    assert head.status_code == 200
    assert head.content == b""
    assert [m for m, _, _ in _operations(document) if m == "head"] == []
    assert "get" in document["paths"]["/api/health"]


async def test_public_operations_say_so(document: dict[str, Any]) -> None:
    public = {
        operation["operationId"]
        for _, _, operation in _operations(document)
        if operation["security"] == []
    }

    assert public == {"getHealth", "getReady", "createToken"}


async def test_servers_and_tags_are_described(document: dict[str, Any]) -> None:
    tags = {tag["name"]: tag.get("description") for tag in document["tags"]}
    used = {t for _, _, operation in _operations(document) for t in operation["tags"]}

    assert document["servers"][0]["url"] == "/"
    assert used <= set(tags)
    assert all(tags.values())


async def test_every_response_declares_the_headers_it_sends(
    document: dict[str, Any],
) -> None:
    """X-Request-ID on every answer; Retry-After on 429 and 503; Location
    where a created user or an accepted job is (schemathesis checks that each
    declared header is sent)."""
    location = set()
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert "X-Request-ID" in headers, (method, path, status)
            assert ("Retry-After" in headers) == (status in ("429", "503"))
            if "Location" in headers:
                location.add((operation["operationId"], status))

    assert location == {("createUser", "201"), ("submitCountPrimesJob", "202")}


async def test_a_jobs_result_is_typed_per_utility(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    job = schemas["CountPrimesJob"]
    get_job = document["paths"]["/api/jobs/{job_id}"]["get"]["responses"]["200"]

    assert job["properties"]["utility"]["const"] == "count_primes"
    assert job["properties"]["result"]["anyOf"] == [
        {"type": "integer"},
        {"type": "null"},
    ]
    assert get_job["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CountPrimesJob"
    }


async def test_enum_members_have_names(document: dict[str, Any]) -> None:
    """`-created_at` would come out as VALUE_9 in a generated client."""
    (ordering,) = [
        p["schema"]
        for p in document["paths"]["/api/users"]["get"]["parameters"]
        if p["name"] == "ordering"
    ]

    named = dict(zip(ordering["enum"], ordering["x-enum-varnames"], strict=True))
    assert named["-created_at"] == "CREATED_AT_DESC"
    assert named["name"] == "NAME"


async def test_components_have_specific_names_and_are_all_used(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    text = str({k: v for k, v in document.items() if k != "components"})
    text += str({k: v for k, v in document["components"].items() if k != "schemas"})
    text += str(schemas)

    assert GENERIC & set(schemas) == set()
    unused = [n for n in schemas if f"#/components/schemas/{n}'" not in text]
    assert unused == []
