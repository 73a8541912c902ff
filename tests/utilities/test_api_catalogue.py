"""The catalogue and the OpenAPI document of the utilities."""

import httpx
from pytest_django import Settings


async def test_catalogue_lists_every_function(api: httpx.AsyncClient) -> None:
    """GET /api/utilities describes each served function with its schemas and limits."""
    response = await api.get("/api/utilities")

    assert response.status_code == 200
    entries = {entry["name"]: entry for entry in response.json()}
    assert set(entries) == {
        "slugify", "word_frequencies", "describe",
        "convert_timezone", "prime_factors", "count_primes",
    }  # fmt: skip
    count = entries["count_primes"]
    assert (count["execution"], count["timeout_s"], count["job"]) == (
        "process",
        600,
        True,
    )
    assert count["summary"] == "Count the prime numbers less than or equal to a limit."
    assert "segmented sieve" in count["description"]
    assert count["parameters"]["properties"]["limit"]["maximum"] == 10**9
    assert count["parameters"]["required"] == ["limit"]
    assert count["returns"]["type"] == "integer"
    assert entries["slugify"]["job"] is False
    assert (
        entries["word_frequencies"]["returns"]["items"]["$ref"] == "#/$defs/WordCount"
    )


async def test_catalogue_shows_limits_in_force(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """An operator's override of a time limit is what the catalogue reports."""
    settings.UTILITIES_OVERRIDES = {"slugify": {"timeout_s": 2.5}}

    response = await api.get("/api/utilities")

    slugify = next(e for e in response.json() if e["name"] == "slugify")
    assert slugify["timeout_s"] == 2.5


async def test_each_function_has_typed_operations_in_openapi(
    api: httpx.AsyncClient,
) -> None:
    """Generated clients see each function's own request and response schemas."""
    document = (await api.get("/api/openapi.json")).json()

    operation = document["paths"]["/api/utilities/slugify"]["post"]
    assert operation["operationId"] == "callSlugify"
    assert (
        operation["summary"] == "Turn text into a lowercase ASCII slug for use in URLs."
    )
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/SlugifyArgs"
    ok_ref = operation["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ]
    assert ok_ref == "#/components/schemas/SlugifyResult"
    assert {"400", "413", "422", "503", "504"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    assert schemas["SlugifyArgs"]["properties"]["max_length"]["default"] == 50
    assert schemas["SlugifyResult"]["properties"]["result"]["type"] == "string"
    jobs = document["paths"]["/api/utilities/count_primes/jobs"]["post"]
    assert "202" in jobs["responses"]
    assert "/api/utilities/slugify/jobs" not in document["paths"]


async def test_docs_page_is_served(api: httpx.AsyncClient) -> None:
    """The interactive docs answer at /api/docs."""
    response = await api.get("/api/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
