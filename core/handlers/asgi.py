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

It also refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE with 413 while it
streams in: Django's handler would spool the whole body, to memory or disk,
before any size check. A declared Content-Length over the limit is refused
before reading; a chunked body once the bytes read pass it (by at most one
chunk).
"""

import asyncio
import functools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from queue import SimpleQueue
from typing import Any

from asgiref.sync import AsyncToSync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import connections
from django.urls import set_script_prefix
from psycopg_pool import PoolTimeout

from core.db.calls import (
    mark_keeper,
    release_connections,
    request_thread,
    run_on_kept_connection,
)
from core.errors import PayloadTooLarge, api_error_response
from core.request_log import request_id_from


class ThreadsBusy(PoolTimeout):
    """No request thread came free in time: every one holds a busy connection."""


def _settle(
    future: "asyncio.Future[Any]",
    result: Any,
    error: BaseException | None,
    after: Callable[[], None] | None,
) -> None:
    if not future.cancelled():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    if after is not None:
        after()


class RequestThread(Executor):
    """One long-lived thread that runs the calls it is given one at a time, in order.

    ThreadPoolExecutor(max_workers=1), and call(): a call whose result goes
    straight to the event loop (call_soon_threadsafe), not through a
    concurrent Future chained to an asyncio one by asyncio.wrap_future. A
    trip to the thread costs ~20 µs of CPU that way instead of ~48 (#6).
    Before it starts a call, the thread reads whether the caller has
    cancelled it (a plain flag read; the outcome itself is set on the loop).
    The thread starts with its first call. It is a daemon: it is idle when
    the server exits (uvicorn lets requests finish first).
    """

    def __init__(
        self, name: str, initializer: Callable[[], None] | None = None
    ) -> None:
        self._calls: SimpleQueue[Any] = SimpleQueue()
        self._thread = threading.Thread(
            target=self._work, args=(initializer,), name=name, daemon=True
        )
        self._start_lock = threading.Lock()
        self._shut = False

    def _put(self, item: Any) -> None:
        if self._shut:
            raise RuntimeError("cannot schedule new calls after shutdown")
        if self._thread.ident is None:
            with self._start_lock:
                if self._thread.ident is None:
                    self._thread.start()
        self._calls.put(item)

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        future: Future[Any] = Future()
        self._put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def call(
        self,
        fn: Callable[[], Any],
        future: "asyncio.Future[Any] | None" = None,
        after: Callable[[], None] | None = None,
    ) -> "asyncio.Future[Any]":
        """Run `fn` on the thread; its outcome, on the running loop (in `future`).

        `after` runs on the loop once the outcome is set, or once the call is
        skipped because its caller went away first.
        """
        if future is None:
            future = asyncio.get_running_loop().create_future()
        self._put((future, fn, after))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """End the thread once the calls given so far have run."""
        if self._shut:
            return
        self._shut = True
        if self._thread.ident is None:
            return
        self._calls.put(None)
        if wait:
            self._thread.join()

    def _work(self, initializer: Callable[[], None] | None) -> None:
        if initializer is not None:
            initializer()
        while (item := self._calls.get()) is not None:
            self._run_one(*item)
            del item  # no reference to a finished call's objects while idle

    @staticmethod
    def _run_one(
        future: "Future[Any] | asyncio.Future[Any]",
        fn: Callable[[], Any],
        after: Callable[[], None] | None = None,
    ) -> None:
        if isinstance(future, Future):
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:  # as concurrent.futures does
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            return
        error: BaseException | None = None
        result = None
        if not future.cancelled():  # else the caller went away before it started
            try:
                result = fn()
            except BaseException as exc:
                error = exc
        try:
            future.get_loop().call_soon_threadsafe(
                _settle, future, result, error, after
            )
        except RuntimeError:  # the loop has closed: nobody is waiting
            pass


def _copy_outcome(done: Future[Any], to: Future[Any]) -> None:
    if (error := done.exception()) is not None:
        to.set_exception(error)
    else:
        to.set_result(done.result())


class _Threads:
    """The long-lived request threads: the idle ones, and requests waiting for one.

    With `keep_connections`, there are no more threads than pool connections
    (config/asgi.py leaves one over) and each keeps its own connection from
    call to call; a call that finds every thread busy waits for one, up to
    `wait_s` (then ThreadsBusy, a 503, as a pool timeout would be). Without,
    a call that finds none idle starts a thread of its own, as Django's
    stock handler does.
    """

    def __init__(
        self, count: int, *, keep_connections: bool = False, wait_s: float = 2.0
    ) -> None:
        self.keep_connections = keep_connections
        self.wait_s = wait_s
        self.idle: deque[RequestThread] = deque(
            RequestThread(
                f"request-{n}", initializer=mark_keeper if keep_connections else None
            )
            for n in range(count)
        )
        self.all = tuple(self.idle)
        self.waiting: deque[_LentThread] = deque()

    def borrow(self) -> RequestThread:
        """An idle thread. Keeping connections, the most recently used one, so
        that only about as many threads as calls at once hold one."""
        return self.idle.pop() if self.keep_connections else self.idle.popleft()

    def give_back(self, executor: RequestThread) -> None:
        while self.waiting:
            if self.waiting.popleft().take(executor):
                return
        self.idle.append(executor)


class _LentThread(Executor):
    """One request's sync calls: a thread borrowed while any of them runs.

    The thread is borrowed by the first call that finds none borrowed, and
    given back when the last running call settles (on the loop). All state
    is touched on the event loop only.
    """

    def __init__(self, threads: _Threads) -> None:
        self._threads = threads
        self.borrowed: RequestThread | None = None
        self._own = False
        self._running = 0  # calls given to `borrowed` that have not settled
        # Calls made while every thread was busy, run once one is given back.
        # An asyncio future for call(), a concurrent one for submit().
        self._pending: list[
            tuple[Future[Any] | asyncio.Future[Any], Callable[[], Any]]
        ] = []
        self._expiry: asyncio.TimerHandle | None = None
        self.ended = False

    def _borrow(self) -> RequestThread | None:
        """The request's thread, borrowed now if need be; None if it must wait."""
        if self.ended:  # as asgiref refuses calls after the context's exit
            raise RuntimeError("the request this thread was lent to has ended")
        if self.borrowed is None and not self._pending:
            if self._threads.idle:
                self.borrowed = self._threads.borrow()
            elif self._threads.keep_connections:
                return None
            else:  # every long-lived thread is busy: a thread of its own
                self.borrowed = RequestThread("request-own")
                self._own = True
        return self.borrowed

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Future[Any]:
        thread = self._borrow()
        if thread is None:
            future: Future[Any] = Future()
            self._wait(future, functools.partial(fn, *args, **kwargs))
            return future
        return self._submit_to(thread, functools.partial(fn, *args, **kwargs))

    def _submit_to(self, thread: RequestThread, fn: Callable[[], Any]) -> Future[Any]:
        self._running += 1
        loop = asyncio.get_running_loop()
        future = thread.submit(self._run, fn)
        # Runs on the thread (or in whoever cancels it): settle on the loop.
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._settled))
        return future

    def call(self, fn: Callable[[], Any]) -> "asyncio.Future[Any]":
        """Run `fn` on a request thread (RequestThread.call)."""
        thread = self._borrow()
        if thread is None:
            future = asyncio.get_running_loop().create_future()
            self._wait(future, fn)
            return future
        self._running += 1
        return thread.call(functools.partial(self._run, fn), after=self._settled)

    def _settled(self) -> None:
        """A call has ended (or was skipped): give the thread back if it was the last."""
        self._running -= 1
        if self._running == 0:
            self._release()

    def _release(self) -> None:
        thread, self.borrowed = self.borrowed, None
        if thread is None:
            return
        if self._own:
            self._own = False
            thread.shutdown(wait=False)  # its thread ends once idle
        else:
            self._threads.give_back(thread)

    def _wait(
        self, future: "Future[Any] | asyncio.Future[Any]", fn: Callable[[], Any]
    ) -> None:
        """Queue the call for the next thread given back (on the loop)."""
        if not self._pending:  # the first call queued: wait in line
            self._threads.waiting.append(self)
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(self._threads.wait_s, self._expire)
        self._pending.append((future, fn))

    def _expire(self) -> None:
        if not self._pending:
            return
        self._threads.waiting.remove(self)
        pending, self._pending = self._pending, []
        for future, _ in pending:
            busy = ThreadsBusy(f"no request thread free after {self._threads.wait_s} s")
            if isinstance(future, Future):
                if future.set_running_or_notify_cancel():
                    future.set_exception(busy)
            elif not future.done():
                future.set_exception(busy)

    def take(self, executor: RequestThread) -> bool:
        """Run the queued calls on `executor`; False if all were cancelled meanwhile."""
        if self._expiry is not None:
            self._expiry.cancel()
        pending, self._pending = self._pending, []
        live = [
            (future, fn)
            for future, fn in pending
            if (
                future.set_running_or_notify_cancel()
                if isinstance(future, Future)
                else not future.cancelled()
            )
        ]
        if not live:
            return False  # the client went away while it waited
        self.borrowed = executor
        for future, fn in live:
            if isinstance(future, Future):
                inner = self._submit_to(executor, fn)
                inner.add_done_callback(functools.partial(_copy_outcome, to=future))
            else:  # straight back to the loop, as call() does
                self._running += 1
                executor.call(functools.partial(self._run, fn), future, self._settled)
        return True

    def _run(self, fn: Callable[[], Any]) -> Any:
        """On the thread: check a kept connection first, or give the
        connections back after (core/db/calls.py)."""
        if self._threads.keep_connections:
            return run_on_kept_connection(fn)
        try:
            return fn()
        finally:
            release_connections()

    def give_back(self) -> None:
        """The request has ended: the thread goes back once no call runs."""
        self.ended = True
        if self._pending:  # cancelled while it waited
            self._expire()
        if self._running == 0:
            self._release()


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
    def __init__(
        self, threads: int, *, keep_connections: bool = False, wait_s: float = 2.0
    ) -> None:
        super().__init__()
        self._threads = _Threads(
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
        try:
            receive = _limited(receive, scope, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            if getattr(AsyncToSync.executors, "current", None) is not None:
                async with ThreadSensitiveContext():  # nested: keep the caller's thread
                    await super().handle(scope, receive, send)
                return
            thread = _LentThread(self._threads)
            lent = request_thread.set(
                thread
            )  # core.db.calls.db_call goes straight to it
            try:
                async with ThreadSensitiveContext(executor=thread):
                    await self.handle_lent(scope, receive, send)
            finally:
                request_thread.reset(lent)
                thread.give_back()
        except BodyTooLarge:
            too_large = api_error_response(PayloadTooLarge())
            too_large["Connection"] = "close"  # the rest of the body is not read
            # Refused before the middleware: give it the id they would have.
            sent = dict(scope.get("headers", ())).get(b"x-request-id", b"")
            too_large["X-Request-ID"] = request_id_from(sent.decode("latin-1"))
            await self.send_response(too_large, send)

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
