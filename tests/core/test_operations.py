"""Probes for the platform: liveness (/api/health) and readiness (/api/ready)."""

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from core import readiness
from tests.helpers import client


async def test_health_answers_get_and_head(anon: httpx.AsyncClient) -> None:
    """Liveness, for probes that send either method."""
    get = await anon.get("/api/health")
    head = await anon.head("/api/health")

    assert get.status_code == 200
    assert get.json() == {"status": "ok"}
    assert head.status_code == 200


@pytest.mark.django_db
async def test_ready_when_the_database_answers_and_is_migrated(
    anon: httpx.AsyncClient,
) -> None:
    response = await anon.get("/api/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "cache": "local"}


@pytest.mark.django_db(transaction=True)
def test_not_ready_while_migrations_are_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """503 with the reason, until `migrate` has run; then ready again."""
    monkeypatch.setattr(readiness, "_migrated", False)
    call_command("migrate", "utilities", "zero", verbosity=0)
    try:
        response = async_to_sync(client().get)("/api/ready")
    finally:
        call_command("migrate", verbosity=0)
    again = async_to_sync(client().get)("/api/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready"
    assert "migrate" in body["detail"]
    assert response.headers["Retry-After"].isdigit()
    assert again.status_code == 200
