"""Prometheus metrics at /metrics (core/metrics.py)."""

import httpx
import pytest
from pytest_django import Settings

from tests.helpers import client

TOKEN = "scrape-token-for-tests"

pytestmark = pytest.mark.django_db


@pytest.fixture
def scraper(settings: Settings) -> httpx.AsyncClient:
    settings.API_METRICS_TOKEN = TOKEN
    return client(TOKEN)


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_are_off_without_a_token(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/metrics")).status_code == 404


async def test_metrics_refuse_a_wrong_token(
    scraper: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    wrong = await anon.get("/metrics", headers={"Authorization": "Bearer nope"})

    assert wrong.status_code == 404


async def test_requests_are_counted_by_route_and_status(
    scraper: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    series = (
        'http_requests_total{method="GET",route="/api/users/<user_id>",status="404"}'
    )
    before = _value((await scraper.get("/metrics")).text, series)

    await api.get("/api/users/999999")
    await api.get("/api/users/999998")
    response = await scraper.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert _value(response.text, series) == before + 2
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/users/<user_id>"}'
        in response.text
    )


async def test_utility_calls_and_jobs_are_counted(
    scraper: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    series = 'utility_calls_total{outcome="ok",utility="slugify"}'
    before = _value((await scraper.get("/metrics")).text, series)

    await api.post("/api/utilities/slugify", json={"text": "Hello World"})
    await api.post("/api/utilities/count_primes/jobs", json={"limit": 100})
    text = (await scraper.get("/metrics")).text

    assert _value(text, series) == before + 1
    assert _value(text, 'jobs{status="queued"}') == 1
