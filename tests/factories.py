"""Test data made through the services, so it is data the API could have made."""

from asgiref.sync import async_to_sync

from users import services
from users.models import User


async def auser(*, email: str, name: str = "Someone", age: int | None = None) -> User:
    """Create a user through `services.user_create`."""
    return await services.user_create(email=email, name=name, age=age)


def user(*, email: str, name: str = "Someone", age: int | None = None) -> User:
    """See auser(); for sync fixtures."""
    return async_to_sync(auser)(email=email, name=name, age=age)
