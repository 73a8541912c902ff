"""The project's URLs, and a utility that holds its slot until a test lets go."""

import asyncio

from django.urls import path
from ninja import NinjaAPI

from config.urls import urlpatterns as project_urlpatterns
from core import errors
from users.authentication import api_auth
from utilities.api import build_utilities_router
from utilities.registry import Registry

held: list[int] = []  # one entry per call inside hold(), until it returns
let_go: dict[str, asyncio.Event] = {}  # "event": set by the test; "arrived": by hold()


async def hold() -> int:
    """Wait on the event loop until the test sets `let_go["event"]`."""
    held.append(1)
    let_go["arrived"].set()
    try:
        await let_go["event"].wait()
    finally:
        held.pop()
    return 1


registry = Registry()
registry.add(hold, execution="inline", timeout_s=60)

api = NinjaAPI(title="Held", version="test", urls_namespace="held", auth=api_auth)
errors.install(api)
api.add_router("/utilities", build_utilities_router(registry))

urlpatterns = [*project_urlpatterns, path("held/", api.urls)]
