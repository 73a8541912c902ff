"""Users and API tokens in Django's admin, with the API's rules."""

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from core.validators import reject_nul_and_surrogates
from users import emails
from users.models import ApiToken, User
from users.tokens import forget_verified, token_issue

security_log = logging.getLogger("security")


class _ForgetsVerifiedTokens(admin.ModelAdmin[Any]):
    """A change made here may stop a token: this process looks every token up
    again (users/token_cache.py)."""

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        forget_verified()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        forget_verified()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        forget_verified()


class _EmailRules:
    """The API's email rules, as a form field error (not a 500 or a page-level error)."""

    instance: User

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"].strip())  # type: ignore[attr-defined]
        try:
            reject_nul_and_surrogates(email)
        except ValueError as exc:
            raise forms.ValidationError(f"Email {exc}.") from None
        if (part := emails.mixed_script_part(email)) is not None:
            raise forms.ValidationError(f"{part!r} mixes letters of different scripts.")
        taken = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(
                "A user with this email already exists (in any case)."
            )
        return email


class UserCreationForm(_EmailRules, BaseUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email", "name", "age")


class UserEditForm(_EmailRules, UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age_range"
    RANGES = {
        "0-17": (0, 17),
        "18-39": (18, 39),
        "40-64": (40, 64),
        "65-150": (65, 150),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, key.replace("-", "–")) for key in self.RANGES] + [
            ("none", "unknown")
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> QuerySet[User]:
        value = self.value()
        if value == "none":
            return queryset.filter(age__isnull=True)
        if value in self.RANGES:
            low, high = self.RANGES[value]
            return queryset.filter(age__gte=low, age__lte=high)
        return queryset


@admin.register(User)
class UserAdmin(_ForgetsVerifiedTokens, BaseUserAdmin[User]):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "age")}),
        (
            "Permissions",
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                )
            },
        ),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "name",
                    "age",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("last_login", "created_at", "updated_at")
    list_display = ("email", "name", "age", "is_staff", "is_active", "created_at")
    list_filter = ("is_staff", "is_active", AgeFilter, "created_at", "is_superuser")
    search_fields = ("email", "name")
    ordering = ("email",)
    actions = ("deactivate",)

    @admin.action(description="Deactivate the selected users", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = queryset.filter(is_active=True).update(
            is_active=False, updated_at=timezone.now()
        )
        forget_verified()
        security_log.info(
            "users deactivated count=%s by=%s (admin)", count, request.user.pk
        )
        self.message_user(request, f"Deactivated {count} user(s).")


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ApiToken]
    ) -> QuerySet[ApiToken]:
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                revoked_at__isnull=True,
            )
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(_ForgetsVerifiedTokens, admin.ModelAdmin[ApiToken]):
    """Tokens: staff see and revoke them; the raw token shows once, when made here."""

    list_display = (
        "prefix",
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (TokenStateFilter, ("user", admin.RelatedOnlyFieldListFilter))
    search_fields = ("prefix", "user__email", "name")
    autocomplete_fields = ("user",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = (
        "user",
        "name",
        "expires_at",
        "revoked_at",
        "prefix",
        "created_at",
        "last_used_at",
    )
    actions = ("revoke",)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        forget_verified()
        security_log.info(
            "tokens revoked count=%s by=%s (admin)", count, request.user.pk
        )
        self.message_user(request, f"Revoked {count} token(s).")

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        expires_in = obj.expires_at - timezone.now() if obj.expires_at else None
        token, raw = token_issue(user=obj.user, name=obj.name, expires_in=expires_in)
        obj.pk = token.pk
        obj.prefix = token.prefix
        security_log.info(
            "token issued user=%s prefix=%s by=%s (admin)",
            obj.user_id,
            token.prefix,
            request.user.pk,
        )
        self.message_user(
            request,
            f"The new token is {raw} — copy it now: it is not stored and will not be shown again.",
            messages.WARNING,
        )
