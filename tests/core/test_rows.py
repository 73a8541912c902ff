"""SQL written once from the models' metadata (core/db/statements.py) reads what the ORM reads."""

import pytest
from django.utils import timezone

from core.db.statements import row_by_pk, update_returning
from users.models import User

pytestmark = pytest.mark.django_db


def test_row_by_pk_loads_the_instance_the_orm_loads(ann: User) -> None:
    """Every concrete field has the ORM's value and type, timestamps aware."""
    User.objects.filter(pk=ann.pk).update(last_login=timezone.now(), age=None)

    found = row_by_pk(User, ann.pk)

    assert found is not None
    expected = User.objects.get(pk=ann.pk)
    for field in User._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname)
        assert type(getattr(found, field.attname)) is type(
            getattr(expected, field.attname)
        )
    assert found.created_at.tzinfo is not None
    assert found._state.adding is False
    assert found._state.db == "default"


def test_row_by_pk_of_a_missing_row_is_none(ann: User) -> None:
    """No row, no instance: the caller decides what that means (a 404)."""
    assert row_by_pk(User, ann.pk + 1_000_000) is None


def test_update_returning_writes_the_given_columns_and_returns_the_row(
    ann: User,
) -> None:
    """Only the named columns change; the returned instance is the row as stored."""
    before = User.objects.get(pk=ann.pk)
    now = timezone.now()

    found = update_returning(User, ann.pk, {"age": 41, "updated_at": now})

    stored = User.objects.get(pk=ann.pk)
    assert (stored.age, stored.updated_at) == (41, now)
    assert (stored.name, stored.email) == (before.name, before.email)
    assert found is not None
    for field in User._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(stored, field.attname)


def test_update_returning_of_a_missing_row_is_none(ann: User) -> None:
    """No row has that pk: nothing is written and nothing returned."""
    missing = ann.pk + 1_000_000

    assert update_returning(User, missing, {"age": 41}) is None
    assert User.objects.get(pk=ann.pk).age == ann.age
