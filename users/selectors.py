"""Reads of users."""

from django.db.models import QuerySet

from users.errors import UserNotFound
from users.models import User


async def user_get(*, user_id: int) -> User:
    """Return the user with this id, or raise UserNotFound."""
    try:
        return await User.objects.aget(pk=user_id)
    except User.DoesNotExist as exc:
        raise UserNotFound() from exc


def user_list(
    *,
    email: str | None = None,
    search: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    ordering: str = "id",
) -> QuerySet[User]:
    """Return the users matching every given filter, lazily, in `ordering`."""
    users = User.objects.all()
    if email is not None:
        users = users.filter(email__iexact=email)
    if search:
        users = users.filter(name__icontains=search)
    if age_min is not None:
        users = users.filter(age__gte=age_min)
    if age_max is not None:
        users = users.filter(age__lte=age_max)
    # "id" breaks ties, so pages never repeat or skip a row.
    return users.order_by(ordering, "id")
