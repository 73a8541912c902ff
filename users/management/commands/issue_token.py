"""`manage.py issue_token EMAIL [--expires-in DAYS]`: print a new API token."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.models import User
from users.tokens import token_issue


class Command(BaseCommand):
    help = "Issue an API token for an existing user and print it (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The user's email (any case).")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="Days until it expires."
        )
        parser.add_argument("--name", default="", help="What the token is for.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(email__iexact=options["email"])
        except User.DoesNotExist:
            raise CommandError(f"No user with email {options['email']!r}.") from None
        days = options["expires_in"]
        if days is not None and days < 1:
            raise CommandError("--expires-in must be at least 1 day.")
        token, raw = token_issue(
            user=user,
            name=options["name"],
            expires_in=timedelta(days=days) if days else None,
        )
        self.stdout.write(raw)
        self.stderr.write(
            f"Token {token.prefix} for {user.email}"
            + (
                f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC."
                if token.expires_at
                else "."
            )
        )
