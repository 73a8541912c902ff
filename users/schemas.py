"""Request and response bodies of the users API, one schema per role."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from core.validators import AS_JSON, reject_nul_and_surrogates
from users import emails
from users.models import AGE_MAX


def _valid_email(value: str) -> str:
    """Apply Django's own email rules, so the API and the admin agree, and
    refuse lookalikes (users/emails.py); return the canonical spelling."""
    value = emails.canonical(value)
    if (part := emails.mixed_script_part(value)) is not None:
        raise ValueError(f"{part!r} mixes letters of different scripts")
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("value is not a valid email address") from None
    return value


# Constraints come first: placed after a validator, pydantic checks the length
# before stripping, and "   " would pass as a name.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=150),
    AfterValidator(reject_nul_and_surrogates),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    Field(json_schema_extra={"format": "email"}),
    AfterValidator(reject_nul_and_surrogates),
    AfterValidator(_valid_email),
]
# Bodies take JSON's own numbers and booleans (core/validators.py): `"5"` or
# `true` for an age and `1` for a flag are refused, not coerced. Query strings
# are text and are parsed (AgeParam).
Age = Annotated[int, Field(ge=0, le=AGE_MAX), AS_JSON[int]]
AgeParam = Annotated[int, Field(ge=0, le=AGE_MAX)]
# The primary key's range (a bigint): beyond it, SQLite's driver raises
# OverflowError, a 500, where the client sent a bad id (#18).
UserId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Flag = Annotated[bool, AS_JSON[bool]]


def _not_nullable(schema: dict[str, Any]) -> None:
    """Publish an optional field as its type alone: omitted, it keeps its
    value; `null` is refused (422) by the model's validator."""
    branches = schema.pop("anyOf")
    schema.update(next(b for b in branches if b.get("type") != "null"))
    schema.pop("default", None)


def optional(description: str | None = None) -> Any:
    """The Field of an optional, non-nullable body field."""
    return Field(None, description=description, json_schema_extra=_not_nullable)


Password = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(reject_nul_and_surrogates),
]


class UserCreate(Schema):
    """POST body (staff only): a new user; without a password it cannot log in."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    age: Age | None = None
    password: Password | None = None
    is_active: Flag = True
    is_staff: Flag = False


class UserReplace(Schema):
    """PUT body: every writable field; an omitted `age` becomes null.

    `is_active` and `is_staff` may be sent by staff only; omitted, they keep
    their value.
    """

    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    age: Age | None = None
    is_active: Flag | None = optional()
    is_staff: Flag | None = optional()

    @field_validator("is_active", "is_staff")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        if value is None:  # omitted keeps the value; null is not a value
            raise ValueError("may not be null")
        return value


class UserPatch(Schema):
    """PATCH body: every field optional; only nullable columns accept null."""

    model_config = ConfigDict(extra="forbid")  # unknown or read-only field -> 422

    email: Email | None = optional()
    name: Name | None = optional()
    age: Age | None = None
    is_active: Flag | None = optional()
    is_staff: Flag | None = optional()

    @field_validator("email", "name", "is_active", "is_staff")
    @classmethod
    def _not_null(cls, value: str | bool | None) -> str | bool:
        if value is None:  # runs only for values the client sent, never for defaults
            raise ValueError("may not be null")
        return value


# A timestamp as Django's JSON encoder writes it (milliseconds, "Z"), written
# by the schema instead of by the encoder's per-value fallback.
Timestamp = Annotated[
    datetime,
    PlainSerializer(DjangoJSONEncoder().default, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# A plain pydantic model read from the model's attributes: ninja's Schema
# wraps each object in its DjangoGetter, which cost a page of 20 users ~370 µs
# of CPU against ~130 µs this way (#6), and there is nothing here to resolve.
class UserOut(BaseModel):
    """A user as the API shows it (never the password)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    age: int | None
    is_active: bool
    is_staff: bool
    created_at: Timestamp
    updated_at: Timestamp


Ordering = Literal[
    "id", "-id", "name", "-name", "email", "-email", "age", "-age",
    "created_at", "-created_at",
]  # fmt: skip


class UserFilters(Schema):
    """Query parameters of the user list."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = Field(None, description="Exact email, any case.")
    search: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=150),
            AfterValidator(reject_nul_and_surrogates),
        ]
        | None
    ) = Field(None, description="Part of the name, any case.")
    age_min: AgeParam | None = None
    age_max: AgeParam | None = None
    ordering: Ordering = "id"


class PasswordChange(Schema):
    """Body of a password change: the current password proves it is the user."""

    model_config = ConfigDict(extra="forbid")

    current_password: Password
    new_password: Password
