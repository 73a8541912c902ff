"""Test data made through the services, so it is data the API could have made."""

from typing import Any

from asgiref.sync import async_to_sync

from users import services, tokens
from users.models import User

# Services ask who acts; test data is made as staff would make it. Never saved.
STAFF = User(email="factory@example.com", name="Factory", is_staff=True)


async def auser(
    *,
    email: str,
    name: str = "Someone",
    age: int | None = None,
    password: str | None = None,
    is_staff: bool = False,
    is_active: bool = True,
) -> User:
    """Create a user through `services.user_create`."""
    return await services.user_create(
        actor=STAFF,
        email=email,
        name=name,
        age=age,
        password=password,
        is_staff=is_staff,
        is_active=is_active,
    )


def user(*, email: str, **fields: Any) -> User:
    """See auser(); for sync fixtures."""
    return async_to_sync(auser)(email=email, **fields)


def token(user: User) -> str:
    """Issue a bearer token for `user` and return it raw."""
    return tokens.token_issue(user=user)[1]
