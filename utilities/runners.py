"""How a utility runs: inline, in a thread or in a process pool, within limits.

Only this module knows pools, time limits and slots. Per server process and
per utility there are `concurrency` slots and a queue of `queue_size`; a call
beyond both is refused at once (503), a call that waited `queue_wait_s` for a
slot is refused too. Process calls run in a pebble pool: a worker that
overruns its time limit is killed and replaced, so it cannot keep a core.
"""

import asyncio
import concurrent.futures
import contextvars
import functools
import multiprocessing
import os
import queue
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from pebble import ProcessFuture, ProcessPool
from pydantic import BaseModel

from core import metrics
from core.errors import ApiError
from utilities.errors import JobCancelled, UtilityBusy, UtilityRejected, UtilityTimeout
from utilities.functions.progress import call_forwarding_progress, reporting_to
from utilities.registry import Utility


@dataclass(frozen=True)
class Limits:
    """The limits one call of a utility runs under."""

    timeout_s: float
    concurrency: int
    queue_size: int
    queue_wait_s: float
    max_body_bytes: int


def limits_for(utility: Utility) -> Limits:
    """Return the limits in force: settings override, then registration, then default."""
    overrides = settings.UTILITIES_OVERRIDES.get(utility.name, {})

    def pick(key: str, registered: float | None, default: float) -> float:
        return overrides.get(key, registered if registered is not None else default)

    return Limits(
        timeout_s=pick("timeout_s", utility.timeout_s, settings.UTILITIES_TIMEOUT_S),
        concurrency=int(
            pick("concurrency", utility.concurrency, settings.UTILITIES_CONCURRENCY)
        ),
        queue_size=int(pick("queue_size", None, settings.UTILITIES_QUEUE_SIZE)),
        queue_wait_s=pick("queue_wait_s", None, settings.UTILITIES_QUEUE_WAIT_S),
        max_body_bytes=int(
            pick(
                "max_body_bytes",
                utility.max_body_bytes,
                settings.UTILITIES_MAX_BODY_BYTES,
            )
        ),
    )


class _Gate:
    """The slots and the short queue of one utility, in one event loop."""

    def __init__(self, slots: int) -> None:
        self.semaphore = asyncio.Semaphore(slots)
        self.waiting_or_running = 0

    async def enter(self, limits: Limits) -> Callable[[], None]:
        """Take a slot, or raise UtilityBusy; return the function that frees it."""
        if self.waiting_or_running >= limits.concurrency + limits.queue_size:
            raise UtilityBusy()
        self.waiting_or_running += 1
        try:
            if self.semaphore.locked():
                await asyncio.wait_for(self.semaphore.acquire(), limits.queue_wait_s)
            else:  # a free slot: taken at once, without wait_for's task (#6)
                await self.semaphore.acquire()
        except TimeoutError:
            self.waiting_or_running -= 1
            raise UtilityBusy() from None
        except BaseException:
            self.waiting_or_running -= 1
            raise

        def leave() -> None:
            self.semaphore.release()
            self.waiting_or_running -= 1

        return leave


# asyncio primitives belong to one loop: tests run many, a server one per process.
_gates: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, int], _Gate]
] = weakref.WeakKeyDictionary()

_lock = threading.Lock()
_process_pool: ProcessPool | None = None
_thread_pool: concurrent.futures.ThreadPoolExecutor | None = None
_manager: SyncManager | None = None


def _gate(name: str, slots: int) -> _Gate:
    gates = _gates.setdefault(asyncio.get_running_loop(), {})
    return gates.setdefault((name, slots), _Gate(slots))


def _mp_context() -> Any:
    # forkserver: workers are forked from a clean single-threaded server, not
    # from this process with its event loop, thread pools and DB connections.
    return multiprocessing.get_context("forkserver")


def process_pool() -> ProcessPool:
    """Return the process pool, (re)creating it if it is missing or broken."""
    global _process_pool
    with _lock:
        if _process_pool is None or not _process_pool.active:
            _process_pool = ProcessPool(
                max_workers=settings.UTILITIES_PROCESS_WORKERS,
                context=_mp_context(),
                initializer=os.nice,  # workers yield the CPU to the event loop
                initargs=(settings.UTILITIES_PROCESS_NICE,),
            )
        return _process_pool


def process_worker_pids() -> set[int]:
    """Return the pids of the process pool's live workers (for tests and metrics)."""
    pool = process_pool()
    return set(pool._pool_manager.worker_manager.workers)


def _threads() -> concurrent.futures.ThreadPoolExecutor:
    global _thread_pool
    with _lock:
        if _thread_pool is None:
            _thread_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=settings.UTILITIES_THREAD_WORKERS,
                thread_name_prefix="utility",
            )
        return _thread_pool


def arguments_of(args: BaseModel) -> dict[str, Any]:
    """Return validated arguments as keyword arguments (Python values, not JSON)."""
    return {name: getattr(args, name) for name in type(args).model_fields}


def _translate(exc: BaseException) -> BaseException:
    """Map what a function raised to the API's answer; others stay as they are."""
    if isinstance(exc, TimeoutError):
        return UtilityTimeout()
    if isinstance(exc, ValueError):
        return UtilityRejected(str(exc) or UtilityRejected.detail)
    return exc


async def call(utility: Utility, args: BaseModel) -> Any:
    """Run a utility within its limits and return its result.

    Raises UtilityBusy (503), UtilityTimeout (504), UtilityRejected (422, the
    function raised ValueError) or whatever else the function raised (500).
    """
    outcome = "error"
    try:
        result = await _call(utility, args)
    except ApiError as exc:
        outcome = exc.code
        raise
    else:
        outcome = "ok"
        return result
    finally:
        metrics.utility_calls.labels(utility.name, outcome).inc()


async def _call(utility: Utility, args: BaseModel) -> Any:
    limits = limits_for(utility)
    kwargs = arguments_of(args)
    leave = await _gate(utility.name, limits.concurrency).enter(limits)
    handed_off = False
    try:
        if utility.execution == "process":
            future: ProcessFuture[Any] = process_pool().schedule(
                utility.func, kwargs=kwargs, timeout=limits.timeout_s
            )
            # Cancelling the await (client gone) cancels the future: pebble
            # kills that worker.
            return await asyncio.wrap_future(future)
        if utility.execution == "thread":
            call_in_context = functools.partial(
                contextvars.copy_context().run, utility.func, **kwargs
            )
            running = asyncio.get_running_loop().run_in_executor(
                _threads(), call_in_context
            )
            # A thread cannot be stopped: its slot stays taken until it ends,
            # so overrunning calls still count against the bound.
            running.add_done_callback(lambda _: leave())
            handed_off = True
            return await asyncio.wait_for(asyncio.shield(running), limits.timeout_s)
        if utility.is_async:
            return await asyncio.wait_for(utility.func(**kwargs), limits.timeout_s)
        return utility.func(**kwargs)  # inline sync: cheap by declaration
    except Exception as exc:
        raise _translate(exc) from exc
    finally:
        if not handed_off:
            leave()


def _progress_queue() -> "queue.Queue[float]":
    global _manager
    with _lock:
        if _manager is None:
            _manager = _mp_context().Manager()  # started: a small server process
        return _manager.Queue()


def run_for_job(
    utility: Utility,
    kwargs: dict[str, Any],
    *,
    on_progress: Callable[[float], None],
    cancelled: Callable[[], bool],
    poll_s: float = 0.2,
) -> Any:
    """Run a utility to completion in a job worker, reporting progress.

    Blocking; called from the job task. A process function is killed as soon
    as `cancelled()` turns true or its time limit passes; other functions are
    cancelled cooperatively, when they report progress. Raises JobCancelled,
    UtilityTimeout, UtilityRejected or what the function raised.
    """
    limits = limits_for(utility)
    try:
        if utility.execution == "process":
            reports = _progress_queue()
            future = process_pool().schedule(
                call_forwarding_progress,
                args=(utility.func, kwargs, reports),
                timeout=limits.timeout_s,
            )
            while True:
                done, _ = concurrent.futures.wait([future], timeout=poll_s)
                latest = None
                while True:
                    try:
                        latest = reports.get_nowait()
                    except queue.Empty:
                        break
                if latest is not None:
                    on_progress(latest)
                if done:
                    return future.result()
                if cancelled():
                    future.cancel()  # type: ignore[no-untyped-call]  # pebble kills the worker
                    raise JobCancelled()

        def report(fraction: float) -> None:
            on_progress(fraction)
            if cancelled():
                raise JobCancelled()

        with reporting_to(report):
            if utility.is_async:

                async def bounded() -> Any:
                    return await asyncio.wait_for(
                        utility.func(**kwargs), limits.timeout_s
                    )

                return async_to_sync(bounded)()
            return utility.func(**kwargs)
    except JobCancelled:
        raise
    except Exception as exc:
        raise _translate(exc) from exc
