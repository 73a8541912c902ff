import re

import httpx
import pytest
from django.core.serializers.json import DjangoJSONEncoder

from tests import factories
from users.models import User

pytestmark = pytest.mark.django_db


async def test_get_returns_the_user(api: httpx.AsyncClient, ann: User) -> None:
    """A user is shown with its fields, never its password."""
    response = await api.get(f"/api/users/{ann.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == ann.pk
    assert (body["email"], body["name"], body["age"]) == ("ann@example.com", "Ann", 30)
    assert "password" not in body


async def test_timestamps_are_utc_with_milliseconds(
    api: httpx.AsyncClient, ann: User
) -> None:
    """`created_at` and `updated_at` are written as Django's JSON encoder writes
    them: ISO 8601, milliseconds, `Z`; in a page as for one user."""
    expected = DjangoJSONEncoder().default(ann.created_at)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", expected)

    one = (await api.get(f"/api/users/{ann.pk}")).json()
    page = (await api.get("/api/users", params={"email": ann.email})).json()

    assert one["created_at"] == page["items"][0]["created_at"] == expected
    assert one["updated_at"] == DjangoJSONEncoder().default(ann.updated_at)


async def test_get_missing_user_is_404_json(api: httpx.AsyncClient, db: None) -> None:
    """An unknown id is a 404 in the API's error shape."""
    response = await api.get("/api/users/424242")

    assert response.status_code == 404
    assert response.json() == {
        "type": "tag:ninja-service,2026:problem:user_not_found",
        "title": "Not Found",
        "status": 404,
        "detail": "No user with this id.",
        "code": "user_not_found",
        "errors": None,
    }


@pytest.mark.parametrize("user_id", ["abc", "1.5", str(2**70), "-1"])
async def test_unusable_id_is_a_4xx(
    api: httpx.AsyncClient, db: None, user_id: str
) -> None:
    """An id that cannot name a user is a client error, never a 500."""
    response = await api.get(f"/api/users/{user_id}")

    assert response.status_code in (404, 422)
    assert "code" in response.json()


async def test_list_is_paginated(api: httpx.AsyncClient, db: None) -> None:
    """`limit` and `offset` select a page; `count` is the total."""
    for i in range(5):
        await factories.auser(email=f"u{i}@example.com", name=f"User {i}")

    response = await api.get(
        "/api/users", params={"search": "User", "limit": 2, "offset": 2}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert [u["email"] for u in body["items"]] == ["u2@example.com", "u3@example.com"]


async def test_list_page_size_is_bounded(api: httpx.AsyncClient, db: None) -> None:
    """A page larger than the maximum is refused, not served."""
    response = await api.get("/api/users", params={"limit": 10_000})

    assert response.status_code == 422
    assert ["query", "limit"] in [e["loc"] for e in response.json()["errors"]]


async def test_filter_by_email_ignores_case(
    api: httpx.AsyncClient, ann: User, bob: User
) -> None:
    """`email` matches the whole address in any case."""
    response = await api.get("/api/users", params={"email": "ANN@example.com"})

    assert [u["id"] for u in response.json()["items"]] == [ann.pk]


async def test_search_matches_part_of_the_name(
    api: httpx.AsyncClient, db: None
) -> None:
    """`search` finds names containing the text, in any case."""
    await factories.auser(email="a@example.com", name="Maria Lopez")
    await factories.auser(email="b@example.com", name="Marius")
    await factories.auser(email="c@example.com", name="Ann")

    response = await api.get("/api/users", params={"search": "MAR"})

    assert sorted(u["name"] for u in response.json()["items"]) == [
        "Maria Lopez",
        "Marius",
    ]


async def test_filter_by_age_range(api: httpx.AsyncClient, db: None) -> None:
    """`age_min` and `age_max` are inclusive; users without an age are left out."""
    for age in (10, 20, 30, 40, None):
        await factories.auser(email=f"{age}@example.com", name="N", age=age)

    response = await api.get("/api/users", params={"age_min": 20, "age_max": 30})

    assert [u["age"] for u in response.json()["items"]] == [20, 30]


async def test_ordering_by_whitelisted_field(api: httpx.AsyncClient, db: None) -> None:
    """`ordering=-age` sorts by age, oldest first, users without an age last."""
    for age in (25, None, 65, 45):
        await factories.auser(email=f"{age}@example.com", name="N", age=age)

    response = await api.get("/api/users", params={"search": "N", "ordering": "-age"})

    assert [u["age"] for u in response.json()["items"]] == [65, 45, 25, None]


@pytest.mark.parametrize("ordering", ["password", "is_staff", "id;drop"])
async def test_ordering_outside_whitelist_is_422(
    api: httpx.AsyncClient, db: None, ordering: str
) -> None:
    """Only the listed fields can order the list."""
    response = await api.get("/api/users", params={"ordering": ordering})

    assert response.status_code == 422
    assert ["query", "ordering"] in [e["loc"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"search": "a\x00b"}, "search"),
        ({"email": "a\x00@example.com"}, "email"),
        ({"age_min": 2**40}, "age_min"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**63}, "offset"),  # beyond PostgreSQL's bigint OFFSET
    ],
)
async def test_bad_query_parameter_is_422(
    api: httpx.AsyncClient, db: None, params: dict[str, str | int], field: str
) -> None:
    """Query values the database could not take are refused up front."""
    response = await api.get("/api/users", params=params)

    assert response.status_code == 422
    assert ["query", field] in [e["loc"] for e in response.json()["errors"]]
