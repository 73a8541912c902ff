"""The probes answer whatever the Host; nothing else does (core/middleware.py).

A platform's liveness and readiness probes name the pod's or container's
address (`Host: 10.1.2.3:8000`), which ALLOWED_HOSTS does not list.
"""

import httpx
import pytest
from pytest_django import Settings

from config.asgi import application
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db

POD = "http://10.1.2.3:8000"  # plain HTTP, as a probe calls from inside the platform


@pytest.fixture
def probe(settings: Settings) -> httpx.AsyncClient:
    """A client calling by the pod's address, on a server that answers api.example.com."""
    settings.ALLOWED_HOSTS = ["api.example.com"]
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url=POD)


async def test_health_answers_any_host_as_it_answers_an_allowed_one(
    probe: httpx.AsyncClient,
) -> None:
    """200, the same body and the same headers (request id, security headers)."""
    allowed = await probe.get(
        "https://api.example.com/api/health", headers={"Host": "api.example.com"}
    )

    response = await probe.get("/api/health")

    assert response.status_code == 200
    assert response.json() == allowed.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # HSTS goes only over HTTPS, as for an allowed host.
    assert set(response.headers) == set(allowed.headers) - {"strict-transport-security"}


async def test_head_health_answers_any_host(probe: httpx.AsyncClient) -> None:
    response = await probe.head("/api/health")

    assert response.status_code == 200


async def test_ready_answers_any_host(probe: httpx.AsyncClient) -> None:
    """A readiness probe calls by the pod's address too."""
    response = await probe.get("/api/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/users/me"),
        ("GET", "/api/utilities"),
        ("POST", "/api/health"),  # not a probe's method
        ("GET", "/api/health/"),  # not a probe's path
        ("GET", "/api/docs"),
    ],
)
async def test_any_other_request_from_that_host_is_a_disallowed_host_problem(
    probe: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await probe.request(method, path)

    assert_problem(response, 400, "disallowed_host")


async def test_outside_the_api_that_host_gets_djangos_400_page(
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/admin/")

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
