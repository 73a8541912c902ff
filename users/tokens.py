"""API tokens: issue, authenticate, revoke. Writes and reads of ApiToken."""

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.expressions import Col
from django.utils import timezone

from users.models import ApiToken, User

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


@dataclass(frozen=True)
class _TokenQuery:
    sql: str
    token_attnames: Sequence[str]
    user_attnames: Sequence[str]
    converters: Sequence[tuple[int, Col, Sequence[Callable[..., Any]]]]


@functools.cache
def _token_query(alias: str) -> _TokenQuery:
    """The SELECT that `select_related("user").get(prefix=...)` runs, built once.

    Every request authenticates, and the ORM builds and compiles this join
    anew each time: about 0.5 ms of CPU per request, the largest single cost
    of a point GET (measured in #6). The statement is the ORM's own, written
    from the models' metadata; rows get the converters the ORM would apply.
    """
    connection = connections[alias]
    qn = connection.ops.quote_name

    def column(model: type[Model], field: Field[Any, Any]) -> str:
        return f"{qn(model._meta.db_table)}.{qn(str(field.column))}"

    token_fields, user_fields = (
        ApiToken._meta.concrete_fields,
        User._meta.concrete_fields,
    )
    columns = [column(ApiToken, f) for f in token_fields]
    columns += [column(User, f) for f in user_fields]
    user_fk = ApiToken._meta.get_field("user")
    prefix = ApiToken._meta.get_field("prefix")
    sql = (
        f"SELECT {', '.join(columns)} FROM {qn(ApiToken._meta.db_table)}"
        f" INNER JOIN {qn(User._meta.db_table)}"
        f" ON ({column(ApiToken, user_fk)} = {column(User, User._meta.get_field('id'))})"
        f" WHERE {column(ApiToken, prefix)} = %s"
    )
    converters = []
    for index, field in enumerate([*token_fields, *user_fields]):
        model = ApiToken if index < len(token_fields) else User
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(
            connection
        )
        if found:
            converters.append((index, col, found))
    return _TokenQuery(
        sql,
        [f.attname for f in token_fields],
        [f.attname for f in user_fields],
        converters,
    )


def _find_token(prefix: str) -> ApiToken | None:
    """Return the token with this prefix, its user loaded, or None."""
    alias = router.db_for_read(ApiToken)
    query = _token_query(alias)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(query.sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, col, converters in query.converters:
        for convert in converters:
            values[index] = convert(values[index], col, connection)
    split = len(query.token_attnames)
    token = ApiToken.from_db(alias, query.token_attnames, values[:split])
    token.user = User.from_db(alias, query.user_attnames, values[split:])
    return token


def token_authenticate(raw: str) -> ApiToken | None:
    """Return the usable token `raw` names, or None (unknown, expired, revoked)."""
    prefix, dot, _ = raw.partition(".")
    if not dot or len(raw) > 128:
        return None
    token = _find_token(prefix)
    if token is None:
        return None
    # compare_digest: the time taken says nothing about how much matched.
    if not hmac.compare_digest(token.digest, _digest(raw)):
        return None
    now = timezone.now()
    if not token.is_usable(now):
        return None
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


async def token_revoke(*, token: ApiToken) -> None:
    """Revoke a token from now on."""
    await ApiToken.objects.filter(pk=token.pk, revoked_at=None).aupdate(
        revoked_at=timezone.now()
    )
