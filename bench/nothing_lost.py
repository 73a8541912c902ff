"""Concurrent writes at a live server, then a check that nothing was lost.

Runs tests/e2e/load/nothing_lost.py's load (its docstring says what each
round writes and how the table is checked against what the server
acknowledged) at full size, on the real server (uvicorn, DEBUG off,
`--workers` processes) on 127.0.0.1 over a throwaway PostgreSQL database:
`--users` users per round, `--concurrency` requests in flight. It reports
requests, statuses, errors, lost or unexpected writes and the server's RSS
after each round, and exits non-zero on any error or mismatch. Bounded by
`--timeout` seconds; everything started is stopped by its pid, the database
dropped. CI runs the same load at a small size
(tests/e2e/load/test_nothing_lost.py).

    uv run python bench/nothing_lost.py [--users 1000] [--concurrency 64] \
        [--rounds 3] [--workers 2] [--json bench/results/nothing_lost.json]
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.load.nothing_lost import run
from tests.live_server import ROOT


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per round")
    parser.add_argument(
        "--json", type=Path, default=ROOT / "bench/results/nothing_lost.json"
    )
    args = parser.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = asyncio.run(
        run(users=args.users, concurrency=args.concurrency, rounds=args.rounds,
            workers=args.workers, log=args.json.with_suffix(".server.log"),
            round_timeout_s=args.timeout)
    )  # fmt: skip
    print(
        "| round | requests | statuses | 5xx | transport errors | lost | unexpected | RSS MiB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(results, 1):
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items()))
        print(f"| {i} | {r.requests} | {statuses} | {r.server_errors} | "
              f"{r.transport_errors} | {len(r.lost)} | {len(r.unexpected)} | {r.rss_mib:.1f} |")  # fmt: skip
    for r in results:
        for line in (r.lost + r.unexpected)[:5]:
            print("  ", line)
    print(f"\n{args.users} creates, {2 * args.users} PATCHes and {-(-args.users // 3)} deletes per round, {args.concurrency} in flight, "
          f"{args.workers} server processes; took {time.monotonic() - started:.0f} s")  # fmt: skip
    args.json.write_text(json.dumps([
        {"requests": r.requests, "statuses": dict(r.statuses), "server_errors": r.server_errors,
         "transport_errors": r.transport_errors, "lost": r.lost, "unexpected": r.unexpected,
         "rss_mib": r.rss_mib} for r in results], indent=2))  # fmt: skip
    return 0 if all(r.ok() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
