"""Response bodies and query parameters of the utilities and jobs APIs.

A utility's own request and response schemas are built from its signature
(registry.py); these are the catalogue and the jobs around them.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args

from ninja import Schema
from pydantic import ConfigDict, Discriminator, Field, Tag, create_model

from utilities.models import Job
from utilities.registry import Utility, utility_camel


class UtilityOut(Schema):
    """One served function, as the catalogue describes it."""

    name: str
    summary: str
    description: str
    parameters: dict[str, Any] = Field(
        description="JSON Schema of the arguments object."
    )
    returns: dict[str, Any] = Field(description="JSON Schema of `result`.")
    execution: Literal["inline", "thread", "process"]
    timeout_s: float
    job: bool = Field(description="Whether it can run as a job.")


class JobError(Schema):
    """Why a job failed."""

    code: str
    detail: str


class JobBase(Schema):
    """A job: its state, progress and outcome."""

    id: uuid.UUID
    utility: str
    status: Job.Status
    progress: float | None = Field(
        description="0-1 while running, if the function reports it."
    )
    result: Any = Field(description="The return value, once succeeded.")
    error: JobError | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _utility_of(value: Any) -> str:
    """The union's tag: a Job instance's `utility`, or a dict's."""
    if isinstance(value, dict):
        return str(value.get("utility"))
    return str(getattr(value, "utility", ""))


def job_schema(utilities: Iterable[Utility]) -> Any:
    """The job answer, typed per job-capable utility (#17): one schema each,
    `<Name>Job`, whose `utility` is that name and whose `result` is that
    utility's result; more than one make a union tagged by `utility`."""
    models = []
    for utility in utilities:
        # Types known only at run time, from the utility's signature.
        tag: Any = Literal[utility.name]
        result_type = utility.result_model.model_fields["result"].annotation
        returns: Any = Union[result_type, None]  # noqa: UP007
        model = create_model(
            f"{utility_camel(utility.name)}Job",
            __base__=JobBase,
            __doc__=f"A {utility.name} job: its state, progress and outcome.",
            utility=(tag, ...),
            result=(
                returns,
                Field(description=f"What {utility.name} returned, once succeeded."),
            ),
        )
        models.append(Annotated[model, Tag(utility.name)])
    if not models:
        return JobBase
    if len(models) == 1:
        return get_args(models[0])[0]
    return Annotated[Union[tuple(models)], Discriminator(_utility_of)]  # noqa: UP007


class JobFilters(Schema):
    """Query parameters of the job list."""

    model_config = ConfigDict(extra="forbid")

    status: Job.Status | None = None
    utility: str | None = Field(None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
