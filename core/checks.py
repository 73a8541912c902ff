"""Django's deploy checks, reading core/middleware.py's classes as Django's own.

Django's security checks look for its middleware by dotted path. The project
runs subclasses instead (core/middleware.py), so the stock checks would warn
that the middleware is missing (security.W001-W003, silenced in settings) and,
worse, skip every check that depends on it: HSTS, SSL redirect, nosniff, frame
options, CSRF cookie. This check runs those again with each subclass named as
its Django parent; a middleware really missing is reported as config.W001-W003.
Off the fast path (DJANGO_FAST_PATH=false) Django's own run, and so do its checks.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks.security import base, csrf
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from core.middleware import OnLoopMixin

_SILENCED = {"security.W001", "security.W002", "security.W003"}
_MIDDLEWARE_CHECKS: tuple[Callable[..., list[CheckMessage]], ...] = (
    base.check_security_middleware,
    base.check_xframe_options_middleware,
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_middleware,
    csrf.check_csrf_cookie_secure,
)


def django_name(path: str) -> str:
    """The dotted path of the Django middleware `path` runs on the loop, or `path`."""
    cls = import_string(path)
    if isinstance(cls, type) and issubclass(cls, OnLoopMixin):
        parent = cls.__mro__[cls.__mro__.index(OnLoopMixin) + 1]
        return f"{parent.__module__}.{parent.__qualname__}"
    return path


@register(Tags.security, deploy=True)
def check_middleware_security(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    named = [django_name(p) for p in settings.MIDDLEWARE]
    if named == list(settings.MIDDLEWARE):
        return []  # Django's own (DJANGO_FAST_PATH off): its checks see them
    with override_settings(MIDDLEWARE=named):
        messages = [m for check in _MIDDLEWARE_CHECKS for m in check(app_configs)]
    for message in messages:
        if message.id in _SILENCED:
            message.id = message.id.replace("security.", "config.")
    return messages
