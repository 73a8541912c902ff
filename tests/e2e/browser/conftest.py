"""Fixtures of the browser tests: the production server, a job worker, Chromium.

The server is `uvicorn config.asgi:application` with DEBUG off, started once
per session (per xdist worker) on the test database, and stopped by its pid
before that database is dropped. Chromium opens it as http://localhost:<port>:
Chromium treats localhost as a secure context, so the Secure session and CSRF
cookies of the production settings are kept over plain HTTP. Each test gets a
fresh browser (Playwright's own temporary profile, deleted at close).

On failure a test's screenshot and HTML go to $BROWSER_ARTIFACTS (default
/tmp/browser-artifacts), beside the server's and the worker's output.
"""

# Over 300 lines: one suite's fixtures (server, worker, browser, users) and
# its failure hooks, which pytest reads only from a conftest.

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from playwright.sync_api import Page, expect, sync_playwright
from pytest_django import DjangoDbBlocker

from tests import factories
from tests.e2e.browser.live import PASSWORD
from tests.live_server import (
    ROOT,
    ServerDidNotStart,
    free_port,
    inherited_env,
    server_command,
    spawn,
    stop_process,
    wait_until_up,
)
from users.models import User

# One folder per xdist worker ("main" without xdist), emptied when it starts.
ARTIFACTS = Path(
    os.environ.get("BROWSER_ARTIFACTS", "/tmp/browser-artifacts"),
    os.environ.get("PYTEST_XDIST_WORKER", "main"),
)
CHROMIUM = "/usr/bin/chromium"  # Debian's package; never `playwright install`
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # every wait of a test on the page
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
APP_NAME = "browser-tests"  # the PostgreSQL application_name of our processes

saved_artifacts: list[Path] = []


def _database_url() -> str:
    """Return a URL of the test database, for processes outside pytest."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}{port}/{db['NAME']}?application_name={APP_NAME}"


def _content_types() -> list[tuple[int, str, str]]:
    """Return the content type rows, whose ids a server process caches."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, app_label, model FROM django_content_type")
        return sorted(cursor.fetchall())


class LiveServer:
    """uvicorn on 127.0.0.1, as deployed, on the test database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.log = ARTIFACTS / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.content_types: list[tuple[int, str, str]] | None = None

    def start(self) -> None:
        command = server_command(self.port)
        self.process = spawn(command, self.env, self.log, append=True, own_group=True)
        health = f"http://127.0.0.1:{self.port}/api/health"
        try:
            wait_until_up(self.process, health, self.log, within_s=START_TIMEOUT_S)
        except ServerDidNotStart as exc:
            self.stop()
            pytest.fail(str(exc))

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT_S, group=True)
            self.process = None


def _wait_for_disconnects() -> None:
    """Wait (bounded) until PostgreSQL has let the server's connections go."""
    if connection.vendor != "postgresql":
        return
    for _ in range(50):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = %s",
                [APP_NAME, connection.settings_dict["NAME"]],
            )
            if cursor.fetchone() == (0,):
                return
        time.sleep(0.1)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """This process's folder of screenshots, page HTML and process logs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.iterdir():
        if stale.suffix in (".png", ".html", ".log"):
            stale.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def live_env(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
    artifacts: Path,
) -> dict[str, str]:
    """The environment of a deployment, on the test database and static files."""
    inherited = inherited_env("DJANGO_", "DATABASE_", "REDIS_", "API_", "UTILITIES_")
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **inherited,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
        "DATABASE_URL": database_url,
        "API_DOCS": "public",  # production's default is staff-only
        # Every test logs in from 127.0.0.1; the default 10/m is for attackers.
        "API_THROTTLE_LOGIN": "1000/m",
        "PYTHONUNBUFFERED": "1",
    }
    # The image collects static files at build time; DEBUG off serves only those.
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    return env


@pytest.fixture(scope="session")
def live_server_process(
    live_env: dict[str, str], django_db_blocker: DjangoDbBlocker
) -> Iterator[LiveServer]:
    """The server, once per session; stopped before the test database is dropped."""
    server = LiveServer(live_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        with django_db_blocker.unblock():
            _wait_for_disconnects()


@pytest.fixture
def live_url(live_server_process: LiveServer, transactional_db: None) -> str:
    """The server's address, as the browser reaches it.

    Tests elsewhere flush the whole database, and the content types come back
    with new ids; a server that cached the old ones would fail writing the
    admin's log (a foreign key), so it is restarted then.
    """
    server = live_server_process
    current = _content_types()
    if server.content_types not in (None, current):
        server.stop()
        server.start()
    server.content_types = current
    return server.url


@pytest.fixture
def job_worker(live_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`manage.py db_worker` on the test database, for one test.

    Not per session: between browser tests it would claim the tasks that the
    other tests of this process commit and run their own workers for.
    """
    command = [sys.executable, "manage.py", "db_worker", "--queue-name", "*"]
    command += ["--no-reload", "--no-startup-delay", "--interval", "0.2"]
    log = ARTIFACTS / "db_worker.log"
    process = spawn(command, live_env, log, append=True, own_group=True)
    try:
        yield process
    finally:
        stop_process(process, STOP_TIMEOUT_S, group=True)


@pytest.fixture
def page(request: pytest.FixtureRequest, live_url: str) -> Iterator[Page]:
    """A page of a fresh headless Chromium, on the live server.

    Set up after every other fixture of the test: while Playwright's sync API
    runs, this thread counts as inside an event loop, and Django's ORM and
    async_to_sync refuse to work in it. So tests arrange data in fixtures and
    check the outcome over HTTP.
    """
    for name in request.fixturenames:
        if name not in ("page", "request"):
            request.getfixturevalue(name)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(base_url=live_url)
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def superuser(db: None) -> User:
    """Staff with every admin permission, who logs in with PASSWORD."""
    return User.objects.create_superuser("admin@example.com", PASSWORD, name="Admin")


@pytest.fixture
def superuser_token(superuser: User) -> str:
    """A bearer token of `superuser`."""
    return factories.token(superuser)


@pytest.fixture
def member(db: None) -> User:
    """A user who is not staff, with a password."""
    return factories.user(email="member@example.com", name="Member", password=PASSWORD)


@pytest.fixture
def member_token(member: User) -> str:
    """A bearer token of `member`."""
    return factories.token(member)


@pytest.fixture
def dora(db: None) -> User:
    """A user whose name is not in her email, to find by name."""
    return factories.user(email="dsm@example.com", name="Dora Smith", age=40)


def _save_page(page: Page, nodeid: str) -> list[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / re.sub(r"[^\w.-]+", "_", nodeid.split("::", 1)[-1])
    png, html = stem.with_suffix(".png"), stem.with_suffix(".html")
    page.screenshot(path=png, full_page=True)
    html.write_text(page.content())
    return [png, html]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Save the failed test's page as a screenshot and HTML."""
    report = yield
    page = item.funcargs.get("page") if isinstance(item, pytest.Function) else None
    if report.failed and isinstance(page, Page) and not page.is_closed():
        try:
            saved = _save_page(page, item.nodeid)
        except Exception as exc:  # a crashed browser must not hide the failure
            report.sections.append(("browser artifacts", f"not saved: {exc!r}"))
        else:
            saved_artifacts.extend(saved)
            report.sections.append(
                ("browser artifacts", "\n".join(str(path) for path in saved))
            )
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the artifacts folder when a browser test saved its page there."""
    if saved_artifacts:
        terminalreporter.write_sep("-", "browser artifacts")
        terminalreporter.write_line(
            f"{len(saved_artifacts)} files in {ARTIFACTS}, beside the server's log"
        )
