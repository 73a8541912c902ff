"""Reads of users, within what the actor may see (users/access.py)."""

from django.db.models import F, QuerySet

from core.db.calls import db_call
from core.db.statements import row_by_pk
from users import access
from users.errors import UserNotFound
from users.models import User


def user_by_id(*, actor: User, user_id: int) -> User:
    """Return the user with this id, or raise UserNotFound (also when hidden); sync."""
    user = row_by_pk(User, user_id) if access.may_see(actor, user_id) else None
    if user is None:
        raise UserNotFound()
    return user


async def user_get(*, actor: User, user_id: int) -> User:
    """Return the user with this id, or raise UserNotFound (also when hidden)."""
    return await db_call(user_by_id)(actor=actor, user_id=user_id)


def user_list(
    *,
    actor: User,
    email: str | None = None,
    search: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    ordering: str = "id",
) -> QuerySet[User]:
    """Return the users matching every given filter, lazily, in `ordering` (staff only)."""
    access.require_staff(actor)
    users = User.objects.all()
    if email is not None:
        users = users.filter(email__iexact=email)
    if search:
        users = users.filter(name__icontains=search)
    if age_min is not None:
        users = users.filter(age__gte=age_min)
    if age_max is not None:
        users = users.filter(age__lte=age_max)
    column = F(ordering.removeprefix("-"))
    # Users without an age come last either way, on every database; "id"
    # breaks ties, so pages never repeat or skip a row.
    order = (
        column.desc(nulls_last=True)
        if ordering.startswith("-")
        else column.asc(nulls_last=True)
    )
    return users.order_by(order, "id")
