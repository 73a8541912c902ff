"""API tokens: issue, authenticate, revoke. Writes and reads of ApiToken."""

import hashlib
import hmac
import secrets
from datetime import timedelta

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


def token_authenticate(raw: str) -> ApiToken | None:
    """Return the usable token `raw` names, or None (unknown, expired, revoked)."""
    prefix, dot, _ = raw.partition(".")
    if not dot or len(raw) > 128:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # compare_digest: the time taken says nothing about how much matched.
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
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
