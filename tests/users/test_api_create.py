import httpx
import pytest

from users.models import User

pytestmark = pytest.mark.django_db


async def test_create_returns_201_with_location(api: httpx.AsyncClient) -> None:
    """A new user comes back with its id and the URL to fetch it."""
    response = await api.post(
        "/api/users", json={"email": "carol@example.com", "name": "Carol", "age": 41}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "carol@example.com"
    assert (body["name"], body["age"]) == ("Carol", 41)
    assert response.headers["Location"] == f"/api/users/{body['id']}"
    assert set(body) == {
        "id", "email", "name", "age", "is_active", "is_staff", "created_at", "updated_at",
    }  # fmt: skip
    assert (body["is_active"], body["is_staff"]) == (True, False)
    user = await User.objects.aget(pk=body["id"])
    assert (user.email, user.name, user.age) == ("carol@example.com", "Carol", 41)
    assert not user.has_usable_password()


async def test_location_header_resolves(api: httpx.AsyncClient) -> None:
    """GET on the Location of a new user returns that user."""
    created = await api.post("/api/users", json={"email": "d@example.com", "name": "D"})

    fetched = await api.get(created.headers["Location"])

    assert fetched.status_code == 200
    assert fetched.json() == created.json()


async def test_age_is_optional(api: httpx.AsyncClient) -> None:
    """Without `age` the user is created with age null."""
    response = await api.post(
        "/api/users", json={"email": "e@example.com", "name": "E"}
    )

    assert response.status_code == 201
    assert response.json()["age"] is None


async def test_name_is_stripped(api: httpx.AsyncClient) -> None:
    """Surrounding white space is not part of the name."""
    response = await api.post(
        "/api/users", json={"email": "f@example.com", "name": "  Fay  "}
    )

    assert response.json()["name"] == "Fay"


async def test_email_domain_is_lowercased(api: httpx.AsyncClient) -> None:
    """The domain of an email is case-insensitive and stored lowercase."""
    response = await api.post(
        "/api/users", json={"email": "Gil@EXAMPLE.com", "name": "G"}
    )

    assert response.json()["email"] == "Gil@example.com"


async def test_duplicate_email_in_other_case_is_409(
    api: httpx.AsyncClient, ann: User
) -> None:
    """ANN@example.com is the same address as ann@example.com."""
    response = await api.post(
        "/api/users", json={"email": "ANN@example.com", "name": "Other Ann"}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert await User.objects.filter(is_staff=False).acount() == 1


async def test_exact_duplicate_email_is_409(api: httpx.AsyncClient, ann: User) -> None:
    """The same email twice is a conflict, and the first user is unchanged."""
    response = await api.post("/api/users", json={"email": ann.email, "name": "Twin"})

    assert response.status_code == 409
    await ann.arefresh_from_db()
    assert ann.name == "Ann"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "No Email"}, ["body", "email"]),
        ({"email": "h@example.com"}, ["body", "name"]),
        ({"email": "h@example.com", "name": ""}, ["body", "name"]),
        ({"email": "h@example.com", "name": "   "}, ["body", "name"]),
        ({"email": "h@example.com", "name": "x" * 151}, ["body", "name"]),
        ({"email": "not-an-email", "name": "H"}, ["body", "email"]),
        ({"email": "h@example.com", "name": "H", "age": -1}, ["body", "age"]),
        ({"email": "h@example.com", "name": "H", "age": 151}, ["body", "age"]),
        ({"email": "h@example.com", "name": "H", "age": "old"}, ["body", "age"]),
        # JSON's own types: a numeric string or a boolean is not an integer.
        ({"email": "h@example.com", "name": "H", "age": "30"}, ["body", "age"]),
        ({"email": "h@example.com", "name": "H", "age": True}, ["body", "age"]),
        ({"email": "h@example.com", "name": "H", "age": 30.5}, ["body", "age"]),
        ({"email": "h@example.com", "name": "H", "is_staff": 1}, ["body", "is_staff"]),
        (
            {"email": "h@example.com", "name": "H", "is_active": "no"},
            ["body", "is_active"],
        ),
        ({"email": "h@example.com", "name": None}, ["body", "name"]),
        (
            {"email": "h@example.com", "name": "H", "is_superuser": True},
            ["body", "is_superuser"],
        ),
        (
            {"email": "h@example.com", "name": "H", "password": "x"},
            ["body", "password"],
        ),
        ({"email": "h@example.com", "name": "H", "id": 7}, ["body", "id"]),
    ],
)
async def test_invalid_body_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], loc: list[str]
) -> None:
    """Each invalid or unknown field is reported at its place, and nothing is stored."""
    response = await api.post("/api/users", json=body)

    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "invalid"
    assert loc in [error["loc"] for error in payload["errors"]]
    assert await User.objects.filter(is_staff=False).acount() == 0


async def test_integer_with_zero_fraction_is_an_integer(
    api: httpx.AsyncClient,
) -> None:
    """`30.0` is an integer to JSON Schema, so the API takes it as 30."""
    response = await api.post(
        "/api/users", json={"email": "h@example.com", "name": "H", "age": 30.0}
    )

    assert response.status_code == 201, response.text
    assert response.json()["age"] == 30
