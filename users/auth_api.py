"""HTTP handlers of /api/auth: obtain and revoke API tokens."""

from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import Throttled
from pydantic import ConfigDict, Field

from core.client_ip import client_ip
from core.errors import ApiError, error_responses
from core.throttling import login_failed_sync, login_wait_sync, security_log
from users import services, tokens
from users.errors import BadCredentials
from users.models import ApiToken
from users.schemas import Email, Password

router = Router(tags=["auth"])


class TokenRequest(Schema):
    """Credentials, exchanged for a new token."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password
    name: str = Field("", max_length=100, description="What the token is for.")
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenOut(Schema):
    """A new token: `token` is shown this once and never again."""

    token: str
    prefix: str
    expires_at: datetime | None


class NoTokenInUse(ApiError):
    status_code = 400
    code = "no_token"
    detail = "This request was not made with a bearer token."


@router.post(
    "/tokens",
    auth=None,
    response={201: TokenOut, **error_responses(400, 401, 422, 429)},
)
async def create_token(request: HttpRequest, payload: TokenRequest) -> Status[TokenOut]:
    """Exchange email and password for a bearer token (strictly rate-limited).

    A wrong email and a wrong password get the same 401.
    """
    wait = await sync_to_async(login_wait_sync)(request, payload.email)
    if wait is not None:
        raise Throttled(wait)
    days = payload.expires_in_days
    try:
        token, raw = await services.token_login(
            email=payload.email,
            password=payload.password,
            name=payload.name,
            expires_in=timedelta(days=days) if days else None,
        )
    except BadCredentials:
        await sync_to_async(login_failed_sync)(request, payload.email)
        raise
    security_log.info(
        "token issued user=%s prefix=%s ip=%s",
        token.user_id,
        token.prefix,
        client_ip(request),
    )
    return Status(
        201, TokenOut(token=raw, prefix=token.prefix, expires_at=token.expires_at)
    )


@router.delete(
    "/tokens/current", response={204: None, **error_responses(400, 401, 429)}
)
async def revoke_current_token(request: HttpRequest) -> Status[None]:
    """Revoke the token this request is made with."""
    token: ApiToken | None = getattr(request, "api_token", None)
    if token is None:
        raise NoTokenInUse()
    await tokens.token_revoke(token=token)
    security_log.info(
        "token revoked user=%s prefix=%s ip=%s",
        token.user_id,
        token.prefix,
        client_ip(request),
    )
    return Status(204, None)
