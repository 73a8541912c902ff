"""Production settings, as an operator runs them."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_django import Settings

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process with the environment of a deployment.

    No `.env` is read (a developer's own would change the outcome) unless
    `DJANGO_ENV_FILE` is given.
    """
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "REDIS_", "DATABASE_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_ENV_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy() -> None:
    """`manage.py check --deploy` finds nothing to warn about with DEBUG off."""
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_server_refuses_to_start_without_secret_key() -> None:
    """With debug off and no DJANGO_SECRET_KEY, nothing starts."""
    result = _manage("check", DJANGO_DEBUG="false")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.django_db
async def test_security_headers_are_sent(api: httpx.AsyncClient) -> None:
    """Responses carry HSTS, nosniff, referrer policy and frame options."""
    response = await api.get("/api/users/me")

    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
async def test_plain_http_is_redirected_to_https(settings: Settings) -> None:
    """Outside debug, http:// requests are sent to https://, except the probes
    and the metrics scrape, which come from inside the platform."""
    settings.API_METRICS_TOKEN = "scrape"
    from config.asgi import application

    transport = httpx.ASGITransport(app=application)
    plain = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    redirected = await plain.get("/api/utilities")
    probe = await plain.get("/api/health")
    ready = await plain.get("/api/ready")
    scrape = await plain.get("/metrics", headers={"Authorization": "Bearer scrape"})

    assert redirected.status_code == 301
    assert redirected.headers["Location"] == "https://testserver/api/utilities"
    assert probe.status_code == 200
    assert ready.status_code == 200
    assert scrape.status_code == 200


@pytest.mark.django_db
async def test_cors_is_off_by_default(api: httpx.AsyncClient) -> None:
    """No origin is allowed unless configured."""
    response = await api.get(
        "/api/users/me", headers={"Origin": "https://evil.example"}
    )

    assert "Access-Control-Allow-Origin" not in response.headers


def _index_of_session_middleware(stack: list[str]) -> int:
    """Django's or its subclass on the loop (DJANGO_FAST_PATH)."""
    return next(i for i, path in enumerate(stack) if path.endswith("SessionMiddleware"))


def test_cors_middleware_is_installed_only_with_origins() -> None:
    """DJANGO_CORS_ALLOWED_ORIGINS puts django-cors-headers in the stack, before
    the session middleware; without origins it is left out (it would only cost)."""

    def stack(origins: str) -> list[str]:
        result = _manage(
            "shell",
            "-c",
            "from django.conf import settings; print(','.join(settings.MIDDLEWARE))",
            DJANGO_DEBUG="true",
            DJANGO_CORS_ALLOWED_ORIGINS=origins,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().split(",")

    cors = "corsheaders.middleware.CorsMiddleware"
    with_origins = stack("https://app.example")
    session = _index_of_session_middleware(with_origins)
    assert with_origins.index(cors) == session - 1
    assert cors not in stack("")


@pytest.mark.django_db
async def test_cors_allows_configured_origins(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """A listed origin gets the CORS headers, from a server started with it."""
    from config.asgi import _application

    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    session = _index_of_session_middleware(settings.MIDDLEWARE)
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:session],
        "corsheaders.middleware.CorsMiddleware",
        *settings.MIDDLEWARE[session:],
    ]
    with_cors = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_application()),
        base_url="https://testserver",
        headers=api.headers,
    )

    response = await with_cors.get(
        "/api/users/me", headers={"Origin": "https://app.example"}
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_passwords_are_hashed_with_argon2(db: None) -> None:
    """New passwords use Argon2, Django's recommended hasher."""
    from tests import factories

    user = factories.user(email="h@example.com", password="a long unusual passphrase")

    assert user.password.startswith("argon2$")


def _settings(*names: str, **env: str) -> dict[str, Any]:
    """The named settings, as a process started with `env` sees them."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    result = _manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_env_file_fills_in_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    """A variable only in the file is used; one also in the environment is not."""
    key = secrets.token_urlsafe(50)
    env_file = tmp_path / "service.env"
    env_file.write_text(
        "# the operator's configuration\n"
        f"DJANGO_SECRET_KEY={key}\n"
        "DJANGO_ALLOWED_HOSTS=api.example.com,www.example.com\n"
        "API_DOCS=off\n"
    )

    seen = _settings(
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "API_DOCS",
        DJANGO_ENV_FILE=str(env_file),
        API_DOCS="public",
    )

    assert seen == {
        "SECRET_KEY": key,
        "ALLOWED_HOSTS": ["api.example.com", "www.example.com"],
        "API_DOCS": "public",
    }


def test_env_file_is_the_repository_roots_by_default() -> None:
    seen = _settings("ENV_FILE", DJANGO_ENV_FILE="", DJANGO_DEBUG="true")

    assert seen == {"ENV_FILE": str(ROOT / ".env")}


def test_a_missing_env_file_named_by_DJANGO_ENV_FILE_stops_the_start(
    tmp_path: Path,
) -> None:
    """A file named on purpose is not silently skipped (a missing `.env` is)."""
    result = _manage("check", DJANGO_ENV_FILE=str(tmp_path / "nothing.env"))

    assert result.returncode != 0
    assert "DJANGO_ENV_FILE" in result.stderr


def test_env_example_lists_every_variable_the_settings_read() -> None:
    """Each one, set or commented out (`# NAME=default`), with its meaning above."""
    settings_source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r"env\.\w+\(\s*\"([A-Z0-9_]+)\"", settings_source))
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?([A-Z0-9_]+)=", example, flags=re.MULTILINE))

    assert len(read) > 40  # the pattern still finds them
    assert read - listed == set()


def test_env_example_configures_the_compose_services() -> None:
    """Read as the settings' `.env`, it points at compose's postgres and redis."""
    seen = _settings(
        "DATABASES",
        "CACHES",
        "ALLOWED_HOSTS",
        DJANGO_ENV_FILE=str(ROOT / ".env.example"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
    )

    database = seen["DATABASES"]["default"]
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "postgres",
        5432,
        "app",
    )
    assert seen["CACHES"]["default"]["LOCATION"] == "redis://redis:6379/0"
    assert seen["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
