"""Concurrent requests, each on its own connection with real commits.

Marked `asyncio` with `tx_db`: without both, requests run one at a time in the
test's transaction and no race can happen (see tests/conftest.py).
"""

import asyncio

import httpx
import psycopg
import pytest

from core.db.calls import libpq_params
from tests import factories
from users.models import User


@pytest.mark.asyncio
async def test_concurrent_patches_of_different_fields_both_survive(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """Two PATCHes racing on one user, one per field, lose neither change."""
    for round_ in range(5):
        user = await factories.auser(email=f"r{round_}@example.com", name="n0", age=1)

        renamed, aged = await asyncio.gather(
            api.patch(f"/api/users/{user.pk}", json={"name": "n1"}),
            api.patch(f"/api/users/{user.pk}", json={"age": 2}),
        )

        assert (renamed.status_code, aged.status_code) == (200, 200)
        await user.arefresh_from_db()
        assert (user.name, user.age) == ("n1", 2)


@pytest.mark.asyncio
async def test_concurrent_duplicate_creates_give_one_201_and_409s(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """Racing creates of one email, in different cases: one wins, the rest get 409."""
    emails = [
        "dup@example.com",
        "DUP@example.com",
        "Dup@example.com",
        "dup@example.com",
    ]

    responses = await asyncio.gather(
        *(api.post("/api/users", json={"email": e, "name": "D"}) for e in emails)
    )

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert await User.objects.filter(email__iexact="dup@example.com").acount() == 1


@pytest.mark.asyncio
@pytest.mark.requires("postgresql")  # row locks; SQLite serialises whole transactions
async def test_patches_held_behind_a_row_lock_both_survive(
    api: httpx.AsyncClient, tx_db: None
) -> None:
    """Two PATCHes that both read the row before either writes keep both changes.

    Another session holds the row lock, so both requests have read the user
    and wait to write: a service that saved the whole row would lose one.
    """
    user = await factories.auser(email="lock@example.com", name="n0", age=1)
    async with await psycopg.AsyncConnection.connect(**libpq_params()) as locker:
        await locker.execute(
            "SELECT id FROM users_user WHERE id = %s FOR UPDATE", [user.pk]
        )
        patches = asyncio.gather(
            api.patch(f"/api/users/{user.pk}", json={"name": "n1"}),
            api.patch(f"/api/users/{user.pk}", json={"age": 2}),
        )
        await asyncio.sleep(0.5)  # both requests are now blocked on the lock
        await locker.commit()
        renamed, aged = await patches

    assert (renamed.status_code, aged.status_code) == (200, 200)
    await user.arefresh_from_db()
    assert (user.name, user.age) == ("n1", 2)
