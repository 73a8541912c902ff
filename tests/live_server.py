"""A live server as deployed, for tests that need real sockets and real faults.

`live_server(env, tmp)` migrates the database named by `env`, creates a
staff member and a token with manage.py, starts `python -m core.serve`
(uvicorn with the production settings) on a free port of 127.0.0.1, waits
until /api/health answers, and stops it by its pid afterwards.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "live-server-tests-only-" + "x" * 40,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "REDIS_URL": "",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    full = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "API_"))
        },
        **PRODUCTION,
        **env,
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=full, check=True)
    email = f"staff-{time.monotonic_ns()}@example.com"
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--email", email, "--name", "Staff"],
        cwd=ROOT, env=full, check=True, capture_output=True,
    )  # fmt: skip
    token = subprocess.run(
        [*manage, "issue_token", email], cwd=ROOT, env=full, check=True,
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.serve", "config.asgi:application"]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"the server did not start:\n{log.read_text()[-2000:]}")
    try:
        yield Server(process, url, token, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
