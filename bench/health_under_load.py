"""Does `GET /api/health` stay fast while CPU-bound utilities run?

Starts the real server (uvicorn, DEBUG off, a throwaway SQLite database) on
127.0.0.1, then measures the latency of sequential health requests in two
phases: "idle", and "cpu load", while `--cpu-calls` concurrent
`POST /api/utilities/count_primes` calls keep the process pool busy (each one
that ends is replaced until the health requests are done; the calls still in
flight then are awaited and checked as well). count_primes runs
in a process pool, so the event loop should stay free: health latency under
load should stay close to idle. Also reports the server process's own CPU time
per idle health request (from /proc). Prints a markdown table and writes the
figures as JSON. Exits non-zero if the server does not start or any request
fails. Everything is bounded by `--timeout` seconds (default 180), plus at
most 20 s to stop the server (SIGTERM, then SIGKILL).

    uv run python bench/health_under_load.py [--requests 400] [--cpu-calls 4] \
        [--limit 1000000000] [--port 8790] [--workers 2] \
        [--json bench/results/health_under_load.json]
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.servers import port_free
from tests import live_server

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PRIMES_BELOW_1E9 = 50_847_534  # pi(10**9)


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:  # nearest rank
            return (
                ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
                if ordered
                else math.nan
            )

        return {
            "phase": self.name,
            "requests": len(ordered) + self.errors,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "max_ms": ordered[-1] if ordered else math.nan,
            "errors": self.errors,
        }


@dataclass
class CpuCalls:
    started: int = 0
    ok: int = 0
    errors: int = 0
    ok_during_health: int = 0
    seconds: list[float] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU time of a process (not its children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def health(client: httpx.AsyncClient, phase: Phase) -> None:
    started = time.perf_counter()
    try:
        response = await client.get("/api/health")
        ok = response.status_code == 200 and response.json() == {"status": "ok"}
    except httpx.HTTPError:
        ok = False
    if ok:
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
    else:
        phase.errors += 1


async def count_primes(client: httpx.AsyncClient, limit: int) -> bool:
    try:
        response = await client.post(
            "/api/utilities/count_primes", json={"limit": limit}
        )
    except httpx.HTTPError as exc:
        print(f"count_primes failed: {exc!r}", file=sys.stderr)
        return False
    if response.status_code != 200 or (
        limit == 10**9 and response.json() != {"result": PRIMES_BELOW_1E9}
    ):
        print(
            f"count_primes answered {response.status_code}: {response.text[:200]}",
            file=sys.stderr,
        )
        return False
    return True


async def cpu_loop(
    client: httpx.AsyncClient, limit: int, stop: asyncio.Event, calls: CpuCalls
) -> None:
    """Call count_primes back to back until `stop` is set; the last call is awaited."""
    while not stop.is_set():
        calls.started += 1
        started = time.perf_counter()
        ok = await count_primes(client, limit)
        calls.seconds.append(time.perf_counter() - started)
        calls.ok += ok
        calls.errors += not ok
        calls.ok_during_health += ok and not stop.is_set()


async def measure(args: argparse.Namespace, pid: int, token: str) -> dict[str, Any]:
    base = f"http://{HOST}:{args.port}"
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as hc:
        for _ in range(min(50, args.requests)):  # warm-up, not recorded
            await health(hc, Phase("warm-up"))
        idle = Phase("idle")
        cpu_before = cpu_seconds(pid)
        for _ in range(args.requests):
            await health(hc, idle)
        idle_cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / args.requests

        heavy = httpx.Limits(max_connections=args.cpu_calls)
        auth = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=base, limits=heavy, timeout=120, headers=auth
        ) as cc:
            # Start the pool's workers (forkserver) before measuring.
            warm = await asyncio.gather(
                *(count_primes(cc, 10**6) for _ in range(args.workers))
            )
            calls, stop = CpuCalls(), asyncio.Event()
            # The task group waits for in-flight calls (checked too) and
            # cancels them if the overall timeout cancels this coroutine.
            async with asyncio.TaskGroup() as group:
                for _ in range(args.cpu_calls):
                    group.create_task(cpu_loop(cc, args.limit, stop, calls))
                await asyncio.sleep(0.5)  # let the calls reach the pool
                load = Phase("cpu load")
                load_started, cpu_before = time.perf_counter(), cpu_seconds(pid)
                for _ in range(args.requests):
                    await health(hc, load)
                load_s = time.perf_counter() - load_started
                load_cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / args.requests
                stop.set()
    return {
        "phases": [idle.summary(), load.summary()],
        "cpu_calls": {
            **asdict(calls),
            "warm_up_errors": warm.count(False),
            "load_phase_s": load_s,
        },
        "server_cpu_ms_per_health_request": {
            "idle": idle_cpu_ms,
            "cpu load (incl. count_primes handling)": load_cpu_ms,
        },
    }


def start_server(
    args: argparse.Namespace, tmp: Path, log: Path, deadline: float
) -> tuple[subprocess.Popen[bytes], str]:
    """Migrate a fresh SQLite database in `tmp`, start uvicorn on it; return it and a token."""
    env = live_server.inherited_env("UVICORN_", "WEB_CONCURRENCY")
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only",
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback
        API_THROTTLE_USER="1000000/m",
        DJANGO_SUPERUSER_PASSWORD="bench-only-passphrase",
        DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
        PYTHONUNBUFFERED="1",
        UTILITIES_PROCESS_WORKERS=str(args.workers),
        UTILITIES_CONCURRENCY=str(args.cpu_calls + args.workers),
        UTILITIES_QUEUE_SIZE=str(args.cpu_calls),
        UTILITIES_QUEUE_WAIT_S="120",
    )
    wait_s = min(60, deadline - time.monotonic())
    live_server.manage(env, "migrate", "--noinput", "-v", "0", timeout_s=wait_s)
    live_server.create_staff(env, "bench@example.com", "Bench")
    token = live_server.issue_token(env, "bench@example.com")
    server = live_server.spawn(live_server.server_command(args.port), env, log)
    return server, token


def report(results: dict[str, Any]) -> None:
    print(
        "| phase | requests | p50 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|---|"
    )
    for p in results["phases"]:
        print(
            f"| {p['phase']} | {p['requests']} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['max_ms']:.2f} | {p['errors']} |"
        )
    c = results["cpu_calls"]
    print(
        f"\ncount_primes(limit={results['config']['limit']}): {c['ok_during_health']} completed during "
        f"the {c['load_phase_s']:.1f} s load phase; {c['started']} started, {c['ok']} ok, {c['errors']} errors "
        f"(seconds each: {', '.join(f'{s:.2f}' for s in c['seconds'])})"
    )
    for phase, ms in results["server_cpu_ms_per_health_request"].items():
        print(f"server process CPU (user+sys) per health request, {phase}: {ms:.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=400, help="health requests per phase"
    )
    parser.add_argument(
        "--cpu-calls", type=int, default=4, help="concurrent count_primes calls"
    )
    parser.add_argument("--limit", type=int, default=10**9, help="count_primes limit")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument(
        "--workers", type=int, default=2, help="UTILITIES_PROCESS_WORKERS"
    )
    parser.add_argument("--timeout", type=float, default=180, help="overall seconds")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench/results/health_under_load.json"
    )
    args = parser.parse_args()
    if args.requests < 1 or args.cpu_calls < 1 or args.workers < 1:
        parser.error("--requests, --cpu-calls and --workers must be at least 1")
    if not port_free(args.port):
        parser.error(f"something already listens on {HOST}:{args.port}")
    deadline = time.monotonic() + args.timeout  # stopping the server may add 20 s
    tmp = Path(tempfile.mkdtemp(prefix="health-bench-"))
    log = tmp / "server.log"  # uvicorn's output, shown if something fails
    server: subprocess.Popen[bytes] | None = None
    try:
        server, token = start_server(args, tmp, log, deadline)
        health = f"http://{HOST}:{args.port}/api/health"
        within_s = min(30, deadline - time.monotonic())
        try:
            live_server.wait_until_up(server, health, log, within_s=within_s)
        except live_server.ServerDidNotStart as exc:
            print(exc, file=sys.stderr)
            return 1
        remaining = deadline - time.monotonic()
        results = asyncio.run(
            asyncio.wait_for(measure(args, server.pid, token), remaining)
        )
        results["config"] = {k: v for k, v in vars(args).items() if k != "json"} | {
            "server_pid": server.pid
        }
    except (TimeoutError, subprocess.SubprocessError) as exc:
        tail = log.read_text()[-3000:] if log.exists() else ""
        print(f"benchmark aborted: {exc!r}\nserver log:\n{tail}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            live_server.stop_process(server)
        shutil.rmtree(tmp, ignore_errors=True)

    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    errors = (
        sum(p["errors"] for p in results["phases"]) + results["cpu_calls"]["errors"]
    )
    return 1 if errors or results["cpu_calls"]["warm_up_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
