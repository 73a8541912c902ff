"""API tokens: issue, authenticate, revoke. Writes and reads of ApiToken."""

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from core.db.statements import columns
from users.models import ApiToken, User
from users.token_cache import verified

# Refreshing last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(
    *, user: User, name: str = "", expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it and the raw token, shown only now."""
    prefix = secrets.token_hex(6)
    raw = f"{prefix}.{secrets.token_urlsafe(32)}"  # 256 random bits
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        digest=_digest(raw),
        expires_at=timezone.now() + expires_in if expires_in else None,
    )
    return token, raw


@functools.cache
def _token_sql(alias: str) -> str:
    """The SELECT that `select_related("user").get(prefix=...)` runs, written once.

    Every request authenticates, and the ORM builds and compiles this join
    anew each time: about 0.5 ms of CPU per request, the largest single cost
    of a point GET (measured in #6). See core/db/statements.py.
    """
    token, user = columns(ApiToken, alias), columns(User, alias)
    return (
        f"SELECT {token.select}, {user.select} FROM {token.table}"
        f" INNER JOIN {user.table} ON ({token.column('user')} = {user.column('pk')})"
        f" WHERE {token.column('prefix')} = %s"
    )


def _token_row(prefix: str) -> tuple[str, tuple[Any, ...]] | None:
    """The database alias and the joined row of the token with this prefix."""
    alias = router.db_for_read(ApiToken)
    with connections[alias].cursor() as cursor:
        cursor.execute(_token_sql(alias), [prefix])
        row = cursor.fetchone()
    return None if row is None else (alias, tuple(row))


def _token(alias: str, row: tuple[Any, ...]) -> ApiToken:
    """A new ApiToken instance, its user loaded, made of a joined row."""
    token_columns = columns(ApiToken, alias)
    split = len(token_columns.attnames)
    token = token_columns.instance(row[:split])
    token.user = columns(User, alias).instance(row[split:])
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """Return the usable token `raw` names, or None (unknown, expired, revoked)."""
    prefix, dot, _ = raw.partition(".")
    if not dot or len(raw) > 128:
        return None
    read_in = verified.generation
    found = _token_row(prefix)
    if found is None:
        return None
    token = _token(*found)
    digest = _digest(raw)
    # compare_digest: the time taken says nothing about how much matched.
    if not hmac.compare_digest(token.digest, digest):
        return None
    now = timezone.now()
    if not token.is_usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    verified.put(digest, *found, read_in=read_in)
    return token


def token_verified(raw: str) -> ApiToken | None:
    """Return the token `raw` names if this process verified it less than
    API_TOKEN_CACHE_SECONDS ago and it has not expired since; else None (look
    it up with token_authenticate). Needs no database: safe on the event loop."""
    if len(raw) > 128 or settings.API_TOKEN_CACHE_SECONDS <= 0:
        return None
    found = verified.get(_digest(raw))
    if found is None:
        return None
    token = _token(*found)
    return token if token.is_usable(timezone.now()) else None


def forget_verified() -> None:
    """Look every token up again from now on, in this process.

    Called, inside its transaction, by every write here that can stop a
    token: a revocation, a user deactivated, demoted or deleted. It forgets
    at once, and again once the transaction commits: until then a request on
    another thread still reads the old row, and may have cached it. Other
    processes hear of it from PostgreSQL once it commits
    (users/token_changes.py).
    """
    verified.clear()
    transaction.on_commit(verified.clear, using=router.db_for_write(ApiToken))


async def token_revoke(*, token: ApiToken) -> None:
    """Revoke a token from now on."""
    await ApiToken.objects.filter(pk=token.pk, revoked_at=None).aupdate(
        revoked_at=timezone.now()
    )
    verified.clear()  # the UPDATE has committed (autocommit): no on_commit here
