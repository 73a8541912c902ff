"""The User model: the project's AUTH_USER_MODEL, logging in by email."""

from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower

from users import emails

AGE_MAX = 150


class UserManager(BaseUserManager["User"]):
    """Create users and find them by email, whatever its case."""

    use_in_migrations = True

    def _build_user(
        self, email: str, password: str | None, **extra_fields: Any
    ) -> "User":
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)  # None sets an unusable password
        return user

    def create_user(
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        """Create and save a user; without a password it cannot log in."""
        user = self._build_user(email, password, **extra_fields)
        user.save(using=self._db)
        return user

    async def acreate_user(
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        """See create_user()."""
        user = self._build_user(email, password, **extra_fields)
        await user.asave(using=self._db)
        return user

    def create_superuser(
        self, email: str, password: str | None = None, **extra_fields: Any
    ) -> "User":
        """Create a user who is staff and superuser (`createsuperuser`)."""
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not (extra_fields["is_staff"] and extra_fields["is_superuser"]):
            raise ValueError(
                "A superuser must have is_staff=True and is_superuser=True."
            )
        return self.create_user(email, password, **extra_fields)

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """Django's (domain lowercased), in NFKC form (users/emails.py)."""
        return emails.canonical(email or "")

    def get_by_natural_key(self, username: str | None) -> "User":
        # Log-in is case-insensitive, as the unique constraint is.
        return self.get(email__iexact=username)

    async def aget_by_natural_key(self, username: str | None) -> "User":
        """See get_by_natural_key()."""
        return await self.aget(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """Someone known to the API; staff members may also use the admin."""

    email = models.EmailField(unique=True)  # the plain index too: auth.E003 wants it
    name = models.CharField(max_length=150)
    age = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(AGE_MAX)]
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Whether the user can log in to the admin site."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["id"]
        constraints = [
            # Ann@x.io and ann@x.io are one person, even under concurrent inserts.
            models.UniqueConstraint(
                Lower("email"),
                name="users_user_email_ci_unique",
                violation_error_message="A user with this email already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(age__lte=AGE_MAX), name="users_user_age_max"
            ),
            models.CheckConstraint(
                condition=~models.Q(name=""), name="users_user_name_not_blank"
            ),
        ]

    def __str__(self) -> str:
        return self.email


class ApiToken(models.Model):
    """A bearer token of a user. Only its SHA-256 digest is stored.

    The token is `<prefix>.<secret>`: the prefix (stored in clear) finds the
    row, the digest of the whole token proves it. A token carries 256 random
    bits, so a fast hash is enough: there is nothing to guess.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, help_text="What it is for.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def is_usable(self, now: datetime) -> bool:
        """Return whether the token may authenticate a request at `now`."""
        return (
            self.revoked_at is None
            and (self.expires_at is None or self.expires_at > now)
            and self.user.is_active
        )
