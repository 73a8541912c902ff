"""Schemathesis against the OpenAPI document of a live server, with a token.

Every operation, positive and negative data, and the stateful phase (links
from Location headers and responses): no 5xx, no response outside its
schema, no undocumented status, no schema-valid request refused without a
documented reason and no schema-violating one accepted (schemathesis.toml
states the reasons). Bounded: a fixed number of examples per operation and a
seed, printed with every failure for `st replay`.

    uv run pytest tests/e2e/contract -s                 # the CI run
    SCHEMATHESIS_SEED=7 uv run pytest tests/e2e/contract -s   # another seed
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live_server import ROOT, ThrowawayServer

SEED = os.environ.get("SCHEMATHESIS_SEED", "1")


@pytest.mark.requires("postgresql-server")  # a throwaway database of its own
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    server = ThrowawayServer(
        workers=1,
        log=tmp_path / "server.log",
        extra_env={
            "API_DOCS": "public",
            # The run sends thousands of requests from one client and logs in
            # with wrong passwords on purpose: no throttle may answer for the API.
            **{
                f"API_THROTTLE_{scope}": "100000000/m"
                for scope in ("ANON", "USER", "JOBS", "LOGIN", "FAILED_AUTH")
            },
        },
    )
    server.start()
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "run",
                f"{server.url}/api/openapi.json",
                "--header", f"Authorization: Bearer {server.token}",
                "--checks", "all",
                "--seed", SEED,
                "--report", "junit",
                "--report-dir", str(tmp_path / "report"),
                "--no-color",
            ],
            cwd=ROOT,
            env={**os.environ, "SCHEMATHESIS_SPARE_TOKEN": server.issue_token()},
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    finally:
        server.stop()
    print(run.stdout[-20000:])  # noqa: T201  (the summary, with -s)
    assert run.returncode == 0, (
        run.stdout[-15000:]
        + run.stderr[-3000:]
        + (tmp_path / "server.log").read_text()[-3000:]
    )
