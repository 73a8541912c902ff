"""The servers under test and their throwaway PostgreSQL database."""

import argparse
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.harness.machine import (
    CREATED_EMAILS,
    HOST,
    LOAD_PROCESSES,
    PG_ADMIN_URL,
    RESULTS,
    SERVER_CPU,
    STAFF_EMAIL,
)
from tests import live_server
from tests.live_server import (
    create_staff,
    issue_token,
    manage,
    server_command,
    spawn,
    stop_process,
    wait_until_up,
)


def kill_load(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    LOAD_PROCESSES.discard(process)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) != 0


def check_tools_and_ports(
    parser: argparse.ArgumentParser, ports: tuple[int, ...]
) -> None:
    """Refuse to start (parser.error) without wrk and taskset, or with a
    server's port already taken on 127.0.0.1."""
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (apt-get install -y {tool})")
    for port in ports:
        if not port_free(port):
            parser.error(f"something already listens on {HOST}:{port}")


@dataclass
class Server:
    name: str  # "reference", or "django" or a variant of it
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
    app = (
        "bench.reference.app:app" if name == "reference" else "config.asgi:application"
    )
    # taskset execs uvicorn: the pid is the server's. One worker: one process.
    options = ["--workers", "1", "--no-access-log", "--loop", "uvloop"]
    command = server_command(port, *options, "--http", "httptools", app=app)
    log = tmp / f"{name}.log"
    process = spawn(["taskset", "-c", SERVER_CPU, *command], env, log)
    return Server(name, port, process, log)


def wait_ready(server: Server, within_s: float = 30) -> None:
    health = f"{server.url}/api/health"
    wait_until_up(
        server.process, health, server.log, within_s=within_s, what=server.name
    )


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
    live_server.create_database(db.name, PG_ADMIN_URL)
    manage(env, "migrate", "--noinput", "-v", "0", timeout_s=180)
    password = {"DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe()}
    create_staff(env | password, STAFF_EMAIL, "Bench Staff", timeout_s=60)
    db.token = issue_token(env, STAFF_EMAIL, "--name", "bench", timeout_s=60)
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
    live_server.drop_database(db.name, PG_ADMIN_URL)


# -- load ------------------------------------------------------------------------


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


@contextlib.contextmanager
def servers_and_database(
    args: argparse.Namespace,
    names: list[str],
    variants: Mapping[str, tuple[int, Mapping[str, str]]] | None = None,
) -> Iterator[tuple[Database, dict[str, Server], Path]]:
    """A seeded database and the named servers; all stopped and dropped after.

    "django" and "reference" serve on args.django_port and args.reference_port;
    a name in `variants` is Django on its own port, with its own variables.
    """
    tmp = Path(tempfile.mkdtemp(prefix="cpu-bench-"))
    db = Database(f"bench_{secrets.token_hex(4)}")
    env = base_env(db, args)
    started: dict[str, Server] = {}
    try:
        create_database(db, env, args.users)
        for name in names:
            if variants and name in variants:
                port, extra = variants[name]
            else:
                port = args.django_port if name == "django" else args.reference_port
                extra = {}
            started[name] = start_server(name, port, env | dict(extra), tmp)
        for server in started.values():
            wait_ready(server)
        yield db, started, tmp
    finally:
        for process in list(LOAD_PROCESSES):
            kill_load(process)
        for server in started.values():
            stop_process(server.process)
            keep = RESULTS / f"{args.mode}-{server.name}.log"
            keep.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log, keep)
        drop_database(db)
        shutil.rmtree(tmp, ignore_errors=True)
