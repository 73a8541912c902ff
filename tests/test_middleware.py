"""The production middleware stack runs on the event loop (config/middleware.py)."""

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from config.checks import check_middleware_security


async def test_health_in_rollback_mode_makes_one_thread_hop(
    anon: httpx.AsyncClient, hops: list[str]
) -> None:
    """Through every middleware, /api/health leaves the loop once: to close the response.

    A middleware with sync hooks would add two trips to a thread per request.
    """
    response = await anon.get("/api/health")

    assert response.status_code == 200
    assert hops == ["HttpResponseBase.close"]


@pytest.mark.asyncio
async def test_health_as_served_never_leaves_the_loop(
    anon: httpx.AsyncClient, hops: list[str]
) -> None:
    """As served by uvicorn (config/asgi_handler.py): no thread hop at all.

    The response is closed on the loop, since the request used no thread.
    """
    response = await anon.get("/api/health")

    assert response.status_code == 200
    assert hops == []


def test_deploy_checks_see_the_subclasses_as_djangos_middleware() -> None:
    """With the security middleware removed, the rerun checks say so."""
    without = [m for m in settings.MIDDLEWARE if not m.endswith(".SecurityMiddleware")]

    with override_settings(MIDDLEWARE=without):
        ids = {m.id for m in check_middleware_security(None)}

    assert "config.W001" in ids
    assert {m.id for m in check_middleware_security(None)} <= {"security.W020"}
