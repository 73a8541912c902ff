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
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_SCRIPT = BENCH / "wrk" / "api.lua"
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_CPU, CLIENT_CPU = "0", "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STAFF_EMAIL = "bench-staff@example.com"
CREATED_EMAILS = "u-%@bench.example.com"  # what the wrk script's POSTs create


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # "{id}" takes a seeded user's id, a different one each request
    kind: str  # the body: none, patch, create, json (see bench/wrk/api.lua)
    body: str = ""
    auth: bool = True

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


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


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces and parentheses: split after the last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """Return `root` and all its live descendants (pool workers, forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int(_stat_fields(int(entry.name))[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> tuple[float, float]:
    """User and system CPU seconds of the tree, including its reaped children.

    Counting each live process's own time plus the time of the children it
    reaped keeps a worker that exits between two readings counted (its time
    moves to its parent's cutime/cstime), as long as the parent is in the tree.
    """
    user = system = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError):
            f = _stat_fields(pid)
            user += int(f[11]) + int(f[13])
            system += int(f[12]) + int(f[14])
    return user / CLK_TCK, system / CLK_TCK


def own_and_main_thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the process itself (all its threads, ended ones too) and of
    its main thread (the event loop's), user + system."""
    own = _stat_fields(pid)
    main = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (
        (int(own[11]) + int(own[12])) / CLK_TCK,
        (int(main[11]) + int(main[12])) / CLK_TCK,
    )


def loop_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share of the process's own CPU spent on its main (event-loop) thread."""
    own, main = after[0] - before[0], after[1] - before[1]
    return main / own if own else math.nan


def thread_count(pid: int) -> int:
    return int(_stat_fields(pid)[17])


def tree_rss_mib(root: int) -> tuple[float, float]:
    """Return the resident memory of `root` and of its whole tree, in MiB."""
    own = total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError):
            rss = int(_stat_fields(pid)[21]) * PAGE_SIZE
            total += rss
            own = rss if pid == root else own
    return own / 2**20, total / 2**20


# wrk and py-spy processes running now, killed by pid if the run is aborted.
LOAD_PROCESSES: set[subprocess.Popen[Any]] = set()


def kill_load(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    LOAD_PROCESSES.discard(process)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def stop(process: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    """SIGTERM the process by its pid, SIGKILL after `grace_s`."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(grace_s)


@dataclass
class Server:
    name: str  # "django" or "reference"
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def start_server(name: str, port: int, env: dict[str, str], tmp: Path) -> Server:
    app = "config.asgi:application" if name == "django" else "bench.reference.app:app"
    # taskset execs uvicorn: the pid is the server's. One worker: one process.
    command = ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn", app]
    command += ["--host", HOST, "--port", str(port), "--workers", "1"]
    command += ["--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(name, port, process, log)


def wait_ready(server: Server, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/api/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.name} did not answer /api/health:\n{tail}")


# -- the database ---------------------------------------------------------------


@dataclass
class Database:
    name: str
    token: str = ""
    id_lo: int = 0  # the seeded (non-staff) users' ids
    id_hi: int = 0

    @property
    def django_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:5432/{self.name}"

    @property
    def psycopg_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    @property
    def asyncpg_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.name}"


def base_env(db: Database, args: argparse.Namespace) -> dict[str, str]:
    """The Django server's environment: production settings, loopback HTTP."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("UVICORN_", "WEB_CONCURRENCY", "DJANGO_", "API_", "UTILITIES_")
        )
        and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench",
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback
        API_THROTTLE_USER=args.throttle_rate,
        API_THROTTLE_ANON=args.throttle_rate,
        DATABASE_URL=db.django_url,
        UTILITIES_PROCESS_WORKERS="1",
        PYTHONUNBUFFERED="1",
        BENCH_REFERENCE_DATABASE_URL=db.asyncpg_url,
        BENCH_REFERENCE_POOL_SIZE=str(args.reference_pool_size),
    )
    for setting in args.django_env:
        name, _, value = setting.partition("=")
        env[name] = value
    # The production default (8) answers 503 at once beyond 4 running and 8
    # waiting calls of one utility: with more connections than that, part of
    # the load would be refusals, not calls. The reference reads the same setting.
    queue = args.connections if args.utility_queue is None else args.utility_queue
    env["UTILITIES_QUEUE_SIZE"] = str(queue)
    return env


def create_database(db: Database, env: dict[str, str], users: int) -> None:
    """Create, migrate (Django) and seed the database; issue the staff token."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db.name}"')
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=180,
    )  # fmt: skip
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--email", STAFF_EMAIL, "--name", "Bench Staff"],
        cwd=ROOT, env=env | {"DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe()},
        check=True, timeout=60, capture_output=True,
    )  # fmt: skip
    issued = subprocess.run(
        [*manage, "issue_token", STAFF_EMAIL, "--name", "bench"],
        cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True,
    )  # fmt: skip
    db.token = issued.stdout.strip()
    with psycopg.connect(db.psycopg_url, autocommit=True) as conn:
        # Plain users as the API would store them: an unusable password, some
        # without an age.
        conn.execute(
            """
            INSERT INTO users_user (password, last_login, is_superuser, email, name,
                                    age, is_active, is_staff, created_at, updated_at)
            SELECT '!' || substr(md5(random()::text) || md5(random()::text), 1, 40),
                   NULL, false, 'seed' || g || '@bench.example.com',
                   'Seeded User ' || g,
                   CASE WHEN g %% 10 = 0 THEN NULL ELSE g %% 100 END,
                   true, false, now(), now()
            FROM generate_series(1, %s) AS g
            """,
            (users,),
        )
        row = conn.execute(
            "SELECT min(id), max(id) FROM users_user WHERE NOT is_staff"
        ).fetchone()
        assert row is not None
        db.id_lo, db.id_hi = row
        conn.execute("VACUUM ANALYZE users_user")


def delete_created_users(db: Database) -> None:
    """Remove what POST /api/users created, so each round sees the same table."""
    with psycopg.connect(db.psycopg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM users_user WHERE email LIKE %s", (CREATED_EMAILS,))
        conn.execute("VACUUM ANALYZE users_user")


def drop_database(db: Database) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


# -- load ------------------------------------------------------------------------


def run_wrk(
    server: Server,
    endpoint: Endpoint,
    db: Database,
    *,
    seconds: int,
    connections: int,
    tag: str,
    timeout_s: int = 5,
) -> dict[str, Any]:
    """Run wrk (pinned to CPU 1) for `seconds`; return the script's summary.

    A request unanswered after `timeout_s` counts as a timeout (a socket error).
    """
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}"]
    command += [
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    command += [server.url, "--", endpoint.method, endpoint.path, endpoint.kind]
    command += [db.token if endpoint.auth else "-", tag, str(db.id_lo), str(db.id_hi)]
    command += [endpoint.body] if endpoint.body else []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    LOAD_PROCESSES.add(process)
    try:
        output, _ = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk did not finish: {' '.join(command)}") from None
    finally:
        kill_load(process)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output[-2000:]}")
    return wrk_result(output)


def wrk_result(output: str) -> dict[str, Any]:
    """The summary bench/wrk/api.lua printed, with its non-2xx samples and
    its socket errors (connect, read, write, timeouts) added up."""
    result: dict[str, Any] | None = None
    samples = []
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line.removeprefix("WRK_RESULT "))
        elif line.startswith("WRK_SAMPLE "):
            samples.append(line.removeprefix("WRK_SAMPLE "))
    if result is None:
        raise RuntimeError(f"no summary from wrk:\n{output[-2000:]}")
    result["samples"] = samples
    result["socket_errors"] = sum(
        result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return result


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


def _spread(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {
        "median": statistics.median(finite),
        "min": min(finite),
        "max": max(finite),
    }


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


def log_findings(server: Server) -> dict[str, Any]:
    """Count warnings, errors and tracebacks in a server's log; keep a few lines."""
    text = server.log.read_text(errors="replace") if server.log.exists() else ""
    lines = text.splitlines()
    flagged = [
        line
        for line in lines
        if re.search(r"\b(ERROR|WARNING|CRITICAL|Traceback|Exception)\b", line)
    ]
    return {"lines": len(lines), "flagged": len(flagged), "first_flagged": flagged[:10]}


# -- profile -------------------------------------------------------------------------

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


def environment() -> dict[str, Any]:
    versions = {}
    for package in (
        "django", "django-ninja", "pydantic", "psycopg", "uvicorn", "asgiref",
        "fastapi", "starlette", "sqlalchemy", "asyncpg",
    ):  # fmt: skip
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "versions": versions,
    }


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
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (apt-get install -y {tool})")
    for port in (args.django_port, args.reference_port):
        if not port_free(port):
            parser.error(f"something already listens on {HOST}:{port}")
    return args


def _terminate_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def servers_and_database(
    args: argparse.Namespace, names: list[str]
) -> Iterator[tuple[Database, dict[str, Server], Path]]:
    """A seeded database and the named servers; all stopped and dropped after."""
    tmp = Path(tempfile.mkdtemp(prefix="cpu-bench-"))
    db = Database(f"bench_{secrets.token_hex(4)}")
    env = base_env(db, args)
    started: dict[str, Server] = {}
    try:
        create_database(db, env, args.users)
        for name in names:
            port = args.django_port if name == "django" else args.reference_port
            started[name] = start_server(name, port, env, tmp)
        for server in started.values():
            wait_ready(server)
        yield db, started, tmp
    finally:
        for process in list(LOAD_PROCESSES):
            kill_load(process)
        for server in started.values():
            stop(server.process)
            keep = RESULTS / f"{args.mode}-{server.name}.log"
            keep.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log, keep)
        drop_database(db)
        shutil.rmtree(tmp, ignore_errors=True)


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
