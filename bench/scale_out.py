"""Throughput with one and with two server processes, side by side.

Starts the real server (uvicorn, DEBUG off, bearer tokens, PostgreSQL with
the pool; tests/live_server.py's ThrowawayServer, a throwaway database) with
`WEB_CONCURRENCY` 1, then 2, in turn for `--rounds` rounds, and loads each
with wrk (`-t1 -c32`, `--duration` seconds after a 1 s warm-up) on
`GET /api/health` and `GET /api/users/{id}`. Nothing is pinned: the server
processes, wrk and PostgreSQL share the machine's cores, as they would on a
small host. Prints requests/s per endpoint and process count (median over
rounds) and their ratio, and writes JSON to bench/results/scale_out.json.
Exits non-zero on a non-2xx answer or a socket error. Bounded in time;
everything started is stopped by its pid, the database dropped.

    uv run python -m bench.scale_out [--rounds 2] [--duration 5]
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.harness.machine import WRK_SCRIPT
from bench.harness.wrk import wrk_result
from tests.live_server import ROOT, ThrowawayServer

RESULTS = ROOT / "bench" / "results"
PROCESSES = (1, 2)


def load(server: ThrowawayServer, path: str, user_id: int, duration: int) -> float:
    """Return wrk's requests/s on `path`; raise on any non-2xx or socket error."""
    token = "-" if path == "/api/health" else server.token
    args = ["GET", path, "none", token, "scale", str(user_id), str(user_id)]
    for seconds in (1, duration):  # a warm-up, then the measured run
        run = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(WRK_SCRIPT),
             server.url, "--", *args],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        )  # fmt: skip
    result = wrk_result(run.stdout)
    if result["non2xx"] or result["socket_errors"]:
        raise RuntimeError(f"errors under load on {path}:\n{run.stdout}")
    return float(result["requests"] / (result["duration_us"] / 1e6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per load")
    parser.add_argument("--json", type=Path, default=RESULTS / "scale_out.json")
    options = parser.parse_args()

    endpoints = {"GET /api/health": "/api/health", "GET /api/users/{id}": ""}
    rates: dict[str, dict[int, list[float]]] = {
        name: {n: [] for n in PROCESSES} for name in endpoints
    }
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, options.rounds + 1):
            for processes in PROCESSES:
                server = ThrowawayServer(
                    workers=processes, log=Path(tmp) / "server.log"
                )
                try:
                    server.start()
                    me = httpx.get(
                        f"{server.url}/api/users/me",
                        headers={"Authorization": f"Bearer {server.token}"},
                    ).json()["id"]
                    for name, path in endpoints.items():
                        url = path or f"/api/users/{me}"
                        rate = load(server, url, me, options.duration)
                        rates[name][processes].append(rate)
                        print(f"round {round_} {name:22s} {processes} process(es) "
                              f"{rate:9,.0f} req/s")  # fmt: skip
                finally:
                    server.stop()

    print(f"\nRequests/s, median over {options.rounds} round(s), "
          f"{os.cpu_count()} cores shared by the servers, wrk and PostgreSQL\n")  # fmt: skip
    print("| endpoint | 1 process | 2 processes | ratio |")
    print("|---|---:|---:|---:|")
    summary = {}
    for name in endpoints:
        one, two = (statistics.median(rates[name][n]) for n in PROCESSES)
        summary[name] = {"1": one, "2": two, "ratio": two / one}
        print(f"| `{name}` | {one:,.0f} | {two:,.0f} | {two / one:.2f} |")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps({"runs": rates, "median": summary}, indent=2))
    print(f"\nwritten to {options.json}")


if __name__ == "__main__":
    main()
