"""HTTP handlers of /api/users: parse, call one service or selector, answer.

`request.auth` is the authenticated user (users/authentication.py); what they may
do is decided in users/access.py, below these handlers.
"""

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.pagination import paginate

from core.errors import error_responses
from core.openapi import sends_location
from core.pagination import LimitOffsetPagination
from users import access, selectors, services
from users.authentication import actor
from users.models import User
from users.schemas import (
    PasswordChange,
    UserCreate,
    UserFilters,
    UserId,
    UserOut,
    UserPatch,
    UserReplace,
)

router = Router(tags=["users"])

AUTH_ERRORS = (401, 429)


@router.post(
    "",
    response={201: UserOut, **error_responses(400, 403, 409, 422, *AUTH_ERRORS)},
    openapi_extra=sends_location(201),
)
async def create_user(
    request: HttpRequest, response: HttpResponse, payload: UserCreate
) -> Status[User]:
    """Create a user (staff only); its URL is in the `Location` header."""
    user = await services.user_create(actor=actor(request), **payload.model_dump())
    response["Location"] = f"{request.path.rstrip('/')}/{user.pk}"
    return Status(201, user)


@router.get(
    "", response={200: list[UserOut], **error_responses(403, 422, *AUTH_ERRORS)}
)
@paginate(LimitOffsetPagination)
async def list_users(request: HttpRequest, filters: Query[UserFilters]) -> object:
    """List users (staff only), filtered and ordered, a page at a time."""
    return selectors.user_list(actor=actor(request), **filters.model_dump())


@router.get("/me", response={200: UserOut, **error_responses(*AUTH_ERRORS)})
async def get_me(request: HttpRequest) -> User:
    """Return the authenticated user."""
    return await selectors.user_get(actor=actor(request), user_id=actor(request).pk)


@router.patch(
    "/me",
    response={200: UserOut, **error_responses(400, 403, 409, 422, *AUTH_ERRORS)},
)
async def patch_me(request: HttpRequest, payload: UserPatch) -> User:
    """Change fields of the authenticated user; as PATCH /users/{id}."""
    changes = payload.model_dump(exclude_unset=True)
    me = actor(request)
    return await services.user_update(actor=me, user_id=me.pk, changes=changes)


@router.post(
    "/me/password", response={204: None, **error_responses(400, 422, *AUTH_ERRORS)}
)
async def change_my_password(
    request: HttpRequest, payload: PasswordChange
) -> Status[None]:
    """Change the authenticated user's password; the current one is required."""
    await services.password_change(
        actor=actor(request), current=payload.current_password, new=payload.new_password
    )
    return Status(204, None)


@router.get(
    "/{user_id}", response={200: UserOut, **error_responses(404, 422, *AUTH_ERRORS)}
)
async def get_user(request: HttpRequest, user_id: UserId) -> User:
    """Return one user (others than yourself: staff only)."""
    return await selectors.user_get(actor=actor(request), user_id=user_id)


@router.put(
    "/{user_id}",
    response={
        200: UserOut,
        **error_responses(400, 403, 404, 409, 422, *AUTH_ERRORS),
    },
)
async def replace_user(
    request: HttpRequest, user_id: UserId, payload: UserReplace
) -> User:
    """Replace every writable field; an omitted `age` is cleared.

    `is_active` and `is_staff` (staff only) keep their value when omitted.
    """
    changes = payload.model_dump()
    for field in access.STAFF_ONLY_FIELDS:
        if field not in payload.model_fields_set:
            del changes[field]
    return await services.user_update(
        actor=actor(request), user_id=user_id, changes=changes
    )


@router.patch(
    "/{user_id}",
    response={
        200: UserOut,
        **error_responses(400, 403, 404, 409, 422, *AUTH_ERRORS),
    },
)
async def patch_user(request: HttpRequest, user_id: UserId, payload: UserPatch) -> User:
    """Change only the fields in the body; fields left out keep their value.

    `null` clears `age`; it is refused for the other fields. An unknown or
    read-only field is refused with 422 rather than ignored, and so are
    `is_active` and `is_staff` from anyone but staff.
    """
    changes = payload.model_dump(exclude_unset=True)
    return await services.user_update(
        actor=actor(request), user_id=user_id, changes=changes
    )


@router.delete(
    "/{user_id}", response={204: None, **error_responses(403, 404, 422, *AUTH_ERRORS)}
)
async def delete_user(request: HttpRequest, user_id: UserId) -> Status[None]:
    """Delete a user (staff only; not yourself)."""
    await services.user_delete(actor=actor(request), user_id=user_id)
    return Status(204, None)
