"""A py-spy profile of a server under load, summed per layer."""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import math
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness.machine import (
    CLIENT_CPU,
    LOAD_PROCESSES,
    RESULTS,
    ROOT,
    loop_share,
    own_and_main_thread_cpu,
    tree_cpu_seconds,
)
from bench.harness.servers import Database, Server, delete_created_users, kill_load
from bench.harness.wrk import Endpoint, run_wrk

# Named layers, by the start of a frame's file path relative to site-packages,
# the project or the standard library. Frames of other standard-library
# modules (re, copy, inspect, asyncio's futures and tasks, ...) count towards
# their caller's layer: asyncio.wrap_future called by asgiref is a thread hop.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("thread hops: asgiref, concurrent.futures, threading, queue",
     ("asgiref/", "concurrent/", "threading.py", "queue.py")),
    ("event loop: uvloop and the callbacks it runs (incl. thread results)",
     ("asyncio/runners.py", "asyncio/base_events.py", "asyncio/events.py",
      "uvloop/", "selectors.py")),
    ("uvicorn, httptools", ("uvicorn/", "httptools/")),
    ("django request/response (core.handlers, http)",
     ("django/core/handlers/", "django/http/")),
    ("django middleware (MiddlewareMixin, middleware, contrib, corsheaders, servestatic)",
     ("django/utils/deprecation.py", "django/middleware/", "django/contrib/",
      "corsheaders/", "servestatic/")),
    ("django.core.cache (throttle history, failed-auth counter)",
     ("django/core/cache/",)),
    ("django.db (ORM, backend, close_old_connections)", ("django/db/",)),
    ("django.urls (routing)", ("django/urls/",)),
    ("django.dispatch (signals)", ("django/dispatch/",)),
    ("django (other: utils, conf)", ("django/",)),
    ("ninja", ("ninja/",)),
    ("pydantic, pydantic_core", ("pydantic/", "pydantic_core/")),
    ("psycopg, psycopg_pool", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
    ("project code (config, users, utilities)",
     ("<project>/config/", "<project>/users/", "<project>/utilities/")),
    ("fastapi, starlette", ("fastapi/", "starlette/")),
    ("sqlalchemy, asyncpg", ("sqlalchemy/", "asyncpg/")),
]  # fmt: skip
# Inclusive shares: samples with a frame starting with one of these, matched
# against "<file>:<function>" (so a file alone matches all its functions).
MARKERS: list[tuple[str, tuple[str, ...]]] = [
    ("on worker threads (all that sync_to_async runs: ORM, sync middleware hooks, signals)",
     ("threading.py:Thread._bootstrap",)),
    ("loop side of sync_to_async (SyncToAsync.__call__)",
     ("asgiref/sync.py:SyncToAsync.__call__",)),
    ("starting threads (Thread.start, ThreadPoolExecutor.submit)",
     ("threading.py:Thread.start", "concurrent/futures/thread.py:ThreadPoolExecutor.submit")),
    ("signals (django/dispatch)", ("django/dispatch/",)),
    ("token auth (users/tokens.py)", ("<project>/users/tokens.py",)),
    ("ninja throttles (ninja/throttling.py)", ("ninja/throttling.py",)),
    ("Django's cache (throttle history, failed-auth counter)", ("django/core/cache/",)),
    ("the ORM (django/db/models)", ("django/db/models/",)),
    ("psycopg, psycopg_pool", ("psycopg/", "psycopg_pool/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("json encoding/decoding", ("json/",)),
]  # fmt: skip

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def _relative(path: str) -> str:
    """Return a frame's file as `pkg/...` (site-packages, stdlib) or `<project>/...`."""
    if "/site-packages/" in path:
        return path.rsplit("/site-packages/", 1)[1]
    if path.startswith(str(ROOT) + "/"):
        return "<project>/" + path.removeprefix(str(ROOT) + "/")
    match = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return match.group(1) if match else path


def _layer(rel: str) -> str | None:
    for name, prefixes in LAYERS:
        if rel.startswith(prefixes):
            return name
    return None


def analyse_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Group py-spy's raw (collapsed) stacks by layer: self time, inclusive, top frames."""
    layers: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = []
        for frame in stack.split(";"):
            match = _FRAME.match(frame)
            if match:
                frames.append((match["func"], _relative(match["file"])))
        # Self time: the innermost frame in a named layer (stdlib helpers
        # count towards their caller).
        layer = next(
            (name for _, rel in reversed(frames) if (name := _layer(rel))),
            "other (standard library, native)",
        )
        layers[layer] += count
        places = {f"{rel}:{func}" for func, rel in frames}
        for name, prefixes in MARKERS:
            if any(place.startswith(prefixes) for place in places):
                markers[name] += count
        if frames:
            func, rel = frames[-1]
            leaves[f"{func} ({rel})"] += count
    share = (lambda n: 100 * n / total) if total else (lambda n: math.nan)
    return {
        "samples": total,
        "layers": [
            {"layer": name, "samples": n, "percent": share(n)}
            for name, n in layers.most_common()
        ],
        "inclusive": [
            {"where": name, "samples": markers[name], "percent": share(markers[name])}
            for name, _ in MARKERS
        ],
        "top_self_frames": [
            {"frame": name, "samples": n, "percent": share(n)}
            for name, n in leaves.most_common(top)
        ],
    }


def print_profile(summary: dict[str, Any], header: str) -> None:
    print(f"\n{header}\n")
    print("| layer (self time; stdlib helpers count to their caller) | % of samples |")
    print("|---|---:|")
    for item in summary["layers"]:
        print(f"| {item['layer']} | {item['percent']:.1f} |")
    print("\n| inclusive: samples with a frame in | % |\n|---|---:|")
    for item in summary["inclusive"]:
        print(f"| {item['where']} | {item['percent']:.1f} |")
    print("\n| top self frames | % |\n|---|---:|")
    for item in summary["top_self_frames"]:
        print(f"| `{item['frame']}` | {item['percent']:.1f} |")


def run_profile(
    server: Server, endpoint: Endpoint, db: Database, args: argparse.Namespace
) -> dict[str, Any]:
    """Warm up, then record the server with py-spy while wrk loads `endpoint`."""
    if args.warmup > 0:
        run_wrk(server, endpoint, db, seconds=args.warmup,
                connections=args.connections, tag="pw")  # fmt: skip
    raw = RESULTS / f"profile-{server.name}-{endpoint.key}.txt"
    raw.parent.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = ["taskset", "-c", CLIENT_CPU, py_spy, "record", "--pid", str(server.pid)]
    command += ["--duration", str(args.profile_duration), "--rate", str(args.rate)]
    # --nonblocking: blocking mode stops the server for every sample, slows it
    # by ~40 % and (measured) credits the worker threads' work to the loop.
    command += ["--gil", "--nonblocking"] if args.sample == "gil" else ["--gil"]
    command += ["--format", "raw", "--full-filenames", "--output", str(raw)]
    load: dict[str, Any] = {}
    cpu_before = sum(tree_cpu_seconds(server.pid))
    threads_before = own_and_main_thread_cpu(server.pid)

    def background() -> None:
        load.update(
            run_wrk(
                server,
                endpoint,
                db,
                seconds=args.profile_duration + 2,
                connections=args.connections,
                tag="pm",
            )  # fmt: skip
        )

    thread = threading.Thread(target=background)
    thread.start()
    time.sleep(1)
    spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    LOAD_PROCESSES.add(spy)
    try:
        out, _ = spy.communicate(timeout=args.profile_duration + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("py-spy did not finish") from None
    finally:
        kill_load(spy)
        thread.join(args.profile_duration + 60)
    time.sleep(0.2)
    cpu_s = sum(tree_cpu_seconds(server.pid)) - cpu_before
    on_loop = loop_share(threads_before, own_and_main_thread_cpu(server.pid))
    if endpoint.kind == "create":
        delete_created_users(db)
    if spy.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed:\n{out.decode(errors='replace')[-2000:]}")
    summary = analyse_profile(raw)
    requests = load.get("requests", 0)
    summary.update(
        endpoint=endpoint.key,
        server=server.name,
        raw_file=str(raw.relative_to(ROOT)),
        py_spy=" ".join(command[3:]),
        py_spy_flags=[c for c in command if c in ("--gil", "--nonblocking")],
        requests=requests,
        non2xx=load.get("non2xx"),
        statuses=load.get("statuses"),
        cpu_us_per_request_while_profiled=cpu_s * 1e6 / requests if requests else None,
        loop_thread_share=on_loop,
    )
    return summary


# -- main ----------------------------------------------------------------------------
