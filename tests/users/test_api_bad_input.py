"""Input that an unguarded API turns into a 500."""

import httpx
import pytest

from users.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"email": "a@example.com", "name": "A"', b"\xff\xfe", b"[1, 2"],
)
async def test_malformed_json_is_400(
    api: httpx.AsyncClient, db: None, body: bytes
) -> None:
    """A body that does not parse is a 400 in the API's error shape."""
    response = await api.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
async def test_json_that_is_not_an_object_is_4xx(
    api: httpx.AsyncClient, db: None, body: bytes
) -> None:
    """Valid JSON of the wrong type is refused, not crashed on."""
    response = await api.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code in (400, 422)
    assert "code" in response.json()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"email": "a@example.com", "name": "A\\u0000B"}', "name"),
        (b'{"email": "a\\u0000@example.com", "name": "A"}', "email"),
        (b'{"email": "a@example.com", "name": "\\ud800"}', "name"),
        (b'{"email": "a@example.com", "name": "x\\udfffy"}', "name"),
        (
            b'{"email": "a@example.com", "name": "A", "age": 99999999999999999999}',
            "age",
        ),
        (b'{"email": "a@example.com", "name": "A", "age": 1e400}', "age"),
        (b'{"email": "a@example.com", "name": "A", "age": 32768}', "age"),
    ],
)
async def test_values_postgres_would_reject_are_422(
    api: httpx.AsyncClient, db: None, raw: bytes, field: str
) -> None:
    """NUL, lone surrogates and out-of-range numbers never reach the database."""
    response = await api.post(
        "/api/users", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert ["body", field] in [e["loc"] for e in response.json()["errors"]]
    assert await User.objects.filter(is_staff=False).acount() == 0


async def test_surrogate_in_unknown_key_is_422(
    api: httpx.AsyncClient, db: None
) -> None:
    """Even a bad key name gets a JSON answer that can be encoded."""
    response = await api.post(
        "/api/users",
        content=b'{"email": "a@example.com", "name": "A", "\\ud800": 1}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


async def test_nul_in_patch_is_422(api: httpx.AsyncClient, ann: User) -> None:
    """PATCH guards its fields as POST does."""
    response = await api.patch(
        f"/api/users/{ann.pk}",
        content=b'{"name": "A\\u0000"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    await ann.arefresh_from_db()
    assert ann.name == "Ann"


async def test_unknown_api_url_is_json_404(api: httpx.AsyncClient, db: None) -> None:
    """A URL no route matches answers in the API's error shape."""
    response = await api.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_health_answers_without_database(anon: httpx.AsyncClient) -> None:
    """The liveness endpoint needs no database access (no db fixture here)."""
    response = await anon.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("depth", [33, 5000])
async def test_deeply_nested_body_is_422(api: httpx.AsyncClient, depth: int) -> None:
    """JSON nested beyond 32 levels is refused, however deep it goes."""
    body = (
        b'{"email": "a@example.com", "name": "A", "x": '
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )

    response = await api.post(
        "/api/users", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["code"] == "too_deep"


@pytest.mark.parametrize(
    ("url", "send"),
    [
        ("/api/users", {"data": {"email": "a@example.com", "name": "A"}}),
        ("/api/users", {"files": {"name": ("n.txt", b"A")}}),
        (
            "/api/users",
            {
                "content": b'{"email": "a@example.com", "name": "A"}',
                "headers": {"Content-Type": "text/plain"},
            },
        ),
        ("/api/utilities/slugify", {"data": {"text": "Hello"}}),
    ],
    ids=["form", "multipart", "json-as-text", "utility-form"],
)
async def test_body_that_is_not_json_is_415(
    api: httpx.AsyncClient, url: str, send: dict[str, object]
) -> None:
    """Form, multipart or text bodies are refused, not parsed as JSON or as a form."""
    response = await api.post(url, **send)  # type: ignore[arg-type]

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not await User.objects.filter(email="a@example.com").aexists()


async def test_json_media_type_with_charset_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/users",
        content=b'{"email": "a@example.com", "name": "A"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201
