"""HTTP handlers of /api/utilities and /api/jobs, built from a registry.

Each registered function gets `POST /utilities/{name}` (and, if it can run
as a job, `POST /utilities/{name}/jobs`) with its own schemas, so the
OpenAPI document and generated clients see real types.
"""

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from ninja import Query, Router, Status
from ninja.decorators import decorate_view
from ninja.pagination import paginate

from core.errors import PayloadTooLarge, api_error_response, error_responses
from core.openapi import sends_location
from core.pagination import LimitOffsetPagination
from core.throttling import JobThrottle
from users.authentication import actor
from utilities import runners, selectors, services
from utilities.models import Job
from utilities.registry import Registry, Utility
from utilities.schemas import JobFilters, UtilityOut, job_schema

Run = Callable[..., Awaitable[HttpResponseBase]]


def _body_limit(utility: Utility) -> Callable[[Run], Run]:
    """Refuse a body over the utility's `max_body_bytes` with 413, before parsing."""

    def decorator(run: Run) -> Run:
        @functools.wraps(run)
        async def limited(
            request: HttpRequest, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            limit = runners.limits_for(utility).max_body_bytes
            try:
                too_large = len(request.body) > limit
            except RequestDataTooBig:
                too_large = True
            if too_large:
                return api_error_response(PayloadTooLarge())
            return await run(request, *args, **kwargs)

        return limited

    return decorator


def _catalogue_entry(utility: Utility) -> UtilityOut:
    return UtilityOut(
        name=utility.name,
        summary=utility.summary,
        description=utility.description,
        parameters=utility.parameters_schema(),
        returns=utility.returns_schema(),
        execution=utility.execution,
        timeout_s=runners.limits_for(utility).timeout_s,
        job=utility.job,
    )


def _add_call(router: Router, utility: Utility) -> None:
    args_model = utility.args_model

    async def call(request: HttpRequest, payload: args_model) -> dict[str, Any]:  # type: ignore[valid-type]  # built from the signature
        return {"result": await runners.call(utility, payload)}

    call.__name__ = f"call_{utility.name}"
    route = router.post(
        f"/{utility.name}",
        response={
            200: utility.result_model,
            **error_responses(400, 413, 422, 503, 504),
        },
        summary=utility.summary,
        description=utility.description,
    )
    decorate_view(_body_limit(utility))(route(call))


def _add_submit(router: Router, utility: Utility, job_out: Any) -> None:
    args_model = utility.args_model

    async def submit(
        request: HttpRequest,
        response: HttpResponse,
        payload: args_model,  # type: ignore[valid-type]  # built from the signature
    ) -> Status[Job]:
        job = await services.job_submit(
            actor=actor(request), utility=utility, args=payload
        )
        namespace = request.resolver_match.namespace if request.resolver_match else ""
        response["Location"] = reverse(
            f"{namespace}:get_job", kwargs={"job_id": job.pk}
        )
        return Status(202, job)

    submit.__name__ = f"submit_{utility.name}_job"
    route = router.post(
        f"/{utility.name}/jobs",
        response={202: job_out, **error_responses(400, 401, 413, 422, 429)},
        openapi_extra=sends_location(202),
        throttle=[JobThrottle("1/s")],
        summary=f"Submit a {utility.name} job",
        description=(
            f"Run `{utility.name}` in the background; poll the job at the `Location` "
            f"header.\n\n{utility.description}"
        ),
    )
    decorate_view(_body_limit(utility))(route(submit))


def build_utilities_router(registry: Registry) -> Router:
    """Return a router serving every utility of `registry` and its catalogue."""
    router = Router(tags=["utilities"])

    @router.get("", response=list[UtilityOut])
    async def list_utilities(request: HttpRequest) -> list[UtilityOut]:
        """List the served functions with their schemas and limits."""
        return [_catalogue_entry(utility) for utility in registry]

    for utility in registry:
        _add_call(router, utility)
        if utility.job:
            _add_submit(router, utility, job_schema([utility]))
    return router


def build_jobs_router(registry: Registry) -> Router:
    """Return the router of /jobs, its answers typed per job-capable utility."""
    job_out = job_schema(utility for utility in registry if utility.job)
    router = Router(tags=["jobs"])

    @router.get(
        "",
        response={200: list[job_out], **error_responses(401, 422, 429)},  # type: ignore[valid-type]  # built from the registry
    )
    @paginate(LimitOffsetPagination)
    async def list_jobs(request: HttpRequest, filters: Query[JobFilters]) -> object:
        """List jobs, newest first, filtered by `status` and `utility`."""
        return selectors.job_list(actor=actor(request), **filters.model_dump())

    @router.get(
        "/{job_id}", response={200: job_out, **error_responses(401, 404, 422, 429)}
    )
    async def get_job(request: HttpRequest, job_id: uuid.UUID) -> Job:
        """Return a job: status, progress, and its result or error once finished."""
        return await selectors.job_get(actor=actor(request), job_id=job_id)

    @router.post(
        "/{job_id}/cancel",
        response={
            200: job_out,
            202: job_out,
            **error_responses(401, 404, 409, 422, 429),
        },
    )
    async def cancel_job(request: HttpRequest, job_id: uuid.UUID) -> Status[Job]:
        """Cancel a job: a queued one at once (200), a running one soon (202).

        A running job stops at its next progress report or poll, and then shows
        `cancelled`. A finished job cannot be cancelled (409). The job stays
        readable either way, which is why this is not a DELETE.
        """
        job = await services.job_cancel(actor=actor(request), job_id=job_id)
        return Status(200 if job.status == Job.Status.CANCELLED else 202, job)

    return router
