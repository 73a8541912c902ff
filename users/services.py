"""Writes to users. Each runs in one transaction, in one sync call.

The work is sync and wrapped once with `db_call` (core/db/calls.py): a transaction must
live inside one thread, and one hop per request is cheaper than one per query.
Who may change whom is decided by users/access.py, through `actor`.
"""

import contextlib
from collections.abc import Mapping
from datetime import timedelta

from django.contrib.auth import aauthenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from core.db.calls import db_call
from core.db.statements import update_returning
from core.errors import InvalidInput
from users import access, selectors, tokens
from users.errors import BadCredentials, EmailTaken, UserNotFound
from users.models import ApiToken, User


def _check_password(password: str, user: User, field: str) -> None:
    """Apply Django's password validators; refuse with 422 at `field`."""
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise InvalidInput(
            errors=[
                {"loc": ["body", field], "msg": msg, "type": "password"}
                for msg in exc.messages
            ]
        ) from None


def _user_create(
    *,
    actor: User,
    email: str,
    name: str,
    age: int | None,
    password: str | None,
    **flags: bool,
) -> User:
    access.require_staff(actor)
    if password is not None:
        _check_password(password, User(email=email, name=name), "password")
    try:
        # A savepoint, so a duplicate leaves an enclosing transaction usable.
        with transaction.atomic():
            return User.objects.create_user(
                email=email, password=password, name=name, age=age, **flags
            )
    except IntegrityError as exc:
        # Schemas checked everything else: only the email indexes can fire here.
        raise EmailTaken() from exc


# Changes that leave every token as it was (is_active and is_staff do not;
# a new password does not stop a token either).
_KEEP_TOKENS_VERIFIED = frozenset({"name", "email", "age"})


def _user_update(*, actor: User, user_id: int, changes: Mapping[str, object]) -> User:
    access.check_fields(actor, changes)
    access.refuse_self_lockout(actor, user_id, changes)
    values = dict(changes)
    if isinstance(values.get("email"), str):
        values["email"] = User.objects.normalize_email(str(values["email"]))
    if not access.may_see(actor, user_id):
        raise UserNotFound()
    if not values:
        return selectors.user_by_id(actor=actor, user_id=user_id)
    values["updated_at"] = timezone.now()
    # One UPDATE of the sent columns only, returning the row: nothing read
    # first, so nothing stale is written back over a concurrent change, and
    # one statement is its own transaction. Inside an enclosing one, a
    # savepoint keeps a duplicate email from breaking it.
    enclosed = connections[router.db_for_write(User)].in_atomic_block
    try:
        with transaction.atomic() if enclosed else contextlib.nullcontext():
            user = update_returning(User, user_id, values)
    except IntegrityError as exc:
        raise EmailTaken() from exc
    if user is None:
        raise UserNotFound()
    if not _KEEP_TOKENS_VERIFIED.issuperset(changes):
        tokens.forget_verified()
    return user


def _user_delete(*, actor: User, user_id: int) -> None:
    access.require_staff(actor)
    access.refuse_self_delete(actor, user_id)
    deleted, _ = User.objects.filter(pk=user_id).delete()
    tokens.forget_verified()
    if not deleted:
        raise UserNotFound()


def _password_change(*, actor: User, current: str, new: str) -> None:
    user = User.objects.get(pk=actor.pk)
    if not user.check_password(current):
        raise InvalidInput(
            errors=[
                {
                    "loc": ["body", "current_password"],
                    "msg": "The current password is not correct.",
                    "type": "password_incorrect",
                }
            ]
        )
    _check_password(new, user, "new_password")
    user.set_password(new)
    user.save(update_fields=["password", "updated_at"])


async def user_create(
    *,
    actor: User,
    email: str,
    name: str,
    age: int | None = None,
    password: str | None = None,
    is_active: bool = True,
    is_staff: bool = False,
) -> User:
    """Create a user (staff only); a taken email raises EmailTaken."""
    return await db_call(_user_create)(
        actor=actor,
        email=email,
        name=name,
        age=age,
        password=password,
        is_active=is_active,
        is_staff=is_staff,
    )


async def user_update(
    *, actor: User, user_id: int, changes: Mapping[str, object]
) -> User:
    """Write the columns of the fields in `changes`, and no others.

    That is what keeps two PATCHes of different fields from undoing each
    other. `updated_at` moves only when something was written.
    """
    return await db_call(_user_update)(actor=actor, user_id=user_id, changes=changes)


async def user_delete(*, actor: User, user_id: int) -> None:
    """Delete a user (staff only); raise UserNotFound if there is none."""
    await db_call(_user_delete)(actor=actor, user_id=user_id)


async def password_change(*, actor: User, current: str, new: str) -> None:
    """Set `actor`'s password after checking the current one (422 if wrong)."""
    await db_call(_password_change)(actor=actor, current=current, new=new)


async def token_login(
    *, email: str, password: str, name: str, expires_in: timedelta | None
) -> tuple[ApiToken, str]:
    """Exchange an email and password for a new token and its raw value.

    Raises BadCredentials for a wrong email and a wrong password alike;
    Django's backend hashes a dummy password for an unknown email, so the
    answer takes as long either way (#20760).
    """
    user = await aauthenticate(None, email=email, password=password)
    if not isinstance(user, User):
        raise BadCredentials()
    return await db_call(tokens.token_issue)(
        user=user, name=name, expires_in=expires_in
    )
