"""An ASGIHandler whose requests run their sync parts on long-lived threads.

Django's handler wraps each request in ThreadSensitiveContext(), which starts
a new OS thread for the request's sync work (ORM calls, sync signal
receivers, a session save) and joins it afterwards, and it always ends the
request with one more trip to that thread to close the response. Here:

- A request borrows an idle thread from a fixed set the first time it has
  sync work, and gives it back when it ends. It only ever gets an idle
  thread, never one another request is using, so a slow query holds up no
  other request; with every thread busy it starts its own, as Django does.
- A request that did no sync work (the health check, a cached answer, an
  error found on the loop) borrows no thread at all, and one whose database
  work all went through config.db.db_call holds no connection at its end:
  either way its response is closed on the event loop. Closing sends
  request_finished, whose one sync receiver of note, close_old_connections,
  then has nothing to close. Otherwise the response is closed on the thread,
  which gives the connection back to the pool.
- A cancelled request (client gone) gives its thread back only after its
  sync work has ended: asgiref waits for it before the cancellation
  completes, so a lent thread is always free.
- Under an enclosing async_to_sync() (the test suite's rollback mode) the
  request keeps that call's thread, which holds the test's transaction.

It also refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413 while it
streams in: Django's handler would spool the whole body, to memory or disk,
before any size check. A declared Content-Length over the limit is refused
before reading; a chunked body once the bytes read pass it (by at most one
chunk).
"""

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import AsyncToSync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import JsonResponse
from django.urls import set_script_prefix

from config.db import holds_connection
from config.errors import PayloadTooLarge, error_body


class _LentThread(Executor):
    """One request's thread: borrowed from the idle set at its first sync call."""

    def __init__(self, idle: deque[ThreadPoolExecutor]) -> None:
        self._idle = idle
        self.borrowed: ThreadPoolExecutor | None = None
        self._own = False
        # Whether the thread kept a database connection open after its last
        # call. Django's connections are thread-local, so only the thread
        # itself can tell.
        self.holds_connection = False

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        if self.borrowed is None:
            if self._idle:
                self.borrowed = self._idle.popleft()
            else:  # every long-lived thread is busy: a thread of its own
                self.borrowed = ThreadPoolExecutor(max_workers=1)
                self._own = True
        return self.borrowed.submit(self._run, fn, *args, **kwargs)

    def _run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self.holds_connection = holds_connection()

    def give_back(self) -> None:
        if self.borrowed is None:
            return
        if self._own:
            self.borrowed.shutdown(wait=False)  # its thread ends once idle
        else:
            self._idle.append(self.borrowed)
        self.borrowed = None


class BodyTooLarge(Exception):
    """The request body is over the limit: answer 413 without reading on."""


def _limited(receive: Any, scope: Any, limit: int | None) -> Any:
    """`receive`, raising BodyTooLarge once the body passes `limit` bytes."""
    if limit is None:
        return receive
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge()
    read = 0

    async def limited_receive() -> Any:
        nonlocal read
        message = await receive()
        read += len(message.get("body", b""))
        if read > limit:
            raise BodyTooLarge()
        return message

    return limited_receive


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
        try:
            receive = _limited(receive, scope, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            if getattr(AsyncToSync.executors, "current", None) is not None:
                async with ThreadSensitiveContext():  # nested: keep the caller's thread
                    await super().handle(scope, receive, send)
                return
            thread = _LentThread(self._idle)
            try:
                async with ThreadSensitiveContext(executor=thread):
                    await self.handle_lent(scope, receive, send, thread)
            finally:
                thread.give_back()
        except BodyTooLarge:
            too_large = JsonResponse(
                error_body(detail=PayloadTooLarge.detail, code=PayloadTooLarge.code),
                status=413,
            )
            too_large["Connection"] = "close"  # the rest of the body is not read
            await self.send_response(too_large, send)

    async def handle_lent(
        self, scope: Any, receive: Any, send: Any, thread: _LentThread
    ) -> None:
        """Django 5.2's ASGIHandler.handle(), but the response is closed on
        the event loop when the request never used a thread (see above)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await signals.request_started.asend(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # as Django: one or the other
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close)()
            return

        async def process_request(request: Any, send: Any) -> Any:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client disconnected during send_response
            return response

        # As Django: listen for a disconnect while the response is made.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            if not thread.holds_connection:
                response.close()  # no connection to give back on a thread
            else:
                await sync_to_async(response.close)()
        body_file.close()
