"""Load with wrk and its Lua script, and its summary."""

import json
import subprocess
from dataclasses import dataclass
from typing import Any

from bench.harness.machine import CLIENT_CPU, LOAD_PROCESSES, WRK_SCRIPT
from bench.harness.servers import Database, Server, kill_load


@dataclass(frozen=True)
class Endpoint:
    key: str
    method: str
    path: str  # "{id}" takes a seeded user's id, a different one each request
    kind: str  # the body: none, patch, create, json (see bench/wrk/api.lua)
    body: str = ""
    auth: bool = True

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def run_wrk(
    server: Server,
    endpoint: Endpoint,
    db: Database,
    *,
    seconds: int,
    connections: int,
    tag: str,
    timeout_s: int = 5,
) -> dict[str, Any]:
    """Run wrk (pinned to CPU 1) for `seconds`; return the script's summary.

    A request unanswered after `timeout_s` counts as a timeout (a socket error).
    """
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}"]
    command += [
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        str(WRK_SCRIPT),
    ]
    command += [server.url, "--", endpoint.method, endpoint.path, endpoint.kind]
    command += [db.token if endpoint.auth else "-", tag, str(db.id_lo), str(db.id_hi)]
    command += [endpoint.body] if endpoint.body else []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    LOAD_PROCESSES.add(process)
    try:
        output, _ = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk did not finish: {' '.join(command)}") from None
    finally:
        kill_load(process)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{output[-2000:]}")
    return wrk_result(output)


def wrk_result(output: str) -> dict[str, Any]:
    """The summary bench/wrk/api.lua printed, with its non-2xx samples and
    its socket errors (connect, read, write, timeouts) added up."""
    result: dict[str, Any] | None = None
    samples = []
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line.removeprefix("WRK_RESULT "))
        elif line.startswith("WRK_SAMPLE "):
            samples.append(line.removeprefix("WRK_SAMPLE "))
    if result is None:
        raise RuntimeError(f"no summary from wrk:\n{output[-2000:]}")
    result["samples"] = samples
    result["socket_errors"] = sum(
        result[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return result
