"""Views that show which thread runs a request's sync work (tests/core/test_asgi_handler*.py)."""

import asyncio
import threading
import time

import structlog
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path

from core.db.calls import db_call
from users.models import User


def _work(seconds: float) -> int:
    time.sleep(seconds)  # a slow query, as far as the thread is concerned
    return threading.get_ident()


async def sync_work(request: HttpRequest) -> JsonResponse:
    seconds = float(request.GET.get("seconds", "0"))
    thread = await sync_to_async(_work)(seconds)
    return JsonResponse({"thread": thread})


async def db_call_work(request: HttpRequest) -> JsonResponse:
    """sync_work through db_call: straight to the request's thread."""
    seconds = float(request.GET.get("seconds", "0"))
    thread = await db_call(_work)(seconds)
    return JsonResponse({"thread": thread})


def _slow_query(seconds: float) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_sleep(%s)", [seconds])
        else:
            cursor.execute("SELECT 1")
            time.sleep(seconds)
    return threading.get_ident()


async def slow_query(request: HttpRequest) -> JsonResponse:
    thread = await sync_to_async(_slow_query)(float(request.GET["seconds"]))
    return JsonResponse({"thread": thread})


def _count_users() -> tuple[int, int]:
    return User.objects.count(), threading.get_ident()


async def count_users(request: HttpRequest) -> JsonResponse:
    count, thread = await sync_to_async(_count_users)()
    return JsonResponse({"users": count, "thread": thread})


async def count_users_released(request: HttpRequest) -> JsonResponse:
    count, thread = await db_call(_count_users)()
    return JsonResponse({"users": count, "thread": thread})


def _where() -> dict[str, object]:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return {"thread": threading.current_thread().name, "request_id": request_id}


async def where(request: HttpRequest) -> JsonResponse:
    """Where db_call and sync_to_async run a request's sync work, and in what context."""
    return JsonResponse(
        {
            "db_call": await db_call(_where)(),
            "sync_to_async": await sync_to_async(_where)(),
        }
    )


LEFT_BEHIND: list["asyncio.Task[object]"] = []


async def leave_a_task(request: HttpRequest) -> JsonResponse:
    """Answer at once, leaving a task that wants the thread after the request."""

    async def later() -> object:
        await asyncio.sleep(0.1)
        return await db_call(_where)()

    await db_call(_where)()  # the request has borrowed a thread
    LEFT_BEHIND.append(asyncio.create_task(later()))
    return JsonResponse({})


CANCELLED: list[str] = []


async def wait_on_loop(request: HttpRequest) -> JsonResponse:
    """Wait on the event loop; note it if the wait is cancelled."""
    try:
        await asyncio.sleep(float(request.GET["seconds"]))
    except asyncio.CancelledError:
        CANCELLED.append(request.path)
        raise
    return JsonResponse({})


FAILING_QUERIES = {
    "data": "SELECT 1 / 0",  # a DataError: Django trusts the session after it
    "programming": "SELECT * FROM no_such_table",  # Django doubts the session
}


def _backend(fail: str | None) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        if fail:
            cursor.execute(FAILING_QUERIES[fail])
    return pid, threading.get_ident()


async def backend(request: HttpRequest) -> JsonResponse:
    """The database session (server pid) and thread a request's query used."""
    try:
        pid, thread = await db_call(_backend)(request.GET.get("fail"))
    except DatabaseError as exc:
        return JsonResponse({"error": type(exc).__name__}, status=503)
    return JsonResponse({"pid": pid, "thread": thread})


def _create_then_fail(email: str) -> None:
    with transaction.atomic():
        User.objects.create_user(email=email, name="Half", password=None)
        raise RuntimeError("fails after the insert, inside the transaction")


async def create_then_fail(request: HttpRequest) -> JsonResponse:
    await sync_to_async(_create_then_fail)(request.GET["email"])
    return JsonResponse({})  # never reached


urlpatterns = [
    path("work", sync_work),
    path("work-db-call", db_call_work),
    path("slow-query", slow_query),
    path("users", count_users),
    path("users-released", count_users_released),
    path("backend", backend),
    path("create-then-fail", create_then_fail),
    path("where", where),
    path("leave-a-task", leave_a_task),
    path("wait", wait_on_loop),
]
