from datetime import datetime

import httpx
import pytest

from users.models import User

pytestmark = pytest.mark.django_db


async def test_omitted_field_keeps_its_value(api: httpx.AsyncClient, ann: User) -> None:
    """Only `age` is sent, so `name` and `email` stay as they were."""
    response = await api.patch(f"/api/users/{ann.pk}", json={"age": 31})

    assert response.status_code == 200
    assert response.json()["age"] == 31
    await ann.arefresh_from_db()
    assert (ann.email, ann.name, ann.age) == ("ann@example.com", "Ann", 31)


async def test_null_clears_nullable_age(api: httpx.AsyncClient, ann: User) -> None:
    """An explicit null empties `age`."""
    response = await api.patch(f"/api/users/{ann.pk}", json={"age": None})

    assert response.status_code == 200
    await ann.arefresh_from_db()
    assert ann.age is None
    assert ann.name == "Ann"


@pytest.mark.parametrize("field", ["name", "email"])
async def test_null_on_required_field_is_422(
    api: httpx.AsyncClient, ann: User, field: str
) -> None:
    """`name` and `email` cannot be cleared, and the user is unchanged."""
    response = await api.patch(f"/api/users/{ann.pk}", json={field: None})

    assert response.status_code == 422
    assert ["body", field] in [e["loc"] for e in response.json()["errors"]]
    await ann.arefresh_from_db()
    assert (ann.email, ann.name) == ("ann@example.com", "Ann")


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "created_at",
        "updated_at",
        "password",
        "is_superuser",
        "last_login",
        "nmae",
    ],
)
async def test_unknown_or_read_only_field_is_422(
    api: httpx.AsyncClient, ann: User, field: str
) -> None:
    """A field the client may not set is named in the error, not silently dropped."""
    response = await api.patch(f"/api/users/{ann.pk}", json={"name": "Anna", field: 1})

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", field]]
    assert errors[0]["type"] == "extra_forbidden"
    await ann.arefresh_from_db()
    assert ann.name == "Ann"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": " \t "}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"email": "nope"}, "email"),
        ({"age": 151}, "age"),
        ({"age": -5}, "age"),
    ],
)
async def test_sent_fields_are_validated_as_on_create(
    api: httpx.AsyncClient, ann: User, body: dict[str, object], field: str
) -> None:
    """PATCH applies the create rules to every field it is sent."""
    response = await api.patch(f"/api/users/{ann.pk}", json=body)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", field]]


async def test_empty_body_changes_nothing(api: httpx.AsyncClient, ann: User) -> None:
    """`{}` returns the user as it is, without touching `updated_at`."""
    before = ann.updated_at

    response = await api.patch(f"/api/users/{ann.pk}", json={})

    assert response.status_code == 200
    # JSON carries milliseconds (ECMA-262 dates), the column microseconds.
    shown = datetime.fromisoformat(response.json()["updated_at"])
    assert shown == before.replace(microsecond=before.microsecond // 1000 * 1000)
    await ann.arefresh_from_db()
    assert (ann.name, ann.age, ann.updated_at) == ("Ann", 30, before)


async def test_patch_moves_updated_at(api: httpx.AsyncClient, ann: User) -> None:
    """A real change advances `updated_at` and keeps `created_at`."""
    before_created, before_updated = ann.created_at, ann.updated_at

    await api.patch(f"/api/users/{ann.pk}", json={"name": "Anna"})

    await ann.arefresh_from_db()
    assert ann.updated_at > before_updated
    assert ann.created_at == before_created


async def test_email_taken_by_another_user_is_409(
    api: httpx.AsyncClient, ann: User, bob: User
) -> None:
    """Changing to another user's email, in any case, is a conflict."""
    response = await api.patch(
        f"/api/users/{bob.pk}", json={"email": "Ann@Example.com"}
    )

    assert response.status_code == 409
    await bob.arefresh_from_db()
    assert bob.email == "bob@example.com"


async def test_own_email_in_other_case_is_allowed(
    api: httpx.AsyncClient, ann: User
) -> None:
    """A user may change the case of their own email."""
    response = await api.patch(
        f"/api/users/{ann.pk}", json={"email": "ANN@example.com"}
    )

    assert response.status_code == 200
    assert response.json()["email"] == "ANN@example.com"


async def test_patch_of_missing_user_is_404(api: httpx.AsyncClient, db: None) -> None:
    """A PATCH of an id that does not exist creates nothing."""
    response = await api.patch("/api/users/999999", json={"name": "Ghost"})

    assert response.status_code == 404
    assert response.json()["code"] == "user_not_found"
    assert await User.objects.filter(is_staff=False).acount() == 0


async def test_empty_patch_of_missing_user_is_404(
    api: httpx.AsyncClient, db: None
) -> None:
    """An empty PATCH still says the user does not exist."""
    response = await api.patch("/api/users/999999", json={})

    assert response.status_code == 404
