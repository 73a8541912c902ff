"""The NinjaAPI: routers, error handlers and the health endpoint."""

from django.http import HttpRequest
from ninja import NinjaAPI, Schema

from config import errors
from users.api import router as users_router

api = NinjaAPI(
    title="Ninja Service API",
    version="1.0.0",
    description="Users and typed utilities, served by async Django Ninja.",
)
errors.install(api)

api.add_router("/users", users_router)


class HealthOut(Schema):
    status: str


@api.get("/health", response=HealthOut, tags=["operations"])
async def get_health(request: HttpRequest) -> HealthOut:
    """Answer while the process can serve requests; never touches the database."""
    return HealthOut(status="ok")
