"""Writes to users. Each runs in one transaction, in one sync call.

The work is sync and wrapped once with `sync_to_async`: a transaction must
live inside one thread, and one hop per request is cheaper than one per query.
"""

from collections.abc import Mapping

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.utils import timezone

from users.errors import EmailTaken, UserNotFound
from users.models import User


def _user_create(*, email: str, name: str, age: int | None) -> User:
    try:
        # A savepoint, so a duplicate leaves an enclosing transaction usable.
        with transaction.atomic():
            return User.objects.create_user(email=email, name=name, age=age)
    except IntegrityError as exc:
        # Schemas checked everything else: only the email indexes can fire here.
        raise EmailTaken() from exc


def _user_update(*, user_id: int, changes: Mapping[str, object]) -> User:
    values = dict(changes)
    if isinstance(values.get("email"), str):
        values["email"] = User.objects.normalize_email(str(values["email"]))
    try:
        with transaction.atomic():
            if values:
                # An UPDATE of the sent columns only: nothing read first, so
                # nothing stale is written back over a concurrent change.
                found = User.objects.filter(pk=user_id).update(
                    **values, updated_at=timezone.now()
                )
                if not found:
                    raise UserNotFound()
            return User.objects.get(pk=user_id)
    except User.DoesNotExist as exc:
        raise UserNotFound() from exc
    except IntegrityError as exc:
        raise EmailTaken() from exc


def _user_delete(*, user_id: int) -> None:
    deleted, _ = User.objects.filter(pk=user_id).delete()
    if not deleted:
        raise UserNotFound()


async def user_create(*, email: str, name: str, age: int | None = None) -> User:
    """Create a user without a usable password; a taken email raises EmailTaken."""
    return await sync_to_async(_user_create)(email=email, name=name, age=age)


async def user_update(*, user_id: int, changes: Mapping[str, object]) -> User:
    """Write the columns of the fields in `changes`, and no others.

    That is what keeps two PATCHes of different fields from undoing each
    other. `updated_at` moves only when something was written.
    """
    return await sync_to_async(_user_update)(user_id=user_id, changes=changes)


async def user_delete(*, user_id: int) -> None:
    """Delete a user; raise UserNotFound if there is none."""
    await sync_to_async(_user_delete)(user_id=user_id)
