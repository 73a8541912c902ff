"""An ASGIHandler whose requests run their sync parts on long-lived threads.

Django's handler wraps each request in ThreadSensitiveContext(), which starts
a new OS thread for the request's sync work (middleware hooks, ORM calls,
signals) and joins it afterwards. Here each request borrows an idle thread
from a fixed set instead, and gives it back when done.

- A request only ever gets an idle thread, never one another request is
  using: a slow query holds up no other request. With every thread busy, a
  request falls back to Django's own behaviour (a fresh thread).
- A cancelled request (client gone) gives its thread back only after its
  sync work has ended: asgiref waits for it before the cancellation
  completes, so a lent thread is always free.
- Under an enclosing async_to_sync() (the test suite's rollback mode) the
  request keeps that call's thread, which holds the test's transaction.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import AsyncToSync, ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class LongLivedThreadsASGIHandler(ASGIHandler):
    def __init__(self, threads: int) -> None:
        super().__init__()
        self._idle: deque[ThreadPoolExecutor] = deque(
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{n}")
            for n in range(threads)
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(
                f"Django can only handle ASGI/HTTP connections, not {scope['type']}."
            )
        nested = getattr(AsyncToSync.executors, "current", None) is not None
        executor = self._idle.popleft() if self._idle and not nested else None
        if executor is None:
            async with ThreadSensitiveContext():
                await self.handle(scope, receive, send)
            return
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._idle.append(executor)
