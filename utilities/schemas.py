"""Response bodies and query parameters of the utilities and jobs APIs.

A utility's own request and response schemas are built from its signature
(registry.py); these are the catalogue and the jobs around them.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from utilities.models import Job


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


class JobOut(Schema):
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


class JobFilters(Schema):
    """Query parameters of the job list."""

    model_config = ConfigDict(extra="forbid")

    status: Job.Status | None = None
    utility: str | None = Field(None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
