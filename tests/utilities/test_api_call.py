"""Calling served functions: results, validation and the errors of the function."""

import asyncio
import logging
import os

import httpx
import pytest

SAMPLES = pytest.mark.urls("tests.utilities.urls")


async def test_slugify_returns_result(api: httpx.AsyncClient) -> None:
    """A call answers `{"result": ...}` with the function's return value."""
    response = await api.post("/api/utilities/slugify", json={"text": "Héllo, Wörld!"})

    assert response.status_code == 200
    assert response.json() == {"result": "hello-world"}


async def test_default_argument_applies(api: httpx.AsyncClient) -> None:
    """An omitted argument takes the function's default (max_length=50)."""
    response = await api.post("/api/utilities/slugify", json={"text": "word " * 40})

    assert len(response.json()["result"]) == 49  # cut at 50, trailing hyphen dropped


async def test_object_results_follow_the_return_schema(api: httpx.AsyncClient) -> None:
    """`describe` answers its Summary model as an object."""
    response = await api.post("/api/utilities/describe", json={"numbers": [1, 2, 3, 4]})

    assert response.json()["result"] == {
        "count": 4, "mean": 2.5, "median": 2.5,
        "stdev": pytest.approx(1.2909944), "min": 1.0, "max": 4.0,
    }  # fmt: skip


async def test_process_function_returns_its_result(api: httpx.AsyncClient) -> None:
    """`prime_factors`, run in the process pool, factorises an 18-digit number."""
    response = await api.post(
        "/api/utilities/prime_factors", json={"n": 999999937 * 999999929}
    )

    assert response.status_code == 200
    assert response.json() == {"result": [999999929, 999999937]}


async def test_datetime_in_and_out(api: httpx.AsyncClient) -> None:
    """`convert_timezone` takes and returns ISO 8601 moments."""
    response = await api.post(
        "/api/utilities/convert_timezone",
        json={"moment": "2024-07-01T12:00:00Z", "to_zone": "Europe/Paris"},
    )

    assert response.json() == {"result": "2024-07-01T14:00:00+02:00"}


@pytest.mark.parametrize(
    ("name", "body", "loc", "error_type"),
    [
        ("slugify", {}, ["body", "text"], "missing"),
        ("slugify", {"text": "a", "bogus": 1}, ["body", "bogus"], "extra_forbidden"),
        ("slugify", {"text": 5}, ["body", "text"], "string_type"),
        ("slugify", {"text": "a", "max_length": 0}, ["body", "max_length"], "greater_than_equal"),
        ("slugify", {"text": "a\x00b"}, ["body", "text"], "value_error"),
        ("describe", {"numbers": []}, ["body", "numbers"], "too_short"),
        ("describe", {"numbers": [1, "NaN"]}, ["body", "numbers", 1], "float_type"),
        ("describe", {"numbers": [1, True]}, ["body", "numbers", 1], "float_type"),
        ("count_primes", {"limit": True}, ["body", "limit"], "int_type"),
        ("count_primes", {"limit": "10"}, ["body", "limit"], "int_type"),
        ("count_primes", {"limit": 10.5}, ["body", "limit"], "int_from_float"),
        ("prime_factors", {"n": 1}, ["body", "n"], "greater_than_equal"),
        ("prime_factors", {"n": 10**19}, ["body", "n"], "less_than_equal"),
        ("convert_timezone", {"moment": "2024-07-01T12:00:00", "to_zone": "UTC"}, ["body", "moment"], "timezone_aware"),
        ("count_primes", {"limit": 10**10}, ["body", "limit"], "less_than_equal"),
    ],
)  # fmt: skip
async def test_invalid_arguments_are_422_naming_the_field(
    api: httpx.AsyncClient,
    name: str,
    body: dict[str, object],
    loc: list[object],
    error_type: str,
) -> None:
    """Each bad, missing or unknown argument is reported at its place."""
    response = await api.post(f"/api/utilities/{name}", json=body)

    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "invalid"
    assert {"loc": loc, "type": error_type} in [
        {"loc": e["loc"], "type": e["type"]} for e in payload["errors"]
    ]


async def test_numbers_are_read_as_json_schema_reads_them(
    api: httpx.AsyncClient,
) -> None:
    """An integer written with a zero fraction is an integer, as in JSON Schema."""
    response = await api.post("/api/utilities/count_primes", json={"limit": 10.0})

    assert response.status_code == 200, response.text
    assert response.json() == {"result": 4}


async def test_number_too_large_for_a_float_is_422(api: httpx.AsyncClient) -> None:
    """`1e400` is valid JSON that no float can hold: refused, not infinity."""
    response = await api.post(
        "/api/utilities/describe",
        content=b'{"numbers": [1, 1e400]}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body", "numbers", 1], "finite_number")
    ]


async def test_lone_surrogate_is_422(api: httpx.AsyncClient) -> None:
    """A lone surrogate, valid in JSON but not in UTF-8, is refused up front."""
    response = await api.post(
        "/api/utilities/slugify",
        content=b'{"text": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "text"]]


async def test_value_error_is_422_with_its_message(api: httpx.AsyncClient) -> None:
    """A ValueError from the function becomes a 422 that names the bad zone."""
    response = await api.post(
        "/api/utilities/convert_timezone",
        json={"moment": "2024-07-01T12:00:00Z", "to_zone": "Mars/Olympus"},
    )

    assert response.status_code == 422
    assert response.json() == {
        "type": "tag:ninja-service,2026:problem:rejected",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "unknown time zone: 'Mars/Olympus'",
        "code": "rejected",
        "errors": None,
    }


@SAMPLES
async def test_value_error_from_a_process_is_422(api: httpx.AsyncClient) -> None:
    """A ValueError raised in a pool worker comes back as the same 422."""
    response = await api.post("/api/utilities/refuse", json={"reason": "no thanks"})

    assert response.status_code == 422
    assert response.json()["detail"] == "no thanks"


@pytest.mark.parametrize("body", [b"{oops", b'{"text": "a"'])
async def test_malformed_json_is_400(api: httpx.AsyncClient, body: bytes) -> None:
    """A body that does not parse is a 400."""
    response = await api.post(
        "/api/utilities/slugify",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


@pytest.mark.parametrize("body", [b"[1]", b'"text"'])
async def test_arguments_must_be_an_object(api: httpx.AsyncClient, body: bytes) -> None:
    """Arguments are a JSON object; anything else is a 422."""
    response = await api.post(
        "/api/utilities/slugify",
        content=body,
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422


async def test_unknown_utility_is_404(api: httpx.AsyncClient) -> None:
    """A name that is not in the catalogue is a JSON 404."""
    response = await api.post("/api/utilities/rm_rf", json={})

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@SAMPLES
async def test_unexpected_error_is_generic_500_and_logged(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Any other exception is a 500 that leaks nothing; the traceback is logged."""
    with caplog.at_level(logging.ERROR):
        response = await api.post("/api/utilities/boom", json={})

    assert response.status_code == 500
    assert response.json() == {
        "type": "tag:ninja-service,2026:problem:server_error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Internal server error.",
        "code": "server_error",
        "errors": None,
    }
    assert "secret internal detail" not in response.text
    assert any("secret internal detail" in r.getMessage() or (
        r.exc_info and "secret internal detail" in str(r.exc_info[1])
    ) for r in caplog.records)  # fmt: skip


@SAMPLES
async def test_result_not_matching_its_type_is_500(api: httpx.AsyncClient) -> None:
    """A function that breaks its own return type is a server bug, not client data."""
    response = await api.post("/api/utilities/wrong_type", json={})

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


@SAMPLES
async def test_process_function_never_runs_in_the_server_process(
    api: httpx.AsyncClient,
) -> None:
    """A `process` function runs in a pool worker, not in the event loop's process."""
    response = await api.post("/api/utilities/worker_pid", json={})

    assert response.status_code == 200
    assert response.json()["result"] != os.getpid()


async def test_health_answers_while_cpu_work_runs(api: httpx.AsyncClient) -> None:
    """A long CPU-bound call does not hold up a health check sent after it."""
    finished: list[str] = []

    async def count() -> None:
        response = await api.post("/api/utilities/count_primes", json={"limit": 10**9})
        assert response.status_code == 200
        finished.append("count_primes")

    async def health() -> None:
        await asyncio.sleep(0.1)  # the count is under way
        response = await api.get("/api/health")
        assert response.status_code == 200
        finished.append("health")

    await asyncio.gather(count(), health())

    assert finished == ["health", "count_primes"]
