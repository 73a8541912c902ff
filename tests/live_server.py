"""Live servers as deployed, for the tests that need real sockets, and for bench/.

The one place that starts a server process, waits for it and stops it
(issue 19): the browser, fault, contract and load tests and every bench
script go through it; bench/ imports it, tests never import bench/.

- `spawn` starts a command in the project's root with its output in a log
  (bench/ puts taskset in front); `wait_until_up` polls a URL until it
  answers 200 and fails at once, with the log's tail, if the process exits
  first; `stop_process` stops it by its pid (SIGTERM, then SIGKILL).
- `live_server(env, tmp)` migrates the database named by `env`, creates a
  staff member and a token with manage.py, and runs `python -m core.serve`
  (uvicorn with the production settings) on a free port of 127.0.0.1.
- `ThrowawayServer` runs uvicorn over a PostgreSQL database of its own,
  created at start and dropped at stop.
"""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import environ
import httpx
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
APP = "config.asgi:application"
# Where throwaway databases are created and dropped.
ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "live-server-tests-only-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "REDIS_URL": "",
}


class ServerDidNotStart(RuntimeError):
    """The process exited, or its URL did not answer 200 in time."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# Kept whatever the prefixes: the mode the suite runs in (CI runs it both ways).
MODE = ("DJANGO_FAST_PATH",)


def fast_path_on() -> bool:
    """Whether the servers started here serve through the fast path (the
    default), read as config/settings.py reads it."""
    on: bool = environ.Env().bool("DJANGO_FAST_PATH", default=True)
    return on


def inherited_env(*prefixes: str) -> dict[str, str]:
    """Return this process's environment without the variables named `prefixes*`
    (but MODE's)."""
    return {
        k: v for k, v in os.environ.items() if k in MODE or not k.startswith(prefixes)
    }


def server_command(
    port: int, *options: str, app: str = APP, module: str = "uvicorn"
) -> list[str]:
    """Return the command line of `python -m uvicorn APP` (or of `module`,
    such as core.serve) on 127.0.0.1:`port`."""
    command = [sys.executable, "-m", module, app, "--host", HOST, "--port", str(port)]
    return command + [*options]


def spawn(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    *,
    append: bool = False,
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `command` in the project's root, its output going to `log`.

    With `own_group` it starts in a session of its own, so that
    stop_process(group=True) also ends what it forked and left behind (pool workers).
    """
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            [*command],
            cwd=ROOT,
            env={**env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    log: Path,
    *,
    within_s: float = 30,
    what: str = "the server",
) -> None:
    """Return once GET `url` answers 200.

    Raise ServerDidNotStart, with the tail of `log`, if the process exits
    first or `within_s` seconds pass.
    """
    deadline = time.monotonic() + within_s
    while True:
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"{what} exited ({process.returncode}) before {url} answered:\n"
                + tail(log)
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ServerDidNotStart(
                f"{what} did not answer {url} in {within_s:g} s:\n{tail(log)}"
            )
        time.sleep(0.1)


def stop_process(
    process: subprocess.Popen[bytes], grace_s: float = 10, *, group: bool = False
) -> None:
    """Stop a process by its pid: SIGTERM, then SIGKILL after `grace_s`.

    With `group` (a process spawned with own_group) SIGKILL then goes to its
    whole process group, whether it stopped in time or not: workers of a
    process pool it left behind go too.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    if group:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()
    process.wait(grace_s)


def manage(env: Mapping[str, str], *args: str, timeout_s: float | None = None) -> str:
    """Run `manage.py ARGS` in `env`; return its output (raise if it fails)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**env}, check=True,
        capture_output=True, text=True, timeout=timeout_s,
    ).stdout  # fmt: skip


def create_staff(
    env: Mapping[str, str], email: str, name: str, timeout_s: float | None = None
) -> None:
    """Create a superuser (staff, every permission) with createsuperuser."""
    args = ["--noinput", "--email", email, "--name", name]
    manage(env, "createsuperuser", *args, timeout_s=timeout_s)


def issue_token(
    env: Mapping[str, str], email: str, *options: str, timeout_s: float | None = None
) -> str:
    """Return a new bearer token of the user with `email`."""
    return manage(env, "issue_token", email, *options, timeout_s=timeout_s).strip()


def create_database(name: str, admin_url: str = ADMIN_URL) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    """Drop the database, closing the connections still open to it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        """GET `path` with the staff token."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=20, **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def live_server(env: Mapping[str, str], tmp: Path) -> Iterator[Server]:
    """Run the production server over `env` (merged over PRODUCTION and this
    process's environment without its DJANGO_ and API_ variables)."""
    full = {**inherited_env("DJANGO_", "API_"), **PRODUCTION, **env}
    manage(full, "migrate", "-v0")
    email = f"staff-{time.monotonic_ns()}@example.com"
    create_staff(full, email, "Staff")
    token = issue_token(full, email)
    port = free_port()
    log = tmp / "server.log"
    process = spawn(server_command(port, module="core.serve"), full, log)
    url = f"http://{HOST}:{port}"
    try:
        try:
            wait_until_up(process, f"{url}/api/health", log)
        except ServerDidNotStart as exc:
            pytest.fail(str(exc))
        yield Server(process, url, token, log)
    finally:
        stop_process(process, 15)


class ThrowawayServer:
    """uvicorn over a database of its own; stop() stops it and drops the database."""

    STAFF_EMAIL = "load-staff@example.com"

    def __init__(
        self, workers: int, log: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.db = f"load_{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = log
        self.env = {
            **inherited_env("DJANGO_", "API_"),
            "DATABASE_URL": f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.db}",
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
        """Prepare the database, start uvicorn, wait until /api/ready answers."""
        self.prepare()
        command = server_command(self.port, "--no-access-log")
        self.process = spawn(command, self.env, self.log)
        wait_until_up(
            self.process, f"{self.url}/api/ready", self.log, within_s=within_s
        )

    def prepare(self) -> None:
        """Create the database, migrate it, and make a staff user and its token."""
        create_database(self.db)
        manage(self.env, "migrate", "-v0")
        create_staff(self.env, self.STAFF_EMAIL, "Load")
        self.token = self.issue_token()

    def issue_token(self) -> str:
        """Return a new bearer token of the staff user."""
        return issue_token(self.env, self.STAFF_EMAIL)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 20)
        drop_database(self.db)
