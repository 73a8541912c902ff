"""Views that show which thread runs a request's sync work (tests/test_asgi_handler.py)."""

import threading
import time

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.urls import path


def _work(seconds: float) -> int:
    time.sleep(seconds)  # a slow query, as far as the thread is concerned
    return threading.get_ident()


async def sync_work(request: HttpRequest) -> JsonResponse:
    seconds = float(request.GET.get("seconds", "0"))
    thread = await sync_to_async(_work)(seconds)
    return JsonResponse({"thread": thread})


urlpatterns = [path("work", sync_work)]
