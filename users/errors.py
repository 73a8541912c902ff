"""Domain errors of the users API."""

from core.errors import ApiError, NotFound


class UserNotFound(NotFound):
    code = "user_not_found"
    detail = "No user with this id."


class EmailTaken(ApiError):
    status_code = 409
    code = "email_taken"
    detail = "A user with this email already exists."
