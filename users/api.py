"""HTTP handlers of /api/users: parse, call one service or selector, answer."""

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.pagination import LimitOffsetPagination, paginate

from config.errors import error_responses
from users import selectors, services
from users.models import User
from users.schemas import UserCreate, UserFilters, UserOut, UserPatch, UserReplace

router = Router(tags=["users"])


@router.post("", response={201: UserOut, **error_responses(400, 409, 422)})
async def create_user(
    request: HttpRequest, response: HttpResponse, payload: UserCreate
) -> Status[User]:
    """Create a user; its URL is in the `Location` header."""
    user = await services.user_create(**payload.model_dump())
    response["Location"] = f"{request.path.rstrip('/')}/{user.pk}"
    return Status(201, user)


@router.get("", response={200: list[UserOut], **error_responses(422)})
@paginate(LimitOffsetPagination)
async def list_users(request: HttpRequest, filters: Query[UserFilters]) -> object:
    """List users, filtered and ordered, a page at a time (`limit`, `offset`)."""
    return selectors.user_list(**filters.model_dump())


@router.get("/{user_id}", response={200: UserOut, **error_responses(404, 422)})
async def get_user(request: HttpRequest, user_id: int) -> User:
    """Return one user."""
    return await selectors.user_get(user_id=user_id)


@router.put(
    "/{user_id}", response={200: UserOut, **error_responses(400, 404, 409, 422)}
)
async def replace_user(
    request: HttpRequest, user_id: int, payload: UserReplace
) -> User:
    """Replace every writable field; an omitted `age` is cleared."""
    return await services.user_update(user_id=user_id, changes=payload.model_dump())


@router.patch(
    "/{user_id}", response={200: UserOut, **error_responses(400, 404, 409, 422)}
)
async def patch_user(request: HttpRequest, user_id: int, payload: UserPatch) -> User:
    """Change only the fields in the body; fields left out keep their value.

    `null` clears `age`; it is refused for `name` and `email`. An unknown or
    read-only field is refused with 422 rather than ignored.
    """
    changes = payload.model_dump(exclude_unset=True)
    return await services.user_update(user_id=user_id, changes=changes)


@router.delete("/{user_id}", response={204: None, **error_responses(404, 422)})
async def delete_user(request: HttpRequest, user_id: int) -> Status[None]:
    """Delete a user."""
    await services.user_delete(user_id=user_id)
    return Status(204, None)
