import httpx
import pytest

from users.models import User

pytestmark = pytest.mark.django_db


async def test_put_replaces_every_writable_field(
    api: httpx.AsyncClient, ann: User
) -> None:
    """PUT sets each field to the body's value."""
    response = await api.put(
        f"/api/users/{ann.pk}",
        json={"email": "anna@example.com", "name": "Anna", "age": 33},
    )

    assert response.status_code == 200
    await ann.arefresh_from_db()
    assert (ann.email, ann.name, ann.age) == ("anna@example.com", "Anna", 33)


async def test_put_without_age_clears_it(api: httpx.AsyncClient, ann: User) -> None:
    """A replacement that leaves out the optional `age` sets it to null."""
    response = await api.put(
        f"/api/users/{ann.pk}", json={"email": "ann@example.com", "name": "Ann"}
    )

    assert response.status_code == 200
    await ann.arefresh_from_db()
    assert ann.age is None


@pytest.mark.parametrize("missing", ["email", "name"])
async def test_put_missing_required_field_is_422(
    api: httpx.AsyncClient, ann: User, missing: str
) -> None:
    """PUT is a full replacement: a required field may not be left out."""
    body = {"email": "ann@example.com", "name": "Ann", "age": 1}
    del body[missing]

    response = await api.put(f"/api/users/{ann.pk}", json=body)

    assert response.status_code == 422
    assert ["body", missing] in [e["loc"] for e in response.json()["errors"]]
    await ann.arefresh_from_db()
    assert ann.age == 30


async def test_put_of_missing_user_is_404(api: httpx.AsyncClient, db: None) -> None:
    """PUT does not create users."""
    response = await api.put(
        "/api/users/5555", json={"email": "x@example.com", "name": "X"}
    )

    assert response.status_code == 404
    assert await User.objects.filter(is_staff=False).acount() == 0


async def test_put_to_taken_email_is_409(
    api: httpx.AsyncClient, ann: User, bob: User
) -> None:
    """PUT cannot take another user's email."""
    response = await api.put(
        f"/api/users/{bob.pk}", json={"email": "ann@EXAMPLE.com", "name": "Bob"}
    )

    assert response.status_code == 409


async def test_delete_removes_the_user(api: httpx.AsyncClient, ann: User) -> None:
    """DELETE answers 204 with no body, and the user is gone."""
    response = await api.delete(f"/api/users/{ann.pk}")

    assert response.status_code == 204
    assert response.content == b""
    assert not await User.objects.filter(pk=ann.pk).aexists()


async def test_delete_missing_user_is_404(api: httpx.AsyncClient, ann: User) -> None:
    """Deleting an unknown id is a 404 and deletes nothing."""
    response = await api.delete(f"/api/users/{ann.pk + 1000}")

    assert response.status_code == 404
    assert await User.objects.filter(is_staff=False).acount() == 1
