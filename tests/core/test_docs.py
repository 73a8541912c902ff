"""The interactive API docs: served locally, public, staff-only or off."""

import httpx
import pytest
from asgiref.sync import sync_to_async
from pytest_django import Settings

from tests import factories
from tests.helpers import log_in
from users.models import User

pytestmark = pytest.mark.django_db


async def test_docs_use_only_local_assets(anon: httpx.AsyncClient) -> None:
    """Swagger UI's scripts and styles come from this server, not a CDN."""
    response = await anon.get("/api/docs")

    assert response.status_code == 200
    assert "/static/ninja/swagger-ui-bundle.js" in response.text
    assert "cdn" not in response.text.lower()


async def test_docs_off(anon: httpx.AsyncClient, settings: Settings) -> None:
    """API_DOCS=off hides the docs and the schema."""
    settings.API_DOCS = "off"

    assert (await anon.get("/api/docs")).status_code == 404
    assert (await anon.get("/api/openapi.json")).status_code == 404


async def test_docs_staff_only(
    anon: httpx.AsyncClient, staff: User, settings: Settings
) -> None:
    """API_DOCS=staff sends others to the admin login and shows staff the docs."""
    settings.API_DOCS = "staff"

    refused = await anon.get("/api/docs")
    await sync_to_async(log_in)(anon, staff)
    allowed = await anon.get("/api/docs")

    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/login/?next=")
    assert allowed.status_code == 200


async def test_docs_send_the_csrf_token_for_sessions(anon: httpx.AsyncClient) -> None:
    """Swagger UI adds the CSRF token, so a logged-in staff member can write."""
    response = await anon.get("/api/docs")

    assert 'data-api-csrf="true"' in response.text


async def test_every_operation_documents_the_errors_around_it(
    anon: httpx.AsyncClient,
) -> None:
    """Body errors on every body, 401/429 behind auth, 503 wherever the
    database is; each as the shared Problem, in application/problem+json."""
    schema = (await anon.get("/api/openapi.json")).json()

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            assert ("503" in codes) == (path != "/api/health"), (method, path)
            if operation.get("security"):
                assert {"401", "429"} <= codes, (method, path)
            for code in codes - {"200", "201", "202", "204"}:
                content = operation["responses"][code]["content"]
                assert content == {
                    "application/problem+json": {
                        "schema": {"$ref": "#/components/schemas/Problem"}
                    }
                }, (method, path, code)


@pytest.mark.parametrize(
    ("who", "status"), [("staff", 200), ("ann", 302), ("wrong", 302)]
)
async def test_staff_bearer_token_reads_the_document_in_staff_mode(
    anon: httpx.AsyncClient,
    staff: User,
    ann: User,
    settings: Settings,
    who: str,
    status: int,
) -> None:
    """A pipeline generating its client with a staff token gets the document;
    a token of someone else, or no valid token, goes to the admin login (#17)."""
    settings.API_DOCS = "staff"
    tokens = {
        "staff": await sync_to_async(factories.token)(staff),
        "ann": await sync_to_async(factories.token)(ann),
        "wrong": "abc.def",
    }
    headers = {"Authorization": f"Bearer {tokens[who]}"}

    document = await anon.get("/api/openapi.json", headers=headers)
    docs = await anon.get("/api/docs", headers=headers)

    assert (document.status_code, docs.status_code) == (status, status)
    if status == 200:
        assert document.json()["openapi"].startswith("3.")
