"""The NinjaAPI object and its routers: the composition root, nothing else."""

from core import errors
from core.api import ServiceAPI, probes_router
from core.docs_access import docs_access
from core.parsing import BoundedJSONParser
from core.throttling import api_throttles
from users.api import router as users_router
from users.auth_api import router as auth_router
from users.authentication import api_auth, bearer_staff_sync
from utilities.api import build_jobs_router, build_utilities_router
from utilities.catalogue import registry

api = ServiceAPI(
    servers=[{"url": "/", "description": "The server this document came from."}],
    title="Ninja Service API",
    version="1.0.0",
    description="Users and typed utilities, served by async Django Ninja.",
    auth=api_auth,
    parser=BoundedJSONParser(),
    # Staff: a staff session, or a staff member's bearer token (#17).
    docs_decorator=docs_access(staff_token=bearer_staff_sync),
    throttle=api_throttles,
)
errors.install(api)

api.add_router("", probes_router)
api.add_router("/auth", auth_router)
api.add_router("/users", users_router)
api.add_router("/utilities", build_utilities_router(registry))
api.add_router("/jobs", build_jobs_router(registry))
