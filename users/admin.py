"""The users in Django's admin."""

import logging
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from users.models import ApiToken, User
from users.tokens import token_issue

security_log = logging.getLogger("security")


class UserCreationForm(BaseUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email", "name", "age")


class UserEditForm(UserChangeForm[User]):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
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
                "fields": ("email", "name", "age", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("last_login", "created_at", "updated_at")
    list_display = ("email", "name", "age", "is_staff", "is_active", "created_at")
    list_filter = ("is_staff", "is_superuser", "is_active", "created_at")
    search_fields = ("email", "name")
    ordering = ("email",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
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
    list_filter = ("revoked_at", "expires_at", "created_at")
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
