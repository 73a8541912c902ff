"""`manage.py dev`: the development server, usable at once (#18).

Migrates, makes sure a development staff account exists (printing its
password and an API token the first time, with the docs URL), then runs
uvicorn with reload and a job worker (`db_worker --reload`) as its two child
processes: one process tree, stopped by one Ctrl-C (or a SIGTERM). Debug only: with
DJANGO_DEBUG off it refuses to run, so no production database ever gets the
account.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.models import User
from users.tokens import token_issue

EMAIL = "dev@example.com"


class Command(BaseCommand):
    help = (
        "Development only: migrate, make sure a staff account and a token exist, "
        "and serve with reload beside a job worker. Ctrl-C stops both."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Only migrate and make the account (for scripts and tests).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "manage.py dev is for development only: set DJANGO_DEBUG=true."
            )
        call_command("migrate", verbosity=0, interactive=False)
        base = f"http://{options['host']}:{options['port']}"
        self._account(base)
        if not options["no_serve"]:
            self._serve(options["host"], options["port"])

    def _account(self, base: str) -> None:
        """The development staff account: made, and its secrets printed, once."""
        user = User.objects.filter(email__iexact=EMAIL).first()
        if user is not None:
            self.stdout.write(
                f"Development account: {EMAIL} (its password and token were printed "
                f"when it was made; a new token: python3 -m uv run manage.py issue_token {EMAIL})."
                f"\nAPI docs: {base}/api/docs  admin: {base}/admin/"
            )
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(
            email=EMAIL, name="Developer", password=password
        )
        _, token = token_issue(user=user, name="development")
        self.stdout.write(
            "Made a development staff account (shown this once):\n"
            f"  email     {EMAIL}\n"
            f"  password  {password}\n"
            f"  token     {token}\n"
            f"API docs: {base}/api/docs (Authorize: the token)  admin: {base}/admin/\n"
            f'Try: curl -H "Authorization: Bearer {token}" {base}/api/users/me'
        )

    def _serve(self, host: str, port: int) -> None:
        """uvicorn with reload and a job worker, until Ctrl-C (or either ends)."""
        python = sys.executable
        names = ["uvicorn", "db_worker"]
        children = [
            subprocess.Popen(
                [python, "-m", "uvicorn", "config.asgi:application", "--reload"]
                + ["--host", host, "--port", str(port)],
                start_new_session=True,
            ),
            subprocess.Popen(
                [python, "manage.py", "db_worker", "--reload"], start_new_session=True
            ),
        ]
        asked = False

        def on_sigterm(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # a supervisor's stop, handled as Ctrl-C

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.2)
        except KeyboardInterrupt:
            asked = True
        finally:
            # A terminal's Ctrl-C reaches `uv run` too, which passes it on: a
            # second SIGINT must not cut the children's stop short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _stop(children)
        if not asked:
            ended = [n for n, c in zip(names, children, strict=True) if c.returncode]
            raise CommandError(f"stopped: {', '.join(ended) or 'a child'} exited")


def _stop(children: list["subprocess.Popen[bytes]"]) -> None:
    """Stop each child's process group (its reloader and the process it runs)
    with SIGTERM, as a supervisor would; SIGKILL whatever is left after 10 s.

    The children have groups of their own, so a terminal's Ctrl-C reaches
    this process only, and stopping never depends on how SIGINT is set.
    """
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # what outlived its parent
        child.wait()
