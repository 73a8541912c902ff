"""The README's commands run as written (#18).

Its first shell block holds the two commands. The test command must be the
one `.ci/run` runs. The run command is run as written, in a copy of the
tree: it must serve, print a token that works, run a job worker, and stop
with one Ctrl-C. The curl tour then runs as written against it.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def _commands() -> tuple[str, str]:
    lines = [line for line in BLOCKS[0].splitlines() if line and line[0] != "#"]
    run, test = lines
    return run, test


def test_the_test_command_is_the_one_ci_runs() -> None:
    _, test = _commands()

    assert test in (ROOT / ".ci/run").read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Command 1, as written, in a copy of the tree; its output and token."""
    run, _ = _commands()
    _nothing_on_port_8000()
    tree = tmp_path_factory.mktemp("newcomer")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = tree / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name.decode()).is_file():
            shutil.copy2(ROOT / name.decode(), target)
    # A newcomer's shell: none of this run's settings, and not its virtual
    # environment (`python3` is the machine's).
    venv = os.environ.get("VIRTUAL_ENV", str(ROOT / ".venv"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "API_", "DATABASE_", "REDIS_", "UV_"))
        and k != "VIRTUAL_ENV"
    }
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv)
    )
    log = tree / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", run], cwd=tree, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        token = _wait_for_token(log, process)
        yield log.read_text(), token
    finally:
        with contextlib.suppress(ProcessLookupError):  # Ctrl-C: the whole group
            os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    # One Ctrl-C stops it cleanly (a teardown error otherwise): `uv run`
    # passes the terminal's SIGINT on, so the command gets it twice.
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


def _nothing_on_port_8000() -> None:
    """Command 1 serves on 8000: something else there would answer instead."""
    try:
        httpx.get("http://127.0.0.1:8000/", timeout=1)
    except httpx.TransportError:
        return
    pytest.fail("something already listens on 127.0.0.1:8000")


def _wait_for_token(log: Path, process: "subprocess.Popen[bytes]") -> str:
    deadline = time.monotonic() + 240  # a fresh `uv sync` included
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"command 1 exited:\n{log.read_text()[-3000:]}")
        found = re.search(r"token\s+(\S+\.\S+)", log.read_text())
        if found:
            try:
                if httpx.get("http://127.0.0.1:8000/api/health").status_code == 200:
                    return found.group(1)
            except httpx.TransportError:
                pass
        time.sleep(0.5)
    pytest.fail(f"command 1 did not serve in time:\n{log.read_text()[-3000:]}")


def test_command_1_serves_with_an_account_a_token_and_a_worker(
    served: tuple[str, str],
) -> None:
    output, token = served
    api = httpx.Client(
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )

    me = api.get("/api/users/me")
    job = api.post("/api/utilities/count_primes/jobs", json={"limit": 1000})
    deadline = time.monotonic() + 60
    while (state := api.get(job.headers["Location"]).json())["status"] != "succeeded":
        assert time.monotonic() < deadline, state
        time.sleep(0.5)

    assert me.json()["email"] == "dev@example.com"
    assert me.json()["is_staff"] is True
    assert "http://127.0.0.1:8000/api/docs" in output
    assert not re.search(r"\w+Warning: ", output), output  # a clean first screen
    assert state["result"] == 168


def test_the_curl_tour_runs_as_written(served: tuple[str, str]) -> None:
    _, token = served
    (tour,) = [block for block in BLOCKS if "curl" in block and "$TOKEN" in block]

    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tour],
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
