"""The long-lived request threads, lent to a request one sync call at a time.

See core/handlers/asgi.py for the design: a call borrows an idle thread,
the thread goes back when the request has no call left running, and with
`keep_connections` each thread keeps its database connection. (Over 300
lines: its three classes keep one invariant together, that a thread is only
ever lent while free, and are read together.)
"""

import asyncio
import functools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from queue import SimpleQueue
from typing import Any

from psycopg_pool import PoolTimeout

from core.db.calls import mark_keeper, release_connections, run_on_kept_connection


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


class Threads:
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
        self.waiting: deque[LentThread] = deque()

    def borrow(self) -> RequestThread:
        """An idle thread. Keeping connections, the most recently used one, so
        that only about as many threads as calls at once hold one."""
        return self.idle.pop() if self.keep_connections else self.idle.popleft()

    def give_back(self, executor: RequestThread) -> None:
        while self.waiting:
            if self.waiting.popleft().take(executor):
                return
        self.idle.append(executor)


class LentThread(Executor):
    """One request's sync calls: a thread borrowed while any of them runs.

    The thread is borrowed by the first call that finds none borrowed, and
    given back when the last running call settles (on the loop). All state
    is touched on the event loop only.
    """

    def __init__(self, threads: Threads) -> None:
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
