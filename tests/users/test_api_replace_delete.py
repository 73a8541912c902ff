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


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("DELETE", "/api/users/{me}", None),
        ("PATCH", "/api/users/{me}", {"is_active": False}),
        ("PATCH", "/api/users/{me}", {"is_staff": False}),
        ("PATCH", "/api/users/me", {"is_staff": False}),
        ("PUT", "/api/users/{me}", {"email": "{email}", "name": "S", "is_active": False}),
    ],
)  # fmt: skip
async def test_staff_cannot_lock_themselves_out(
    api: httpx.AsyncClient,
    staff: User,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    """Deleting, deactivating or demoting yourself is 403, and nothing changes:
    the API would end your own access, and the last staff member's for all."""
    name = staff.name
    if body is not None and body.get("email") == "{email}":
        body = {**body, "email": staff.email}
    response = await api.request(method, path.format(me=staff.pk), json=body)

    assert response.status_code == 403, response.text
    assert "yourself" in response.json()["detail"]
    await staff.arefresh_from_db()
    assert (staff.is_active, staff.is_staff, staff.name) == (True, True, name)
    assert (await api.get("/api/users/me")).status_code == 200


async def test_staff_can_deactivate_another_staff_member(
    api: httpx.AsyncClient, bob: User
) -> None:
    """The refusal is about yourself only."""
    await User.objects.filter(pk=bob.pk).aupdate(is_staff=True)

    response = await api.patch(
        f"/api/users/{bob.pk}", json={"is_active": False, "is_staff": False}
    )

    assert response.status_code == 200, response.text
    assert (response.json()["is_active"], response.json()["is_staff"]) == (False, False)
