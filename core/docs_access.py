"""Who may see /api/docs and /api/openapi.json: the API_DOCS setting, per request."""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect

View = Callable[..., HttpResponse]


def docs_access(
    *, staff_token: Callable[[HttpRequest], bool]
) -> Callable[[View], View]:
    """The docs views' decorator: serve them to everyone ("public"), to staff
    only ("staff"), or not ("off").

    Staff means a staff session (the admin's) or a request for which
    `staff_token` says it carries a staff member's bearer token, so a
    pipeline can generate its client from the document (#17). Staff-only
    sends anyone else to the admin login, which returns here.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            mode = settings.API_DOCS
            if mode == "off":
                raise Http404("The API documentation is turned off.")
            if mode == "staff" and not _is_staff(request, staff_token):
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"/admin/login/?{query}")
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def _is_staff(request: HttpRequest, staff_token: Callable[[HttpRequest], bool]) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff) or staff_token(request)
