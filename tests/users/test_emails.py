"""Lookalike email addresses: one spelling per address (users/emails.py)."""

import httpx
import pytest

from users import emails
from users.models import User

FULLWIDTH_ANN = "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (FULLWIDTH_ANN, "ann@example.com"),
        ("Ann@EXAMPLE.com", "Ann@example.com"),
        ("  ann@ｅxample.com ", "ann@example.com"),
        ("ann@пример.рф", "ann@пример.рф"),
    ],
)
def test_canonical_folds_compatibility_forms_and_domain_case(
    given: str, expected: str
) -> None:
    assert emails.canonical(given) == expected


@pytest.mark.parametrize(
    ("email", "part"),
    [
        ("ann@exаmple.com", "exаmple"),  # Cyrillic а
        ("аnn@example.com", "аnn"),
        ("ann@example.cοm", "cοm"),  # Greek ο
        ("ann@example.com", None),
        ("ann@пример.рф", None),
        ("ann.b-2@mail.example.co.uk", None),
    ],
)
def test_mixed_script_part(email: str, part: str | None) -> None:
    assert emails.mixed_script_part(email) == part


async def test_fullwidth_spelling_of_a_taken_address_is_409(
    api: httpx.AsyncClient, ann: User
) -> None:
    """`ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ` is ann@example.com: taken, not a second account."""
    response = await api.post(
        "/api/users", json={"email": FULLWIDTH_ANN, "name": "Ann 2"}
    )

    assert response.status_code == 409
    assert await User.objects.filter(name="Ann 2").acount() == 0


async def test_fullwidth_address_is_stored_plain(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/api/users", json={"email": "ｚｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "name": "Zoe"}
    )

    assert response.status_code == 201
    assert response.json()["email"] == "zoe@example.com"


@pytest.mark.parametrize("email", ["ann@exаmple.com", "аnn@example.com"])
async def test_mixed_script_address_is_422(api: httpx.AsyncClient, email: str) -> None:
    """A Cyrillic letter among Latin ones imitates another address: refused."""
    response = await api.post("/api/users", json={"email": email, "name": "Mallory"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "email"]
    assert await User.objects.filter(name="Mallory").acount() == 0


async def test_patch_to_a_fullwidth_spelling_of_a_taken_address_is_409(
    api: httpx.AsyncClient, ann: User, bob: User
) -> None:
    response = await api.patch(f"/api/users/{bob.pk}", json={"email": FULLWIDTH_ANN})

    assert response.status_code == 409
    await bob.arefresh_from_db()
    assert bob.email == "bob@example.com"
