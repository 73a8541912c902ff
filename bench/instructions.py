"""Instructions per request, counted by valgrind: a steady figure on a noisy machine.

CPU time on this shared 2-core machine moves by ±20 % between runs, too much
to see a change of a few per cent. `valgrind --tool=callgrind` counts the
instructions a process executes, whatever else the machine does. This runs
the production application (DEBUG off, the production middleware,
config.asgi.application with its request threads, PostgreSQL with the pool,
a bearer token) in-process under callgrind twice, once serving `--requests`
requests of one endpoint and once serving none (after the same 50-request
warm-up), and prints the difference divided by `--requests`: the
instructions of one request, start-up and warm-up taken out. No server and
no sockets: it measures the handler, middleware, ninja, ORM and driver, not
uvicorn. Threads run one at a time under valgrind, so the figure is the
work of a request, not its contention. With `--concurrency` above the
request threads (9 with the default pool), some requests wait for a
thread, as on a saturated server.

    uv run python -m bench.instructions [--endpoint health|get_user|patch_user|slugify|prime_factors]
        [--requests 1000] [--concurrency 1] [--cpu]

`--cpu` reports CPU µs per request of the same in-process run instead,
without valgrind (seconds, not minutes; noisier).

Compare two versions of the code with the same command on each; each run
takes a minute or two (valgrind runs Python about 50 times slower). Needs
`valgrind` (Debian's package) and PostgreSQL on 127.0.0.1:5432, where it
creates and drops a throwaway database.
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 50
ENDPOINTS = {  # method, path, body
    "health": ("GET", "/api/health", ""),
    "get_user": ("GET", "/api/users/{id}", ""),
    "patch_user": ("PATCH", "/api/users/{id}", '{"age": 30}'),
    "slugify": ("POST", "/api/utilities/slugify", '{"text": "Hello, World! Deja vu"}'),
    # The server's side of a process call; the pool worker is not counted.
    "prime_factors": ("POST", "/api/utilities/prime_factors", '{"n": 1234567890}'),
}


def serve(
    method: str, path: str, body: bytes, token: str, count: int, concurrency: int
) -> dict[int, int]:
    """Serve WARM_UP + `count` requests in-process, `concurrency` at a time."""
    import django

    django.setup()
    import uvloop

    from config.asgi import application

    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "headers": headers,
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    statuses: dict[int, int] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect: wait to be cancelled
            raise AssertionError("unreachable")

        await application(dict(scope), receive, send)

    async def main() -> None:
        # The warm-up is the same whole batches with and without `count`.
        batches = -(-WARM_UP // concurrency) + count // concurrency
        for _ in range(batches):
            if concurrency == 1:  # no task of its own, as before --concurrency
                await one()
            else:
                await asyncio.gather(*(one() for _ in range(concurrency)))
            # Let the loop run between batches, as a server's does: callbacks
            # a request left (a cancelled task's last step) run now, not
            # after all of them.
            await asyncio.sleep(0)

    uvloop.run(main())
    return statuses


def serve_in_child(
    env: dict[str, str], requests: int, concurrency: int, *, under: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run `serve` in a child process, prefixed by the command `under` (e.g.
    valgrind); return it once every request was answered 200, else raise."""
    run = subprocess.run(
        [*under, sys.executable, "-m", "bench.instructions", "--serve", str(requests),
         "--concurrency", str(concurrency)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    served = re.search(r"STATUSES (.*)", run.stdout)
    if run.returncode or served is None:
        raise RuntimeError(f"run failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    if set(json.loads(served.group(1))) != {"200"}:
        raise RuntimeError(f"not every request answered 200: {served.group(1)}")
    return run


def count_instructions(env: dict[str, str], requests: int, concurrency: int) -> int:
    """Run `serve` under callgrind; return the instructions it executed."""
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}"]
        run = serve_in_child(env, requests, concurrency, under=valgrind)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"callgrind counted nothing:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def cpu_seconds(env: dict[str, str], requests: int, concurrency: int) -> float:
    """Run `serve` without valgrind; return the CPU time (user + system) it took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    serve_in_child(env, requests, concurrency, under=[])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", choices=sorted(ENDPOINTS), default="health")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--concurrency", type=int, default=1,
        help="requests in flight at once (more than the request threads: some wait)",
    )  # fmt: skip
    parser.add_argument(
        "--cpu", action="store_true",
        help="CPU µs per request instead (no valgrind; median of 3 pairs of runs): "
        "quicker, and it counts what valgrind hides (thread switches, system "
        "calls), but it moves with the machine's load",
    )  # fmt: skip
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve is None and options.requests % options.concurrency:
        parser.error("--requests must be a multiple of --concurrency")

    if options.serve is not None:  # the process under valgrind
        statuses = serve(
            os.environ["BENCH_METHOD"],
            os.environ["BENCH_PATH"],
            os.environ["BENCH_BODY"].encode(),
            os.environ["BENCH_TOKEN"],
            options.serve,
            options.concurrency,
        )
        print("STATUSES", json.dumps(statuses))
        return

    import psycopg

    from tests.live_server import ThrowawayServer

    with tempfile.TemporaryDirectory() as tmp:
        server = ThrowawayServer(workers=1, log=Path(tmp) / "unused.log")
        try:
            server.prepare()
            with psycopg.connect(server.env["DATABASE_URL"]) as conn:
                row = conn.execute(
                    "SELECT id FROM users_user WHERE email = %s", [server.STAFF_EMAIL]
                ).fetchone()
            assert row is not None
            staff_id = row[0]
            method, path, body = ENDPOINTS[options.endpoint]
            env = {
                **server.env,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "BENCH_METHOD": method,
                "BENCH_PATH": path.format(id=staff_id),
                "BENCH_BODY": body,
                "BENCH_TOKEN": server.token,
            }
            if options.cpu:
                runs = sorted(
                    (cpu_seconds(env, options.requests, options.concurrency)
                     - cpu_seconds(env, 0, options.concurrency)) / options.requests * 1e6
                    for _ in range(3)
                )  # fmt: skip
            else:
                base = count_instructions(env, 0, options.concurrency)
                loaded = count_instructions(env, options.requests, options.concurrency)
        finally:
            server.stop()
    if options.cpu:
        print(f"{options.endpoint}: {runs[1]:,.0f} µs of CPU per request, median of "
              f"{', '.join(f'{r:,.0f}' for r in runs)} ({options.requests} requests, "
              f"{options.concurrency} at a time, in-process)")  # fmt: skip
        return
    per_request = (loaded - base) / options.requests
    print(f"{options.endpoint}: {per_request:,.0f} instructions per request "
          f"({options.requests} requests, {options.concurrency} at a time; "
          f"{loaded:,} - {base:,} at start-up and warm-up)")  # fmt: skip


if __name__ == "__main__":
    main()
