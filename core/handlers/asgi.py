"""An ASGIHandler whose requests run their sync parts on long-lived threads.

Django's handler wraps each request in ThreadSensitiveContext(), which starts
a new OS thread for the request's sync work (ORM calls, sync signal
receivers, a session save) and joins it afterwards, and it always ends the
request with one more trip to that thread to close the response. Here:

- A request holds a thread only while one of its sync calls runs (#16). Its
  first call borrows an idle thread from a fixed set; the thread goes back as
  soon as the request has no call left running, so a request that awaits
  (a utility, the process pool, a queue slot, a slow client, another call)
  holds no thread and no connection. The calls of one request run one at a
  time, in order, as under ThreadSensitiveContext. A call only ever gets an
  idle thread, never one another request is using, so a slow query holds up
  no other request; with every thread busy it starts its own, as Django does,
  or, where threads keep their connections, waits for one (up to `wait_s`,
  then ThreadsBusy: the database is what every thread is busy with).
- With `keep_connections` (config/asgi.py: on with the PostgreSQL pool) each
  thread keeps its database connection between calls (Django's connections
  are thread-local): no pool checkout per call, and no trip to the thread to
  give it back. There is one thread per pool connection but one, so the
  threads cannot drain the pool. Before each call a kept connection is
  checked without a round trip (core.db.calls.drop_unusable_connections): one
  the server has closed is replaced before the call uses it. A transaction
  lives inside one call (a sync service under transaction.atomic), so a
  connection in a transaction never changes hands.
- Without, each call gives its connections back when it ends (to the pool,
  or closed, as request_finished would), so no thread holds one while idle.
- The response is closed on the event loop: no thread holds a connection by
  then. Closing sends request_finished, whose one sync receiver of note,
  close_old_connections, then has nothing to close.
- The view runs in the request's own task; a second task listens for the
  client going away and cancels it (Django runs the view as one more task
  and waits on both). Cancellation from outside (server shutdown) is not
  taken for a disconnect: it propagates.
- A call whose caller was cancelled (client gone) keeps its thread until it
  has ended: the thread goes back only once no call of the request runs.
- Under an enclosing async_to_sync() (the test suite's rollback mode) the
  request keeps that call's thread, which holds the test's transaction.

Trade-off measured in #16 (docs/configuration.md, "Request threads and
connections"): a thread per call costs a deque pop and append per call
instead of per request, and a request with two calls may run them on two
threads; in exchange a request that waits for anything but its own sync work
holds nothing.

The threads are in core/handlers/threads.py; this module is the handler
proper. It serves with DJANGO_FAST_PATH on (config/asgi.py); the invariants
and the Django internals it relies on are in core/handlers/README.md.
"""

import asyncio
from typing import Any

from asgiref.sync import AsyncToSync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import connections
from django.urls import set_script_prefix

from core.db.calls import request_thread
from core.handlers.threads import LentThread, Threads


class LongLivedThreadsASGIHandler(ASGIHandler):
    def __init__(
        self, threads: int, *, keep_connections: bool = False, wait_s: float = 2.0
    ) -> None:
        super().__init__()
        self._threads = Threads(
            threads, keep_connections=keep_connections, wait_s=wait_s
        )

    def close_connections(self) -> None:
        """Close the connections the threads keep (tests, before dropping a database)."""
        for executor in self._threads.all:
            executor.submit(connections.close_all).result()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(
                f"Django can only handle ASGI/HTTP connections, not {scope['type']}."
            )
        if getattr(AsyncToSync.executors, "current", None) is not None:
            async with ThreadSensitiveContext():  # nested: keep the caller's thread
                await super().handle(scope, receive, send)
            return
        thread = LentThread(self._threads)
        lent = request_thread.set(thread)  # core.db.calls.db_call goes straight to it
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle_lent(scope, receive, send)
        finally:
            request_thread.reset(lent)
            thread.give_back()

    async def handle_lent(self, scope: Any, receive: Any, send: Any) -> None:
        """Django 5.2's ASGIHandler.handle(), but the view runs in this task
        and the response is closed on the event loop (see above)."""
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

        # As Django: a client that goes away cancels the response being made.
        # Django runs the view and a disconnect listener as two tasks under
        # asyncio.wait(); here the view runs in this task, and the listener
        # cancels it (about a sixth of the health check's CPU, #6).
        this = asyncio.current_task()
        assert this is not None
        gone: list[BaseException] = []  # what the listener found

        async def cancel_on_disconnect() -> None:
            try:
                await self.listen_for_disconnect(receive)
            except (RequestAborted, AssertionError) as exc:
                gone.append(exc)
                this.cancel()

        listener = asyncio.create_task(cancel_on_disconnect())
        response = None
        try:
            response = await self.run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if not gone:  # cancelled from outside (server shutdown)
                raise
        finally:
            listener.cancel()
        if gone:
            this.uncancel()
            if isinstance(gone[0], AssertionError):  # not a disconnect: as Django
                body_file.close()
                raise gone[0]
        if response is None:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            response.close()  # no thread holds a connection of the request
        body_file.close()
