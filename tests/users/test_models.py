import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import IntegrityError, transaction

from users.models import User

pytestmark = pytest.mark.django_db


def test_database_refuses_email_in_other_case(ann: User) -> None:
    """The case-insensitive uniqueness is a database constraint, not a Python check."""
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="ANN@EXAMPLE.COM", name="Copy")])


@pytest.mark.parametrize(("field", "value"), [("age", 151), ("name", "")])
def test_database_refuses_values_outside_the_rules(
    ann: User, field: str, value: object
) -> None:
    """Age above 150 and a blank name are refused by check constraints."""
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=ann.pk).update(**{field: value})


def test_createsuperuser_works_with_email_and_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`manage.py createsuperuser` asks for email and name, and the result can log in."""
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long unusual passphrase")

    call_command(
        "createsuperuser", interactive=False, email="root@example.com", name="Root"
    )

    user = User.objects.get(email="root@example.com")
    assert (user.name, user.is_staff, user.is_superuser) == ("Root", True, True)
    assert (
        authenticate(email="ROOT@example.com", password="a long unusual passphrase")
        == user
    )


def test_str_is_the_email(ann: User) -> None:
    """Admin pages and logs name a user by email."""
    assert str(ann) == "ann@example.com"
