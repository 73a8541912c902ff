"""Request ids and the access log (core/request_log.py, core/logs.py)."""

import io
import json
import logging
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import structlog

from core.logs import logging_config
from users.models import User
from utilities.models import Job


async def test_well_formed_request_id_is_kept_and_returned(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/api/users/me", headers={"X-Request-ID": "trace-42.a:b"})

    assert response.headers["X-Request-ID"] == "trace-42.a:b"


@pytest.mark.parametrize(
    "given", [None, "", "has space", "x" * 129, "bad/slash", "-leading-dash"]
)
async def test_missing_or_malformed_request_id_is_replaced(
    anon: httpx.AsyncClient, given: str | None
) -> None:
    headers = {"X-Request-ID": given} if given is not None else {}

    response = await anon.get("/api/health", headers=headers)

    assert uuid.UUID(hex=response.headers["X-Request-ID"])


async def test_generated_request_ids_are_distinct(anon: httpx.AsyncClient) -> None:
    ids = [(await anon.get("/api/health")).headers["X-Request-ID"] for _ in range(3)]

    assert len(set(ids)) == 3
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_one_access_line_per_request_with_route_status_and_user(
    api: httpx.AsyncClient, staff: User, ann: User, caplog: pytest.LogCaptureFixture
) -> None:
    """The route is the template, not the path: one series per endpoint."""
    with caplog.at_level("INFO", logger="request"):
        response = await api.get(f"/api/users/{ann.pk}", headers={"X-Request-ID": "r1"})

    lines = [r for r in caplog.records if r.name == "request"]
    assert len(lines) == 1
    line = lines[0].__dict__
    assert line["route"] == "/api/users/<user_id>"
    assert line["status"] == response.status_code == 200
    assert line["method"] == "GET"
    assert line["user_id"] == staff.pk
    assert line["duration_ms"] >= 0


def test_json_lines_carry_the_request_id_bound_to_the_context() -> None:
    """In production every line is one JSON object, with the request's id."""
    config = logging_config(json=True, level="INFO")
    formatter = config["formatters"]["structured"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter["()"]())
    logger = logging.getLogger("test.json-lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with structlog.contextvars.bound_contextvars(request_id="abc123"):
            logger.warning("permission denied user=%s", 7, extra={"status": 403})
            try:
                raise ValueError("the cause")
            except ValueError:
                logger.exception("failed", extra={"request": object()})
    finally:
        logger.removeHandler(handler)

    first, second = map(json.loads, stream.getvalue().splitlines())
    assert first == {
        "event": "permission denied user=7",
        "request_id": "abc123",
        "level": "warning",
        "logger": "test.json-lines",
        "status": 403,
        "timestamp": first["timestamp"],
    }
    assert datetime.fromisoformat(first["timestamp"]).tzinfo == UTC
    assert (second["event"], second["level"]) == ("failed", "error")
    assert second["request"].startswith("<object object")  # not JSON: its repr
    assert second["exception"].startswith("Traceback (most recent call last)")
    assert "ValueError: the cause" in second["exception"]


@pytest.mark.django_db
async def test_job_keeps_the_submitting_request_id(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/utilities/count_primes/jobs",
        json={"limit": 100},
        headers={"X-Request-ID": "submit-7"},
    )

    job = await Job.objects.aget(pk=response.json()["id"])
    assert job.request_id == "submit-7"


async def test_successful_probes_are_not_logged(
    anon: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Probes come every few seconds: their access lines would drown the rest."""
    with caplog.at_level("INFO", logger="request"):
        probe = await anon.get("/api/health")
        other = await anon.get("/api/users/me")

    assert (probe.status_code, other.status_code) == (200, 401)
    assert [r.__dict__["route"] for r in caplog.records if r.name == "request"] == [
        "/api/users/me"
    ]
