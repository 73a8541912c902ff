"""CRUD latency while slow utility calls are in flight: Django against the FastAPI yardstick.

Starts, on 127.0.0.1 only, the Django service in its production configuration
(DEBUG off, the production middleware, bearer tokens, PostgreSQL with the
psycopg pool; uvicorn, one worker, uvloop, httptools; one process-pool worker
as in bench/cpu_per_request.py; utility slots 4 + queue 8, production's) and
the reference app (bench/reference/app.py: FastAPI + SQLAlchemy 2 asyncpg +
pydantic 2, the same slots and queue), both on one fresh PostgreSQL database
`bench_<random>` that Django's migrations create and this script seeds, then
drops. The harness (database, servers, wrk, /proc) is cpu_per_request's.

Method: each server is pinned to CPU 0 (`taskset -c 0`, its pool worker
too), wrk (`-t1`) and the slow-call driver to CPU 1. Per round, for each
server (the order alternates between rounds), for each CRUD endpoint
(`GET /api/users/{id}`, `PATCH /api/users/{id}` with `{"age": n}`): a warm-up,
an "idle" phase (wrk alone for `--duration` s) and a "burst" phase: a driver
(an asyncio httpx client on its own thread) keeps `--slow-calls` calls of
`POST /api/utilities/count_primes` (`{"limit": 1000000000}`, seconds each)
outstanding, re-issuing each one as soon as it is answered (refused or not);
1 s after it started, wrk runs as in the idle phase. After the burst the
driver cancels its calls and the script waits for the server to go quiet.
Per phase: wrk's p50/p99, requests/s, non-2xx answers by status (503 in
particular), socket errors, the server process's own CPU (user + system from
/proc, its process-pool workers excluded) per CRUD request, and the driver's
answers by status and error code (a `503 utility_busy` is the utility
refusing a call, expected, and never counted as a CRUD error). Summary: medians and
spread (min-max) over rounds, the burst/idle p99 ratio of the same round,
and the target: burst p99 <= 2x idle p99 and no CRUD 503. Prints markdown
tables, writes JSON to bench/results/.

Exits non-zero if a server does not start, count_primes does not answer
correctly before the load, or on a socket error of a CRUD request; not for
missing the target (it is printed: "target met/missed"). Every load is
bounded in time; every process started is stopped by its pid.

    uv run --group bench python bench/mixed_load.py [--rounds 3] \
        [--duration 5] [--connections 32] [--slow-calls 24] [--smoke] \
        [--json bench/results/mixed_load.json]

(Over 300 lines: one procedure, its load shapes and its report, read
together; what it shares with the other scripts is in bench/harness/.)
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu_per_request import endpoints
from bench.harness.machine import (
    CLIENT_CPU,
    RESULTS,
    _spread,
    _terminate_on_sigterm,
    environment,
    own_and_main_thread_cpu,
    tree_cpu_seconds,
)
from bench.harness.servers import (
    Database,
    Server,
    check_tools_and_ports,
    log_findings,
    servers_and_database,
)
from bench.harness.wrk import Endpoint, run_wrk

CRUD_KEYS = ("get_user", "patch_user")
SLOW_PATH = "/api/utilities/count_primes"
PRIMES_UP_TO = {10**9: 50_847_534, 100: 25}  # pi(limit), to check answers
PHASES = ("idle", "burst")
TARGET_P99_RATIO = 2.0
# The production defaults the issue describes: 4 slots and a queue of 8 per
# utility (cpu_per_request raises the queue to the connections; not here).
UTILITY_QUEUE = 8
WRK_TIMEOUT_S = 10  # above both servers' own waits (2 s and 5 s): they answer first
SETTLE_S = 1.0  # driver running before wrk starts


# -- the slow-call driver ------------------------------------------------------------


@dataclass
class SlowCounts:
    """What the driver sent and what came back, so far."""

    sent: int = 0
    answered: int = 0
    in_flight: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "503 utility_busy"
    transport_errors: Counter[str] = field(default_factory=Counter)
    wrong_results: int = 0

    def copy(self) -> "SlowCounts":
        return SlowCounts(
            self.sent,
            self.answered,
            self.in_flight,
            Counter(self.statuses),
            Counter(self.transport_errors),
            self.wrong_results,
        )

    def minus(self, earlier: "SlowCounts") -> dict[str, Any]:
        """What happened between `earlier` and this snapshot."""
        return {
            "sent": self.sent - earlier.sent,
            "answered": self.answered - earlier.answered,
            "statuses": dict(self.statuses - earlier.statuses),
            "transport_errors": dict(self.transport_errors - earlier.transport_errors),
            "wrong_results": self.wrong_results - earlier.wrong_results,
        }

    def as_dict(self) -> dict[str, Any]:
        return self.minus(SlowCounts()) | {"in_flight": self.in_flight}


class SlowCallDriver:
    """Keep `calls` POSTs of count_primes outstanding on one server.

    Runs an asyncio loop with one httpx client on its own thread, pinned to
    the client CPU. Each of `calls` tasks sends a call, records the answer
    (status and error code) and sends the next at once; a transport error
    waits 50 ms first, so a dead server is not spun on. `stop()` cancels the
    calls in flight (the server sees the clients go) and returns the counts.
    """

    def __init__(self, server: Server, token: str, calls: int, limit: int) -> None:
        self.url, self.token, self.calls, self.limit = server.url, token, calls, limit
        self.counts = SlowCounts()
        self.lock = threading.Lock()
        self.all_sent = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="slow-calls")

    def start(self, within_s: float = 10) -> None:
        self.thread.start()
        if not self.all_sent.wait(within_s):
            self.stop()
            raise RuntimeError(f"the slow-call driver did not start: {self.failure!r}")

    def snapshot(self) -> SlowCounts:
        with self.lock:
            return self.counts.copy()

    def stop(self, within_s: float = 15) -> SlowCounts:
        if self.loop is not None and self.stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(within_s)
        if self.thread.is_alive():
            raise RuntimeError("the slow-call driver did not stop")
        if self.failure is not None:
            raise RuntimeError(f"the slow-call driver failed: {self.failure!r}")
        return self.snapshot()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # pid 0: this thread only
            os.sched_setaffinity(0, {int(CLIENT_CPU)})
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by stop()
            self.failure = exc
            self.all_sent.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        limits = httpx.Limits(
            max_connections=self.calls, max_keepalive_connections=self.calls
        )
        async with httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            limits=limits,
            timeout=httpx.Timeout(120, connect=10),  # 600 s server-side limit
        ) as client:
            tasks = [
                asyncio.create_task(self._keep_one(client)) for _ in range(self.calls)
            ]
            await asyncio.sleep(0)  # each task sends its first call
            self.all_sent.set()
            await self.stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_one(self, client: httpx.AsyncClient) -> None:
        expected = PRIMES_UP_TO.get(self.limit)
        while True:
            with self.lock:
                self.counts.sent += 1
                self.counts.in_flight += 1
            try:
                response = await client.post(SLOW_PATH, json={"limit": self.limit})
            except httpx.HTTPError as exc:
                with self.lock:
                    self.counts.in_flight -= 1
                    self.counts.transport_errors[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            # Cancelled by stop(): the call stays counted as in flight.
            key, wrong = str(response.status_code), False
            with contextlib.suppress(ValueError, AttributeError):
                data = response.json()
                if response.status_code == 200:
                    wrong = expected is not None and data.get("result") != expected
                elif isinstance(data.get("code"), str):
                    key += f" {data['code']}"
            with self.lock:
                self.counts.in_flight -= 1
                self.counts.answered += 1
                self.counts.statuses[key] += 1
                self.counts.wrong_results += wrong


def check_count_primes(servers: dict[str, Server], token: str) -> list[str]:
    """One small call on each server: 200 and pi(100) = 25, or a problem."""
    problems = []
    with httpx.Client(timeout=30) as client:
        for server in servers.values():
            try:
                response = client.post(
                    server.url + SLOW_PATH,
                    json={"limit": 100},
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                problems.append(f"{server.name}: count_primes failed: {exc!r}")
                continue
            if response.status_code != 200 or response.json() != {"result": 25}:
                problems.append(
                    f"{server.name}: count_primes answered {response.status_code} "
                    f"{response.text[:300]}"
                )
    return problems


# -- one phase -----------------------------------------------------------------------


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process itself, all its threads; no children."""
    return own_and_main_thread_cpu(pid)[0]


def wait_quiet(
    server: Server, within_s: float = 60, below: float = 0.1, window_s: float = 0.5
) -> float:
    """Wait until the server and its children use under `below` of a core for
    `window_s`; return the seconds waited. Calls the driver abandoned may still
    run: the reference goes on with a request whose client left (Starlette
    does not cancel it) and its ProcessPoolExecutor cannot stop a started call.
    """
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        before = sum(tree_cpu_seconds(server.pid))
        time.sleep(window_s)
        if sum(tree_cpu_seconds(server.pid)) - before < below * window_s:
            return time.monotonic() - started
    print(f"warning: {server.name} still busy after {within_s:.0f} s", file=sys.stderr)
    return time.monotonic() - started


@dataclass
class PhaseSample:
    """One CRUD endpoint on one server in one phase of one round."""

    round: int
    server: str
    endpoint: str
    phase: str  # idle or burst
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    statuses: dict[str, int]
    crud_503: int
    socket_errors: int
    socket_error_kinds: dict[str, int]
    error_samples: list[str]
    server_cpu_s: float  # the server process's own, pool workers excluded
    cpu_us_per_crud_request: float
    pool_cpu_s: float  # its descendants: forkserver, pool workers
    # Burst only: the driver's calls answered while wrk ran, and all of them.
    slow_in_window: dict[str, Any] = field(default_factory=dict)
    cpu_us_per_request_all: float = math.nan  # CRUD + slow calls answered in window
    slow_total: dict[str, Any] = field(default_factory=dict)
    quiet_wait_s: float = 0.0


def _ms(us: float, answered: int) -> float:
    """wrk's percentiles cover answered requests only: with none answered
    there is no latency (wrk prints 0), not a fast one."""
    return us / 1000 if answered else math.nan


def _p99_ratio(burst: PhaseSample, idle: PhaseSample) -> float:
    """Burst p99 / idle p99; infinite if the burst phase got no answer."""
    if math.isnan(burst.p99_ms) and not math.isnan(idle.p99_ms):
        return math.inf
    return burst.p99_ms / idle.p99_ms if idle.p99_ms > 0 else math.nan


def measure_phase(
    server: Server,
    ep: Endpoint,
    db: Database,
    args: argparse.Namespace,
    round_no: int,
    phase: str,
) -> PhaseSample:
    tag = f"{server.name[:3]}{round_no}{phase[0]}"
    driver: SlowCallDriver | None = None
    slow_before = slow_end = slow_total = SlowCounts()
    if phase == "burst":
        driver = SlowCallDriver(server, db.token, args.slow_calls, args.slow_limit)
        driver.start()
    try:
        if driver is not None:
            time.sleep(SETTLE_S)  # the calls are in flight: running, queued, refused
            slow_before = driver.snapshot()
        own_before = own_cpu_seconds(server.pid)
        tree_before = sum(tree_cpu_seconds(server.pid))
        result = run_wrk(server, ep, db, seconds=args.duration,
                         connections=args.connections, tag=tag,
                         timeout_s=WRK_TIMEOUT_S)  # fmt: skip
        if driver is not None:
            slow_end = driver.snapshot()
        time.sleep(0.2)  # let requests in flight when wrk stopped finish
        own_s = own_cpu_seconds(server.pid) - own_before
        tree_s = sum(tree_cpu_seconds(server.pid)) - tree_before
    finally:
        if driver is not None:
            slow_total = driver.stop()
    quiet_s = wait_quiet(server) if driver is not None else 0.0
    requests = result["requests"]
    seconds = result["duration_us"] / 1e6
    in_window = slow_end.minus(slow_before) if driver is not None else {}
    answered = in_window.get("answered", 0)
    kinds = ("connect_errors", "read_errors", "write_errors", "timeouts")
    return PhaseSample(
        round=round_no,
        server=server.name,
        endpoint=ep.key,
        phase=phase,
        requests=requests,
        seconds=seconds,
        requests_per_s=requests / seconds if seconds else math.nan,
        p50_ms=_ms(result["p50_us"], requests),
        p90_ms=_ms(result["p90_us"], requests),
        p99_ms=_ms(result["p99_us"], requests),
        max_ms=_ms(result["max_us"], requests),
        non2xx=result["non2xx"],
        statuses=result["statuses"],
        crud_503=result["statuses"].get("503", 0),
        socket_errors=result["socket_errors"],
        socket_error_kinds={k: result[k] for k in kinds if result[k]},
        error_samples=result["samples"],
        server_cpu_s=own_s,
        cpu_us_per_crud_request=own_s * 1e6 / requests if requests else math.nan,
        pool_cpu_s=max(0.0, tree_s - own_s),  # read apart: may dip below 0
        slow_in_window=in_window,
        cpu_us_per_request_all=(
            own_s * 1e6 / (requests + answered)
            if driver is not None and requests + answered
            else math.nan
        ),
        slow_total=slow_total.as_dict() if driver is not None else {},
        quiet_wait_s=quiet_s,
    )


# -- summary -------------------------------------------------------------------------


def _merged(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))


def summarize(samples: list[PhaseSample]) -> list[dict[str, Any]]:
    rows = []
    for name in ("django", "reference"):
        for key in CRUD_KEYS:
            mine = [s for s in samples if s.server == name and s.endpoint == key]
            row: dict[str, Any] = {"server": name, "endpoint": key}
            for phase in PHASES:
                ps = [s for s in mine if s.phase == phase]
                row[phase] = {
                    "p50_ms": _spread([s.p50_ms for s in ps]),
                    "p99_ms": _spread([s.p99_ms for s in ps]),
                    "requests_per_s": _spread([s.requests_per_s for s in ps]),
                    "cpu_us_per_crud_request": _spread(
                        [s.cpu_us_per_crud_request for s in ps]
                    ),
                    "cpu_us_per_request_all": _spread(
                        [s.cpu_us_per_request_all for s in ps]
                    ),
                    "pool_cpu_s": _spread([s.pool_cpu_s for s in ps]),
                    "requests": sum(s.requests for s in ps),
                    "non2xx": sum(s.non2xx for s in ps),
                    "statuses": _merged([s.statuses for s in ps]),
                    "crud_503": sum(s.crud_503 for s in ps),
                    "socket_errors": sum(s.socket_errors for s in ps),
                    "slow_statuses": _merged(
                        [s.slow_total.get("statuses", {}) for s in ps]
                    ),
                    "slow_sent": sum(s.slow_total.get("sent", 0) for s in ps),
                    "slow_transport_errors": _merged(
                        [s.slow_total.get("transport_errors", {}) for s in ps]
                    ),
                    "slow_wrong_results": sum(
                        s.slow_total.get("wrong_results", 0) for s in ps
                    ),
                }
            ratios = [
                _p99_ratio(b, i)
                for b in mine
                if b.phase == "burst"
                for i in mine
                if i.phase == "idle" and i.round == b.round
            ]
            row["p99_ratio_by_round"] = ratios
            row["p99_ratio"] = _spread(ratios)
            crud_503 = row["idle"]["crud_503"] + row["burst"]["crud_503"]
            ratio = row["p99_ratio"]["median"]
            row["target"] = {
                "p99_ratio_ok": not math.isnan(ratio) and ratio <= TARGET_P99_RATIO,
                "no_crud_503": crud_503 == 0,
            }
            row["target"]["met"] = all(row["target"].values())
            rows.append(row)
    return rows


def _range(s: dict[str, float], fmt: str, rounds: int) -> str:
    if math.isnan(s["median"]):
        return "no answer"
    text = format(s["median"], fmt)
    if rounds < 2:
        return text
    return f"{text} ({format(s['min'], fmt)}–{format(s['max'], fmt)})"


def _statuses(statuses: dict[str, int]) -> str:
    bad = {k: v for k, v in statuses.items() if not k.startswith("2")}
    return ", ".join(f"{k}: {v:,}" for k, v in bad.items()) or "–"


LABELS = {e.key: e.label for e in endpoints(2)}


def print_tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    rounds = args.rounds
    spread = " (min–max)" if rounds > 1 else ""
    print(
        f"\nCRUD under wrk -c{args.connections}, idle and with {args.slow_calls} "
        f"count_primes calls in flight; median{spread} over {rounds} round(s)\n"
    )
    print(
        "| server | endpoint | phase | req/s | p50 ms | p99 ms "
        "| server CPU µs / CRUD req | non-2xx (all rounds) | socket errors |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|---:|")
    for row in rows:
        for phase in PHASES:
            p = row[phase]
            print(
                f"| {row['server']} | `{LABELS[row['endpoint']]}` | {phase} "
                f"| {_range(p['requests_per_s'], ',.0f', rounds)} "
                f"| {_range(p['p50_ms'], ',.1f', rounds)} "
                f"| {_range(p['p99_ms'], ',.1f', rounds)} "
                f"| {_range(p['cpu_us_per_crud_request'], ',.0f', rounds)} "
                f"| {_statuses(p['statuses'])} | {p['socket_errors']} |"
            )
    print(
        "\nServer CPU: the uvicorn process's own user + system time (/proc), its "
        "process-pool workers excluded, divided by the CRUD requests wrk completed; "
        "in the burst phase it includes the server's own work on the slow calls "
        "(auth, refusals, hand-off to the pool).\n"
    )
    print(f"Target: burst p99 ≤ {TARGET_P99_RATIO:g}x idle p99 and no CRUD 503\n")
    print(
        "| server | endpoint | p99 ms idle | p99 ms burst | ratio burst/idle "
        "| CRUD 503s idle / burst | target |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['server']} | `{LABELS[row['endpoint']]}` "
            f"| {_range(row['idle']['p99_ms'], ',.1f', 1)} "
            f"| {_range(row['burst']['p99_ms'], ',.1f', 1)} "
            f"| {_range(row['p99_ratio'], '.2f', rounds)} "
            f"| {row['idle']['crud_503']:,} / {row['burst']['crud_503']:,} "
            f"| {'met' if row['target']['met'] else 'missed'} |"
        )
    print(
        "\nThe slow calls (all burst phases; `503 utility_busy`, before 533f4e2 "
        "`503 busy`: refused by the utility)\n"
    )
    print(
        "| server | endpoint | calls sent | answers | transport errors "
        "| server CPU µs / request, CRUD + slow | pool CPU s / phase |"
    )
    print("|---|---|---:|---|---|---:|---:|")
    for row in rows:
        b = row["burst"]
        answers = ", ".join(f"{k}: {v:,}" for k, v in b["slow_statuses"].items())
        if b["slow_wrong_results"]:
            answers += f" ({b['slow_wrong_results']} wrong results)"
        errors = ", ".join(f"{k}: {v}" for k, v in b["slow_transport_errors"].items())
        print(
            f"| {row['server']} | `{LABELS[row['endpoint']]}` | {b['slow_sent']:,} "
            f"| {answers or '–'} | {errors or '–'} "
            f"| {_range(b['cpu_us_per_request_all'], ',.0f', rounds)} "
            f"| {_range(b['pool_cpu_s'], '.1f', rounds)} |"
        )


# -- main ----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="s per phase")
    parser.add_argument(
        "--warmup", type=int, default=1, help="s of wrk before each idle phase"
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk's")
    parser.add_argument(
        "--slow-calls", type=int, default=24, help="count_primes calls kept in flight"
    )
    parser.add_argument(
        "--slow-limit", type=int, default=10**9, help="count_primes' limit"
    )
    parser.add_argument("--users", type=int, default=1000, help="seeded users")
    parser.add_argument(
        "--django-env", action="append", default=[], metavar="NAME=VALUE",
        help="add or override a server environment variable (repeatable; both "
        "servers); inherited DJANGO_*, API_*, UTILITIES_* are dropped",
    )  # fmt: skip
    parser.add_argument("--django-port", type=int, default=8793)
    parser.add_argument("--reference-port", type=int, default=8794)
    parser.add_argument(
        "--smoke", action="store_true",
        help="a quick check: 1 round, 2 s per phase, no warm-up",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration, args.warmup = 1, 2, 0
    if bad := [e for e in args.django_env if "=" not in e]:
        parser.error(f"--django-env wants NAME=VALUE, got {', '.join(bad)}")
    if min(args.rounds, args.duration, args.connections, args.slow_calls) < 1:
        parser.error("--rounds, --duration, --connections, --slow-calls: at least 1")
    # What cpu_per_request's servers_and_database and base_env read.
    args.mode = "mixed_load-smoke" if args.smoke else "mixed_load"
    args.throttle_rate = "100000000/m"  # never reached
    args.reference_pool_size = 10  # Django's pool size
    args.utility_queue = UTILITY_QUEUE
    args.json = args.json or RESULTS / f"{args.mode}.json"
    check_tools_and_ports(parser, (args.django_port, args.reference_port))
    return args


def main() -> int:
    args = parse_args()
    _terminate_on_sigterm()
    started_at = time.monotonic()
    eps_all = {e.key: e for e in endpoints(2)}
    results: dict[str, Any] = {
        "mode": args.mode,
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
        "environment": environment(),
    }
    samples: list[PhaseSample] = []
    with servers_and_database(args, ["django", "reference"]) as (db, servers, _):
        problems = check_count_primes(servers, db.token)
        results["setup_problems"] = problems
        for problem in problems:
            print(f"SETUP: {problem}", file=sys.stderr)
        rounds = 0 if problems else args.rounds
        for round_no in range(1, rounds + 1):
            order = ["django", "reference"]
            if round_no % 2 == 0:
                order.reverse()
            for name in order:
                server = servers[name]
                for key in CRUD_KEYS:
                    ep = eps_all[key]
                    if args.warmup > 0:
                        run_wrk(server, ep, db, seconds=args.warmup,
                                connections=args.connections,
                                tag=f"{name[:3]}{round_no}w",
                                timeout_s=WRK_TIMEOUT_S)  # fmt: skip
                    for phase in PHASES:
                        s = measure_phase(server, ep, db, args, round_no, phase)
                        samples.append(s)
                        slow = ""
                        if phase == "burst":
                            answers = s.slow_in_window.get("statuses", {})
                            slow = (
                                f"  slow calls answered while wrk ran: {answers}, "
                                f"then {s.quiet_wait_s:.1f} s to quiet"
                            )
                        print(
                            f"round {round_no} {name:<9} {key:<10} {phase:<5} "
                            f"{s.requests_per_s:7,.0f} req/s  p50 {s.p50_ms:7.1f} "
                            f"p99 {s.p99_ms:7.1f} ms  {s.cpu_us_per_crud_request:7,.0f} "
                            f"µs/req  non-2xx {_statuses(s.statuses)}  "
                            f"socket errors {s.socket_errors}{slow}",
                            flush=True,
                        )
        results["findings"] = {n: log_findings(s) for n, s in servers.items()}
    rows = summarize(samples) if samples else []
    results["samples"] = [asdict(s) for s in samples]
    results["summary"] = rows
    if rows:
        print_tables(rows, args)
    for s in samples:
        if s.socket_errors:
            print(
                f"socket errors: round {s.round} {s.server} {s.endpoint} {s.phase}: "
                f"{s.socket_error_kinds}",
                file=sys.stderr,
            )
    django_met = bool(rows) and all(
        row["target"]["met"] for row in rows if row["server"] == "django"
    )
    reference_met = bool(rows) and all(
        row["target"]["met"] for row in rows if row["server"] == "reference"
    )
    results["target_met"] = {"django": django_met, "reference": reference_met}
    if rows:
        print(
            f"\nDjango: target {'met' if django_met else 'missed'} "
            f"(FastAPI reference: {'met' if reference_met else 'missed'})"
        )
    for name, found in results.get("findings", {}).items():
        if found["flagged"]:
            print(f"\n{name} log: {found['flagged']} flagged line(s), first:")
            for line in found["first_flagged"][:3]:
                print(f"  {line[:300]}")
    results["elapsed_s"] = time.monotonic() - started_at
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n{args.mode} took {results['elapsed_s']:.0f} s; written to {args.json}")
    socket_errors = sum(s.socket_errors for s in samples)
    return 1 if problems or socket_errors else 0


if __name__ == "__main__":
    sys.exit(main())
