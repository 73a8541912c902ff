"""Who may see and change which users: the one place these rules live.

Staff may do anything but lock themselves out. Anyone else sees only
themself: another user's id is a 404, so ids cannot be probed, and listing,
creating and deleting are 403.
"""

from collections.abc import Iterable, Mapping

from core.errors import Forbidden, InvalidInput
from users.models import User

STAFF_ONLY_FIELDS = ("is_active", "is_staff")


def may_see(actor: User, user_id: int) -> bool:
    """Whether `actor` may read and change the user with this id."""
    return actor.is_staff or actor.pk == user_id


def require_staff(actor: User) -> None:
    """Raise Forbidden unless `actor` is staff."""
    if not actor.is_staff:
        raise Forbidden("Only staff may do this.")


def refuse_self_lockout(
    actor: User, user_id: int, changes: Mapping[str, object]
) -> None:
    """Refuse (403) a staff member deactivating, demoting or deleting themself.

    Through the API that would end their own access mid-session, and the last
    staff member would lock everyone out; another staff member can do it.
    """
    if actor.pk != user_id:
        return
    if changes.get("is_active") is False or changes.get("is_staff") is False:
        raise Forbidden(
            "You may not deactivate or demote yourself; another staff member can."
        )


def refuse_self_delete(actor: User, user_id: int) -> None:
    """Refuse (403) deleting oneself, for the reason refuse_self_lockout gives."""
    if actor.pk == user_id:
        raise Forbidden("You may not delete yourself; another staff member can.")


def check_fields(actor: User, fields: Iterable[str]) -> None:
    """Refuse (422) staff-only fields sent by someone who is not staff."""
    if actor.is_staff:
        return
    refused = [field for field in fields if field in STAFF_ONLY_FIELDS]
    if refused:
        raise InvalidInput(
            errors=[
                {
                    "loc": ["body", field],
                    "msg": "Only staff may set this field.",
                    "type": "staff_only",
                }
                for field in refused
            ]
        )
