"""Concurrent writes at a live server, then a check that nothing was lost.

Starts the real server (uvicorn, DEBUG off, `--workers` processes) on
127.0.0.1 over a throwaway PostgreSQL database, then for each round:

1. creates `--users` users concurrently (`--concurrency` requests in flight);
2. patches each created user twice at once, `name` and `age` in separate
   concurrent PATCHes (disjoint fields: both must survive);
3. deletes every third created user;

and compares the table with what the server acknowledged: every 201 has its
row, with the patched name and age where both PATCHes answered 200; every
204 removed its row; nothing else exists (no unacknowledged or half-written
row). Any 5xx or transport error counts. It reports requests, statuses,
errors, lost or unexpected writes and the server's RSS after each round, and
exits non-zero on any error or mismatch. Bounded by `--timeout` seconds;
everything started is stopped by its pid, the database dropped.

    uv run python bench/nothing_lost.py [--users 1000] [--concurrency 64] \
        [--rounds 3] [--workers 2] [--json bench/results/nothing_lost.json]

tests/load/ runs it at a small size in CI.
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import asyncio
import collections
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Round:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    transport_errors: int = 0
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    rss_mib: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def ok(self) -> bool:
        return not (
            self.server_errors or self.transport_errors or self.lost or self.unexpected
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mib(pid: int) -> float:
    """RSS of the server process and its children (uvicorn's workers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


class Server:
    """A throwaway database and uvicorn over it; stop() undoes both."""

    STAFF_EMAIL = "load-staff@example.com"

    def __init__(
        self, workers: int, log: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.db = f"load_{secrets.token_hex(4)}"
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        base = ADMIN_URL.rsplit("/", 1)[0]
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "API_"))
            },
            "DATABASE_URL": f"{base}/{self.db}",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "load-test-only-" + secrets.token_hex(24),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "API_THROTTLE_USER": "100000000/m",
            "DJANGO_LOG_LEVEL": "WARNING",
            "REDIS_URL": "",
            "WEB_CONCURRENCY": str(workers),
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self, within_s: float = 60) -> None:
        self.prepare()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application",
                 "--host", HOST, "--port", str(self.port), "--no-access-log"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-2000:]}")

    def prepare(self) -> None:
        """Create the database, migrate it, and make a staff user and its token."""
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db}"')
        self._manage("migrate", "-v0")
        self._manage(
            "createsuperuser",
            "--noinput",
            "--email",
            self.STAFF_EMAIL,
            "--name",
            "Load",
        )
        self.token = self.issue_token()

    def _manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip

    def issue_token(self) -> str:
        """Return a new bearer token of the staff user."""
        return self._manage("issue_token", self.STAFF_EMAIL).strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def rows(self) -> dict[str, tuple[str, int | None]]:
        """email -> (name, age) of the non-staff users, read straight from the table."""
        base = ADMIN_URL.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/{self.db}") as conn:
            found = conn.execute(
                "SELECT email, name, age FROM users_user WHERE NOT is_staff"
            ).fetchall()
        return {email: (name, age) for email, name, age in found}


async def run_round(server: Server, n: int, concurrency: int, tag: str) -> Round:
    result = Round()
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {server.token}"}

    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=30
    ) as client:

        async def call(
            method: str, url: str, body: Any = None
        ) -> httpx.Response | None:
            async with gate:
                try:
                    response = await client.request(method, url, json=body)
                except httpx.TransportError:
                    result.transport_errors += 1
                    return None
            result.statuses[response.status_code] += 1
            return response

        # 1. Creates.
        emails = [f"{tag}-{i}@example.com" for i in range(n)]
        created: dict[str, int] = {}
        responses = await asyncio.gather(
            *(
                call("POST", "/api/users", {"email": e, "name": "New", "age": 1})
                for e in emails
            )
        )
        for email, response in zip(emails, responses, strict=True):
            if response is not None and response.status_code == 201:
                created[email] = response.json()["id"]

        # 2. Two PATCHes of disjoint fields per user, at once.
        expected: dict[str, tuple[str, int | None]] = {}
        patches = []
        for i, (email, uid) in enumerate(created.items()):
            patches.append(
                (email, "name", call("PATCH", f"/api/users/{uid}", {"name": f"N{i}"}))
            )
            patches.append(
                (email, "age", call("PATCH", f"/api/users/{uid}", {"age": i % 150}))
            )
        answers = await asyncio.gather(*(p[2] for p in patches))
        acknowledged: dict[str, set[str]] = collections.defaultdict(set)
        for (email, fieldname, _), response in zip(patches, answers, strict=True):
            if response is not None and response.status_code == 200:
                acknowledged[email].add(fieldname)
        for i, email in enumerate(created):
            name = f"N{i}" if "name" in acknowledged[email] else "New"
            age = i % 150 if "age" in acknowledged[email] else 1
            expected[email] = (name, age)

        # 3. Deletes of every third user.
        doomed = list(created)[::3]
        deletes = await asyncio.gather(
            *(call("DELETE", f"/api/users/{created[e]}") for e in doomed)
        )
        for email, response in zip(doomed, deletes, strict=True):
            if response is not None and response.status_code == 204:
                expected.pop(email)

    # 4. The table against what was acknowledged.
    rows = {e: v for e, v in server.rows().items() if e.startswith(f"{tag}-")}
    for email, values in expected.items():
        if rows.get(email) != values:
            result.lost.append(
                f"{email}: acknowledged {values}, found {rows.get(email)}"
            )
    for email in rows.keys() - expected.keys():
        result.unexpected.append(f"{email}: {rows[email]} was never acknowledged")
    assert server.process is not None
    result.rss_mib = _rss_mib(server.process.pid)
    return result


async def run(
    *,
    users: int,
    concurrency: int,
    rounds: int,
    workers: int,
    log: Path,
    round_timeout_s: float,
) -> list[Round]:
    """Start a server, run the rounds, stop it; return each round's figures."""
    server = Server(workers, log)
    try:
        await asyncio.to_thread(server.start)
        results = []
        for r in range(rounds):
            results.append(
                await asyncio.wait_for(
                    run_round(server, users, concurrency, tag=f"r{r}"), round_timeout_s
                )
            )
        return results
    finally:
        await asyncio.to_thread(server.stop)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per round")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench/results/nothing_lost.json"
    )
    args = parser.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = asyncio.run(
        run(users=args.users, concurrency=args.concurrency, rounds=args.rounds,
            workers=args.workers, log=args.json.with_suffix(".server.log"),
            round_timeout_s=args.timeout)
    )  # fmt: skip
    print(
        "| round | requests | statuses | 5xx | transport errors | lost | unexpected | RSS MiB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(results, 1):
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items()))
        print(f"| {i} | {r.requests} | {statuses} | {r.server_errors} | "
              f"{r.transport_errors} | {len(r.lost)} | {len(r.unexpected)} | {r.rss_mib:.1f} |")  # fmt: skip
    for r in results:
        for line in (r.lost + r.unexpected)[:5]:
            print("  ", line)
    print(f"\n{args.users} creates, {2 * args.users} PATCHes and {-(-args.users // 3)} deletes per round, {args.concurrency} in flight, "
          f"{args.workers} server processes; took {time.monotonic() - started:.0f} s")  # fmt: skip
    args.json.write_text(json.dumps([
        {"requests": r.requests, "statuses": dict(r.statuses), "server_errors": r.server_errors,
         "transport_errors": r.transport_errors, "lost": r.lost, "unexpected": r.unexpected,
         "rss_mib": r.rss_mib} for r in results], indent=2))  # fmt: skip
    return 0 if all(r.ok() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
