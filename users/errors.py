"""Domain errors of the users API."""

from core.errors import ApiError, NotFound


class UserNotFound(NotFound):
    code = "user_not_found"
    detail = "No user with this id."


class BadCredentials(ApiError):
    """A wrong email or a wrong password: the same answer for both."""

    status_code = 401
    code = "unauthenticated"
    detail = "Authentication required: send a valid bearer token or log in."
    headers = {"WWW-Authenticate": 'Bearer realm="api"'}


class EmailTaken(ApiError):
    status_code = 409
    code = "email_taken"
    detail = "A user with this email already exists."
