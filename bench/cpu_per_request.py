"""Server CPU per request: the real Django server against a FastAPI yardstick.

Starts, on 127.0.0.1 only, the Django service in its production configuration
(DEBUG off, the production middleware, bearer tokens, PostgreSQL with the
psycopg pool; uvicorn, one worker, uvloop, httptools) and the reference app
(bench/reference/app.py: FastAPI + SQLAlchemy 2 asyncpg + pydantic 2 under the
same uvicorn), both on one fresh PostgreSQL database `bench_<random>` that
Django's migrations create and this script seeds, then drops.

Method (/work/shared/notes/performance.md): each server is pinned to CPU 0
(`taskset -c 0`), wrk (`-t1`) to CPU 1. Per round, for each endpoint, each
server in turn (the order alternates between rounds) gets a warm-up and then
a fixed-duration load; the primary figure is the server's CPU time (user +
system of the server process and all its descendants, from /proc) divided by
the requests wrk completed. Also: requests/s, p50/p99 latency, non-2xx and
socket errors, RSS, and the Django/reference CPU ratio of the same round;
the summary is the median and the spread (min-max) over rounds. Before the
load, both servers answer each endpoint once and their JSON bodies are
compared (parity). Prints markdown tables, writes JSON to bench/results/.

`--profile ENDPOINT` instead records the Django server under load with py-spy
(`--gil --nonblocking`, raw collapsed stacks) and prints where its CPU goes
per layer, beside the event-loop thread's share of the CPU from /proc.

Exits non-zero if anything fails: a server that does not start, a non-2xx
answer or socket error under load, a parity mismatch. There are no
performance targets. Every load is bounded in time; every process started is
stopped by its pid.

    uv run --group bench python bench/cpu_per_request.py [--rounds 3] \
        [--duration 5] [--warmup 1] [--connections 32] [--smoke] \
        [--profile get_user] [--json bench/results/cpu_per_request.json]

The shared parts (servers, database, wrk, /proc, profiles) are in
bench/harness/; this script is the measurement, the parity check and the
report, one procedure, which is why it stays over 300 lines.
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness.machine import (
    RESULTS,
    _spread,
    _terminate_on_sigterm,
    environment,
    loop_share,
    own_and_main_thread_cpu,
    thread_count,
    tree_cpu_seconds,
    tree_rss_mib,
)
from bench.harness.profile import print_profile, run_profile
from bench.harness.servers import (
    Database,
    Server,
    check_tools_and_ports,
    delete_created_users,
    log_findings,
    servers_and_database,
)
from bench.harness.wrk import Endpoint, run_wrk


def endpoints(prime_n: int) -> list[Endpoint]:
    slug = json.dumps({"text": "Héllo, Wörld! Déjà vu: a café’s naïve résumé, 2024"})
    return [
        Endpoint("health", "GET", "/api/health", "none", auth=False),
        Endpoint("get_user", "GET", "/api/users/{id}", "none"),
        Endpoint("list_users", "GET", "/api/users?limit=20", "none"),
        Endpoint("patch_user", "PATCH", "/api/users/{id}", "patch"),
        Endpoint("create_user", "POST", "/api/users", "create"),
        Endpoint("slugify", "POST", "/api/utilities/slugify", "json", slug),
        Endpoint(
            "prime_factors",
            "POST",
            "/api/utilities/prime_factors",
            "json",
            json.dumps({"n": prime_n}),
        ),
    ]


ENDPOINT_KEYS = [e.key for e in endpoints(2)]


# -- processes: /proc, start and stop by pid ---------------------------------------


@dataclass
class Sample:
    """One endpoint on one server in one round."""

    round: int
    endpoint: str
    server: str
    requests: int
    seconds: float
    cpu_s: float
    cpu_user_share: float  # user / (user + system)
    threads: int  # the server process's threads when wrk stopped
    loop_thread_share: float  # of the process's own CPU, on the main thread
    cpu_us_per_request: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    statuses: dict[str, int]
    error_samples: list[str]
    rss_mib: float
    rss_tree_mib: float

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def measure(
    server: Server,
    endpoint: Endpoint,
    db: Database,
    args: argparse.Namespace,
    round_no: int,
) -> Sample:
    tag = f"{server.name[:3]}{round_no}"
    if args.warmup > 0:
        run_wrk(server, endpoint, db, seconds=args.warmup,
                connections=args.connections, tag=f"{tag}w")  # fmt: skip
    user_before, sys_before = tree_cpu_seconds(server.pid)
    threads_before = own_and_main_thread_cpu(server.pid)
    result = run_wrk(server, endpoint, db, seconds=args.duration,
                     connections=args.connections, tag=f"{tag}m")  # fmt: skip
    threads = thread_count(server.pid)
    time.sleep(0.2)  # let requests still in flight when wrk stopped finish
    user_after, sys_after = tree_cpu_seconds(server.pid)
    on_loop = loop_share(threads_before, own_and_main_thread_cpu(server.pid))
    user_s, sys_s = user_after - user_before, sys_after - sys_before
    cpu_s = user_s + sys_s
    rss, rss_tree = tree_rss_mib(server.pid)
    if endpoint.kind == "create":
        delete_created_users(db)
    requests = result["requests"]
    seconds = result["duration_us"] / 1e6
    socket_errors = result["socket_errors"]
    return Sample(
        round=round_no,
        endpoint=endpoint.key,
        server=server.name,
        requests=requests,
        seconds=seconds,
        cpu_s=cpu_s,
        cpu_user_share=user_s / cpu_s if cpu_s else math.nan,
        threads=threads,
        loop_thread_share=on_loop,
        cpu_us_per_request=cpu_s * 1e6 / requests if requests else math.nan,
        requests_per_s=requests / seconds if seconds else math.nan,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        non2xx=result["non2xx"],
        socket_errors=socket_errors,
        statuses=result["statuses"],
        error_samples=result["samples"],
        rss_mib=rss,
        rss_tree_mib=rss_tree,
    )


# -- parity: the same answers from both servers ----------------------------------


def _differs(
    key: str, django: tuple[int, Any], reference: tuple[int, Any]
) -> list[str]:
    if django == reference:
        return []
    (d_status, d_data), (r_status, r_data) = django, reference
    return [
        f"{key}: django {d_status} {json.dumps(d_data)[:400]} != "
        f"reference {r_status} {json.dumps(r_data)[:400]}"
    ]


def parity(
    django: Server, reference: Server, db: Database, eps: list[Endpoint]
) -> list[str]:
    """Call each endpoint once on both servers; return the differences found.

    Reads and utilities must answer the same status and JSON. A PATCH on one
    server must answer what a GET on the other then reads. A created user
    must match apart from its id, timestamps and (unique) email, with a
    `Location` header.
    """
    problems: list[str] = []
    servers = (django, reference)
    user_path = f"/api/users/{db.id_lo + 7}"
    get_user = Endpoint("get", "GET", user_path, "none")

    def call(server: Server, ep: Endpoint, body: str = "") -> httpx.Response:
        headers = {"Authorization": f"Bearer {db.token}"} if ep.auth else {}
        if body:
            headers["Content-Type"] = "application/json"
        path = ep.path.replace("{id}", str(db.id_lo + 7))
        return client.request(
            ep.method, server.url + path, headers=headers, content=body or None
        )

    def answer(response: httpx.Response) -> tuple[int, Any]:
        return response.status_code, response.json() if response.content else None

    with httpx.Client(timeout=30) as client:
        for ep in eps:
            if ep.kind == "patch":
                for n, (one, other) in enumerate((servers, servers[::-1])):
                    patched = answer(call(one, ep, json.dumps({"age": 40 + n})))
                    read = answer(call(other, get_user))
                    problems += _differs(f"{ep.key} on {one.name}", patched, read)
            elif ep.kind == "create":
                created = []
                for n, server in enumerate(servers):
                    email = f"parity-{n}@Bench.Example.com"
                    body = json.dumps({"email": email, "name": " Parity ", "age": 3})
                    response = call(server, ep, body)
                    status, data = answer(response)
                    location = response.headers.get("location", "")
                    if not re.fullmatch(r"/api/users/\d+", location):
                        problems.append(f"{ep.key}: {server.name} sent no Location")
                    if isinstance(data, dict):
                        if data.get("email") != f"parity-{n}@bench.example.com":
                            problems.append(f"{ep.key}: {server.name} email {data}")
                        volatile = {"id", "email", "created_at", "updated_at"}
                        data.update(dict.fromkeys(volatile & data.keys(), "*"))
                    created.append((status, data))
                problems += _differs(ep.key, created[0], created[1])
            else:
                d, r = (answer(call(server, ep, ep.body)) for server in servers)
                problems += _differs(ep.key, d, r)
        for server in servers:  # no token: 401 asking for a bearer token
            response = client.get(f"{server.url}{user_path}")
            challenge = response.headers.get("www-authenticate", "")
            if response.status_code != 401 or "bearer" not in challenge.lower():
                problems.append(f"no token: {server.name} {response.status_code}")
    with psycopg.connect(db.psycopg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM users_user WHERE email LIKE 'parity-%%'")
    return problems


# -- summary -----------------------------------------------------------------------


def summarize(samples: list[Sample], eps: list[Endpoint]) -> list[dict[str, Any]]:
    rows = []
    for ep in eps:
        row: dict[str, Any] = {"endpoint": ep.key, "label": ep.label}
        by_server = {
            name: [s for s in samples if s.endpoint == ep.key and s.server == name]
            for name in ("django", "reference")
        }
        for name, mine in by_server.items():
            row[name] = {
                "cpu_us_per_request": _spread([s.cpu_us_per_request for s in mine]),
                "requests_per_s": _spread([s.requests_per_s for s in mine]),
                "p50_ms": _spread([s.p50_ms for s in mine]),
                "p99_ms": _spread([s.p99_ms for s in mine]),
                "requests": sum(s.requests for s in mine),
                "non2xx": sum(s.non2xx for s in mine),
                "socket_errors": sum(s.socket_errors for s in mine),
                "rss_mib": max((s.rss_mib for s in mine), default=math.nan),
                "rss_tree_mib": max((s.rss_tree_mib for s in mine), default=math.nan),
                "cpu_user_share": _spread([s.cpu_user_share for s in mine]),
                "threads": max((s.threads for s in mine), default=0),
                "loop_thread_share": _spread([s.loop_thread_share for s in mine]),
            }
        ratios = []
        for d in by_server["django"]:
            for r in by_server["reference"]:
                if r.round == d.round:
                    ratios.append(d.cpu_us_per_request / r.cpu_us_per_request)
        row["ratio_by_round"] = ratios
        row["ratio"] = _spread(ratios)
        rows.append(row)
    return rows


def _range(s: dict[str, float], fmt: str, rounds: int) -> str:
    text = format(s["median"], fmt)
    return (
        text
        if rounds < 2
        else f"{text} ({format(s['min'], fmt)}–{format(s['max'], fmt)})"
    )


def print_tables(rows: list[dict[str, Any]], rounds: int) -> None:
    spread = " (min–max)" if rounds > 1 else ""
    print(f"\nServer CPU µs per request, median{spread} over {rounds} round(s)\n")
    print(
        "| endpoint | Django | FastAPI reference | ratio Django/reference | errors Django / ref |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        d, r = row["django"], row["reference"]
        print(
            f"| `{row['label']}` | {_range(d['cpu_us_per_request'], ',.0f', rounds)} "
            f"| {_range(r['cpu_us_per_request'], ',.0f', rounds)} "
            f"| {_range(row['ratio'], '.2f', rounds)} "
            f"| {d['non2xx'] + d['socket_errors']} / {r['non2xx'] + r['socket_errors']} |"
        )
    print(f"\nThroughput, latency (medians over {rounds} round(s)) and peak RSS\n")
    print(
        "| endpoint | req/s Django | req/s ref | p50 ms Django | p50 ms ref "
        "| p99 ms Django | p99 ms ref | RSS MiB Django | RSS MiB ref |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        d, r = row["django"], row["reference"]

        def rss(s: dict[str, Any]) -> str:
            extra = s["rss_tree_mib"] - s["rss_mib"]
            return f"{s['rss_mib']:.0f}" + (f" (+{extra:.0f})" if extra >= 0.5 else "")

        print(
            f"| `{row['label']}` | {d['requests_per_s']['median']:,.0f} "
            f"| {r['requests_per_s']['median']:,.0f} "
            f"| {d['p50_ms']['median']:.2f} | {r['p50_ms']['median']:.2f} "
            f"| {d['p99_ms']['median']:.2f} | {r['p99_ms']['median']:.2f} "
            f"| {rss(d)} | {rss(r)} |"
        )
    print(
        "\nRSS: the server process after its last run; (+N): its children "
        "(forkserver, pool worker) on top."
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="s per measured run")
    parser.add_argument(
        "--warmup", type=float, default=1, help="s of load before each run"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=1000, help="seeded users")
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINT_KEYS),
        help=f"comma-separated subset of {','.join(ENDPOINT_KEYS)}",
    )  # fmt: skip
    parser.add_argument("--prime-n", type=int, default=600_851_475_143)
    parser.add_argument(
        "--utility-queue", type=int, default=None,
        help="UTILITIES_QUEUE_SIZE for both servers (default: --connections, so "
        "no call is refused as busy; production's is 8)",
    )  # fmt: skip
    parser.add_argument(
        "--throttle-rate", default="100000000/m",
        help="API_THROTTLE_USER and _ANON: never reached (Ninja keeps one timestamp "
        "per request of the period per user, so the period sets that list's length)",
    )  # fmt: skip
    parser.add_argument(
        "--reference-pool-size", type=int, default=10,
        help="the reference's SQLAlchemy pool (default: Django's DJANGO_DB_POOL_MAX_SIZE)",
    )  # fmt: skip
    parser.add_argument(
        "--django-env", action="append", default=[], metavar="NAME=VALUE",
        help="add or override a server environment variable (repeatable), e.g. "
        "DJANGO_REQUEST_THREADS=10; inherited DJANGO_*, API_*, UTILITIES_* are dropped",
    )  # fmt: skip
    parser.add_argument("--django-port", type=int, default=8791)
    parser.add_argument("--reference-port", type=int, default=8792)
    parser.add_argument(
        "--smoke", action="store_true",
        help="CI check: 1 round, 1 s per endpoint, no warm-up; fails only on errors",
    )  # fmt: skip
    parser.add_argument(
        "--profile", choices=ENDPOINT_KEYS, metavar="ENDPOINT",
        help="record the server under load on this endpoint with py-spy instead",
    )  # fmt: skip
    parser.add_argument(
        "--profile-server", choices=("django", "reference"), default="django"
    )
    parser.add_argument("--profile-duration", type=int, default=10)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples/s")
    parser.add_argument(
        "--sample", choices=("gil", "gil-blocking"), default="gil",
        help="py-spy --gil with --nonblocking (default), or in blocking mode",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration, args.warmup = 1, 1, 0
    keys = [k for k in args.endpoints.split(",") if k]
    if unknown := set(keys) - set(ENDPOINT_KEYS):
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    args.endpoint_keys = keys
    if bad := [e for e in args.django_env if "=" not in e]:
        parser.error(f"--django-env wants NAME=VALUE, got {', '.join(bad)}")
    if args.rounds < 1 or args.duration < 1 or args.connections < 1:
        parser.error("--rounds, --duration and --connections must be at least 1")
    mode = "profile" if args.profile else "smoke" if args.smoke else "compare"
    args.mode = mode
    default_name = {
        "profile": f"profile-{args.profile_server}-{args.profile}.json",
        "smoke": "cpu_per_request-smoke.json",
        "compare": "cpu_per_request.json",
    }[mode]
    args.json = args.json or RESULTS / default_name
    check_tools_and_ports(parser, (args.django_port, args.reference_port))
    return args


def main() -> int:
    args = parse_args()
    _terminate_on_sigterm()
    started_at = time.monotonic()
    eps_all = {e.key: e for e in endpoints(args.prime_n)}
    eps = [eps_all[k] for k in args.endpoint_keys]
    results: dict[str, Any] = {
        "mode": args.mode,
        "config": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("endpoint_keys",)
        },
        "environment": environment(),
    }
    failed = False
    if args.mode == "profile":
        ep = eps_all[args.profile]
        with servers_and_database(args, [args.profile_server]) as (db, servers, _):
            summary = run_profile(servers[args.profile_server], ep, db, args)
            results["findings"] = {
                args.profile_server: log_findings(servers[args.profile_server])
            }
        results["profile"] = summary
        header = (
            f"py-spy ({' '.join(summary['py_spy_flags'])}) profile of the {args.profile_server} server under wrk -c"
            f"{args.connections} on `{ep.label}`, {args.profile_duration} s at "
            f"{args.rate} Hz: {summary['samples']} samples; {summary['requests']} requests, "
            f"{summary['cpu_us_per_request_while_profiled'] or math.nan:,.0f} µs CPU/request "
            f"while profiled, {summary['loop_thread_share']:.0%} of the process's CPU "
            f"on its main (event-loop) thread (/proc/<pid>/task); statuses "
            f"{summary['statuses']}"
        )
        print_profile(summary, header)
        print(f"\nraw stacks (flamegraph.pl, speedscope): {summary['raw_file']}")
        failed = bool(summary["non2xx"])
    else:
        samples: list[Sample] = []
        with servers_and_database(args, ["django", "reference"]) as (db, servers, _):
            problems = parity(servers["django"], servers["reference"], db, eps)
            results["parity_problems"] = problems
            for problem in problems:
                print(f"PARITY: {problem}", file=sys.stderr)
            for round_no in range(1, args.rounds + 1):
                order = ["django", "reference"]
                if round_no % 2 == 0:
                    order.reverse()
                for ep in eps:
                    for name in order:
                        sample = measure(servers[name], ep, db, args, round_no)
                        samples.append(sample)
                        print(
                            f"round {round_no} {ep.key:<14} {name:<9} "
                            f"{sample.cpu_us_per_request:8,.0f} µs/req "
                            f"(user {sample.cpu_user_share:4.0%}) "
                            f"{sample.requests_per_s:8,.0f} req/s  "
                            f"{sample.threads:3} threads "
                            f"({sample.loop_thread_share:4.0%} CPU on the loop)  "
                            f"errors {sample.errors}",
                            flush=True,
                        )
            results["findings"] = {n: log_findings(s) for n, s in servers.items()}
        rows = summarize(samples, eps)
        results["samples"] = [asdict(s) for s in samples]
        results["summary"] = rows
        print_tables(rows, args.rounds)
        errors = sum(s.errors for s in samples)
        for s in samples:
            if s.errors:
                print(
                    f"errors: round {s.round} {s.endpoint} {s.server}: statuses "
                    f"{s.statuses}, socket errors {s.socket_errors}; first: "
                    f"{s.error_samples[:1]}",
                    file=sys.stderr,
                )
        failed = bool(errors or problems)
    for name, found in results.get("findings", {}).items():
        if found["flagged"]:
            print(f"\n{name} log: {found['flagged']} flagged line(s), first:")
            for line in found["first_flagged"][:5]:
                print(f"  {line[:300]}")
    results["elapsed_s"] = time.monotonic() - started_at
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n{args.mode} took {results['elapsed_s']:.0f} s; written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
