"""The API's platform: the NinjaAPI class every route is served by, and the probes.

ServiceAPI makes the OpenAPI document a contract client generators accept
(core/openapi.py), answers a method no route serves with a Problem (405),
and counts async operations' rate limits off the event loop
(core/throttling.py). `probes_router` serves /health and /ready.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI, Router
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation, PathView
from pydantic import BaseModel, Field

from core import errors, openapi, readiness
from core.cache import CacheState, cache_state
from core.db.calls import db_call
from core.throttling import count_off_the_loop


class ServiceAPI(NinjaAPI):
    """NinjaAPI serving the API as a contract (see the module).

    Each handler documents its own errors; these come from the layers around
    them: 400/413/415/422 for any body (parser, size limit, schema), 401/429
    for anything behind auth and its rate limit, 503 for anything that
    reaches the database (the auth's token lookup included).
    Generated clients and schemathesis then agree with the server.
    """

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        for router in self._get_bound_routers():
            for path_view in router.path_operations.values():
                path_view.__class__ = ProblemPathView
                count_off_the_loop(path_view.operations)
        return super()._get_urls()

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return openapi.operation_id(operation.view_func.__name__)

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPISchema:
        schema = super().get_openapi_schema(**kwargs)
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                shared = [400, 413, 415, 422] if "requestBody" in operation else []
                if operation.get("security"):
                    shared += [401, 429]
                if path != "/api/health":  # the one route without the database
                    shared.append(503)
                for status in shared:
                    operation["responses"].setdefault(status, {})
        openapi.shape(schema)
        return schema


class ProblemPathView(PathView):
    """Ninja's PathView, answering a method no operation serves with a Problem."""

    def _not_allowed(self) -> HttpResponse:
        return errors.method_not_allowed(
            {method for operation in self.operations for method in operation.methods}
        )


probes_router = Router(tags=["operations"])


class HealthOut(BaseModel):  # not ninja's Schema: nothing to read from a model (#6)
    status: str


@probes_router.api_operation(
    ["GET", "HEAD"], "/health", response=HealthOut,
    auth=None, throttle=[],
)  # fmt: skip
async def get_health(request: HttpRequest) -> HealthOut:
    """Liveness: answer while the process can serve requests; never touches the database."""
    return HealthOut(status="ok")


class ReadyOut(BaseModel):
    status: str
    cache: CacheState = Field(
        description="Where the rate limits count: in Redis, shared by every "
        "process; `degraded`: Redis is away and each process counts alone; "
        "`local`: no Redis is configured."
    )


@probes_router.get(
    "/ready",
    response={200: ReadyOut, **errors.error_responses(503)},
    auth=None, throttle=[],
)  # fmt: skip
async def get_ready(request: HttpRequest) -> ReadyOut:
    """Readiness: the database answers and its migrations are applied; else 503.

    A cache away (`degraded`) is reported, but is no reason to take the
    process out of rotation: the rate limits then count in each process.
    """
    problem = await db_call(readiness.database_problem)()
    if problem is not None:
        raise errors.NotReady(problem)
    return ReadyOut(status="ready", cache=await db_call(cache_state)())
