"""What a test needs beyond Python, and what to do when it is absent (#18).

A test says `@pytest.mark.requires("chromium")` (or calls `require()` from a
fixture). Where the thing is missing the test skips, with a reason that says
how to get it; under `CI=true` it fails instead, since CI installs
everything. The one exception is the database under test: a test that needs
PostgreSQL skips on SQLite everywhere, CI's SQLite run included, because
there SQLite is the point, not a missing tool.
"""

import functools
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI") == "true"


def _postgresql_database() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def _listens(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1
        ):
            return True
    except OSError:
        return False


def _postgresql_server() -> bool:
    url = os.environ.get(
        "BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
    )
    return _listens(url, 5432)


def _redis() -> bool:
    return _listens(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379"), 6379)


def _node_tools() -> bool:
    return bool(shutil.which("node")) and (ROOT / "node_modules/.bin/redocly").exists()


# name: (whether it is there, how to get it, whether CI may skip without it)
NEEDS: dict[str, tuple[Callable[[], bool], str, bool]] = {
    "postgresql": (
        _postgresql_database,
        "set DATABASE_URL to a PostgreSQL database, e.g. "
        "postgres://postgres@127.0.0.1:5432/postgres",
        True,
    ),
    "postgresql-server": (
        _postgresql_server,
        "start PostgreSQL on 127.0.0.1:5432 (user postgres, trust), or set "
        "BENCH_POSTGRES_URL",
        False,
    ),
    "postgresql-binaries": (
        lambda: any(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
        "apt-get install postgresql (the tests start a private cluster)",
        False,
    ),
    "redis": (
        _redis,
        'start redis-server: redis-server --daemonize yes --bind 127.0.0.1 --save ""',
        False,
    ),
    "redis-server": (
        lambda: bool(shutil.which("redis-server")),
        "apt-get install redis-server (the tests start a private one)",
        False,
    ),
    "chromium": (
        lambda: Path("/usr/bin/chromium").exists(),
        "apt-get install chromium chromium-driver",
        False,
    ),
    "node": (
        _node_tools,
        f"install Node.js 20.19 or later and run `npm ci` in {ROOT}",
        False,
    ),
}


@functools.cache
def _present(name: str) -> bool:
    return NEEDS[name][0]()


def require(name: str) -> None:
    """Skip the calling test unless `name` is there (fail instead under CI)."""
    if _present(name):
        return
    _, how, ci_may_skip = NEEDS[name]
    reason = f"needs {name}: {how}"
    if CI and not ci_may_skip:
        pytest.fail(f"{reason} (CI=true: nothing may skip)")
    pytest.skip(reason)
