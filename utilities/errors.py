"""Domain errors of the utilities API."""

from core.errors import ApiError, NotFound


class UtilityRejected(ApiError):
    """The function refused its input (it raised ValueError)."""

    status_code = 422
    code = "rejected"
    detail = "The function refused its input."


class UtilityBusy(ApiError):
    status_code = 503
    code = "utility_busy"
    detail = "All slots for this function are taken; retry shortly."
    headers = {"Retry-After": "1"}


class UtilityTimeout(ApiError):
    status_code = 504
    code = "timeout"
    detail = "The function did not finish within its time limit."


class JobCancelled(Exception):
    """Raised inside a running job when its cancellation was requested."""


class JobNotFound(NotFound):
    code = "job_not_found"
    detail = "No job with this id."


class JobFinished(ApiError):
    status_code = 409
    code = "job_finished"
    detail = "The job has already finished and cannot be cancelled."
