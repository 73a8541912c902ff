"""Tokens verified moments ago are trusted without a lookup, for a bounded
time, where API_TOKEN_CACHE_SECONDS turns that on; by default, never.

A change made by another server process is played here by an UPDATE that
bypasses this process's services, which is what this process sees of it.
"""

from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone
from pytest_django import Settings

from tests import factories
from tests.helpers import client, token_call
from users import tokens
from users.models import ApiToken, User
from users.token_cache import changes, verified

pytestmark = pytest.mark.django_db


async def test_a_token_verified_moments_ago_is_not_looked_up(
    ann: User, cached_tokens: list[float], lookups: list[str]
) -> None:
    """The first call looks the token up; the next, within the cache's
    lifetime, makes no trip to the database for it."""
    raw = await sync_to_async(factories.token)(ann)

    first = await token_call(raw)
    cached_tokens[0] += 1.9
    second = await token_call(raw)

    assert (first, second) == (200, 200)
    assert lookups == [raw.split(".")[0]]


async def test_a_change_elsewhere_is_seen_once_the_entry_is_too_old(
    ann: User, cached_tokens: list[float], settings: Settings
) -> None:
    """A revocation this process hears nothing of (on a database without
    notices; here, one not yet committed) is trusted for at most
    API_TOKEN_CACHE_SECONDS more, then refused. On PostgreSQL a committed
    one is heard at once (test_token_changes.py)."""
    settings.API_TOKEN_CACHE_SECONDS = 2
    raw = await sync_to_async(factories.token)(ann)
    assert await token_call(raw) == 200

    await ApiToken.objects.filter(user=ann).aupdate(revoked_at=timezone.now())
    cached_tokens[0] += 1.9
    within = await token_call(raw)
    cached_tokens[0] += 0.1
    after = await token_call(raw)

    assert (within, after) == (200, 401)


async def test_by_default_every_request_looks_its_token_up(
    ann: User, lookups: list[str]
) -> None:
    """Unless an operator turns the cache on, a revocation made anywhere
    holds at once (#5)."""
    raw = await sync_to_async(factories.token)(ann)
    assert await token_call(raw) == 200

    await ApiToken.objects.filter(user=ann).aupdate(revoked_at=timezone.now())

    assert await token_call(raw) == 401
    assert len(lookups) == 2


async def test_a_token_expires_on_time_even_when_verified_moments_ago(
    ann: User, cached_tokens: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Expiry is checked on every request, not only on a lookup."""
    token, raw = await sync_to_async(tokens.token_issue)(
        user=ann, expires_in=timedelta(minutes=5)
    )
    assert await token_call(raw) == 200
    assert token.expires_at is not None

    after_expiry = token.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(
        "users.tokens.timezone", SimpleNamespace(now=lambda: after_expiry)
    )

    assert await token_call(raw) == 401


async def test_staff_deactivating_a_user_stops_their_token_at_once(
    api: httpx.AsyncClient, ann: User, cached_tokens: list[float]
) -> None:
    """A PATCH of is_active through this process forgets what it verified."""
    raw = await sync_to_async(factories.token)(ann)
    assert await token_call(raw) == 200

    patched = await api.patch(f"/api/users/{ann.pk}", json={"is_active": False})

    assert patched.status_code == 200
    assert await token_call(raw) == 401


async def test_revoking_the_current_token_stops_it_at_once(
    ann: User, cached_tokens: list[float], lookups: list[str]
) -> None:
    """DELETE /api/auth/tokens/current forgets what this process verified:
    the next call with the token is refused, though its entry is fresh. (The
    revocation is not committed here, so no PostgreSQL notice forgets it: the
    revoke itself must. The cache must be in use first: on PostgreSQL only
    once the process listens, which `cached_tokens` waits for.)"""
    raw = await sync_to_async(factories.token)(ann)
    assert (await token_call(raw), await token_call(raw)) == (200, 200)
    assert len(lookups) == 1  # the second call was answered from the cache

    revoked = await client(raw).delete("/api/auth/tokens/current")

    assert revoked.status_code == 204
    assert await token_call(raw) == 401


async def test_a_profile_change_keeps_tokens_verified(
    ann: User, cached_tokens: list[float], lookups: list[str]
) -> None:
    """Changing one's name does not cost every client a lookup."""
    raw = await sync_to_async(factories.token)(ann)
    assert await token_call(raw) == 200

    patched = await client(raw).patch("/api/users/me", json={"name": "Ann B."})

    assert patched.status_code == 200
    assert await token_call(raw) == 200
    assert len(lookups) == 1


async def test_a_failed_guess_is_not_remembered(
    ann: User, cached_tokens: list[float], lookups: list[str]
) -> None:
    """Only a token that passed the lookup is kept: a wrong secret for a real
    prefix is looked up, and refused, every time."""
    raw = await sync_to_async(factories.token)(ann)
    wrong = raw.split(".")[0] + "." + "A" * 43

    statuses = [await token_call(wrong), await token_call(wrong)]

    assert statuses == [401, 401]
    assert len(lookups) == 2


def test_each_request_gets_its_own_user(ann: User, cached_tokens: list[float]) -> None:
    """The cache holds rows: a request that changes its user object does not
    change what the next request sees."""
    raw = factories.token(ann)
    assert tokens.token_authenticate(raw) is not None

    first = tokens.token_verified(raw)
    assert first is not None
    first.user.is_staff = True
    second = tokens.token_verified(raw)

    assert second is not None
    assert second.user is not first.user
    assert second.user.is_staff is False


def test_a_row_read_before_a_revocation_is_not_kept(
    ann: User, cached_tokens: list[float]
) -> None:
    """A lookup that read the row before this process revoked the token (a
    concurrent request) must not put it back in the cache."""
    raw = factories.token(ann)
    read_in = verified.generation
    found = tokens._token_row(raw.split(".")[0])
    assert found is not None

    tokens.forget_verified()  # as token_revoke() does once it has written
    verified.put(tokens._digest(raw), *found, read_in=read_in)

    assert tokens.token_verified(raw) is None


def test_a_row_read_while_a_stop_commits_is_forgotten_at_commit(
    transactional_db: None,
    cached_tokens: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write forgets at once and again at its commit: a request on another
    thread that read the old row in between (it was still committed) and
    cached it cannot keep the stopped token alive. (The PostgreSQL notice of
    the commit would forget it too: it is kept out of this test, which is
    about the commit hook, what a database without notices relies on.)"""
    changes.stop()
    monkeypatch.setattr("users.token_cache.usable", lambda: True)
    ann = factories.user(email="ann@example.com", name="Ann")
    raw = factories.token(ann)
    old_row = tokens._token_row(raw.split(".")[0])
    assert old_row is not None

    with transaction.atomic():
        ApiToken.objects.filter(user=ann).update(revoked_at=timezone.now())
        tokens.forget_verified()
        # The other thread's lookup, before the commit.
        verified.put(tokens._digest(raw), *old_row, read_in=verified.generation)
        assert tokens.token_verified(raw) is not None

    assert tokens.token_verified(raw) is None
