"""What the fast path gains: server CPU per request with each part on or off.

Starts, on 127.0.0.1 only, the Django server (production settings, one
uvicorn worker, PostgreSQL with the psycopg pool) in five variants on one
seeded database, and loads each in turn with wrk, as bench/cpu_per_request.py
does (server pinned to CPU 0, wrk to CPU 1; CPU time of the server process
per completed request; the order of variants rotates between rounds):

- stock: DJANGO_FAST_PATH=false, Django's ASGIHandler and middleware;
- handler: the fast path's handler and request threads, Django's middleware;
- middleware: Django's handler, the fast path's middleware on the loop;
- nokeep: the whole fast path, but DJANGO_DB_KEEP_CONNECTIONS=false;
- fast: the whole fast path (the default).

Prints the median CPU µs per request and, per variant, the median over
rounds of its ratio to `stock` in the same round. Exits non-zero on a
non-2xx answer or a socket error. core/handlers/README.md holds the figures.

    uv run --group bench python bench/fast_path.py [--rounds 3] [--duration 4]
"""

# ruff: noqa: T201  (a command-line report: printing is its output)

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cpu_per_request import Sample, endpoints, measure
from bench.harness.machine import RESULTS, _terminate_on_sigterm, environment
from bench.harness.servers import check_tools_and_ports, servers_and_database

PARTS = "bench.fast_path_settings"
VARIANTS: dict[str, dict[str, str]] = {
    "stock": {"DJANGO_FAST_PATH": "false"},
    "handler": {"DJANGO_SETTINGS_MODULE": PARTS, "BENCH_MIDDLEWARE": "stock"},
    "middleware": {
        "DJANGO_FAST_PATH": "false",
        "DJANGO_SETTINGS_MODULE": PARTS,
        "BENCH_MIDDLEWARE": "fast",
    },
    "nokeep": {"DJANGO_DB_KEEP_CONNECTIONS": "false"},
    "fast": {},
}
ENDPOINTS = ("health", "get_user", "list_users", "patch_user", "slugify")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="s per measured run")
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--first-port", type=int, default=8801)
    parser.add_argument("--json", type=Path, default=RESULTS / "fast_path.json")
    args = parser.parse_args()
    # What bench/harness/servers.py's base_env reads.
    args.throttle_rate, args.reference_pool_size = "100000000/m", 10
    args.django_env, args.utility_queue = [], None
    args.mode = "fast_path"  # servers_and_database keeps the logs as fast_path-*.log
    args.ports = [args.first_port + n for n in range(len(VARIANTS))]
    check_tools_and_ports(parser, args.ports)
    return args


def report(samples: list[Sample]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    print("\n| endpoint | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---:|" * len(VARIANTS))
    for key in ENDPOINTS:
        cells = []
        stock = {
            s.round: s for s in samples if (s.endpoint, s.server) == (key, "stock")
        }
        for name in VARIANTS:
            mine = {
                s.round: s for s in samples if (s.endpoint, s.server) == (key, name)
            }
            µs = statistics.median(s.cpu_us_per_request for s in mine.values())
            ratio = statistics.median(
                mine[r].cpu_us_per_request / stock[r].cpu_us_per_request for r in mine
            )
            rows.append(
                {"endpoint": key, "variant": name, "cpu_us": µs, "ratio": ratio}
            )
            cells.append(f"{µs:,.0f} ({ratio:.2f})")
        print(f"| {key} | " + " | ".join(cells) + " |")
    print("\nServer CPU µs per request, median over rounds (its ratio to stock in the "
          "same round, median).")  # fmt: skip
    return rows


def main() -> int:
    args = parse_args()
    _terminate_on_sigterm()
    started_at = time.monotonic()
    eps = [e for e in endpoints(600_851_475_143) if e.key in ENDPOINTS]
    names = list(VARIANTS)
    variants = {
        name: (port, VARIANTS[name])
        for name, port in zip(names, args.ports, strict=True)
    }
    samples: list[Sample] = []
    with servers_and_database(args, names, variants) as (db, servers, _):
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(names)
            order = names[shift:] + names[:shift]
            for ep in eps:
                for name in order:
                    sample = measure(servers[name], ep, db, args, round_no)
                    samples.append(sample)
                    print(f"round {round_no} {ep.key:<11} {name:<10} "
                          f"{sample.cpu_us_per_request:7,.0f} µs/req  "
                          f"errors {sample.errors}", flush=True)  # fmt: skip
    rows = report(samples)
    results = {
        "config": {k: str(v) for k, v in vars(args).items()},
        "environment": environment(),
        "summary": rows,
        "samples": [asdict(s) for s in samples],
        "elapsed_s": time.monotonic() - started_at,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\ntook {results['elapsed_s']:.0f} s; written to {args.json}")
    return 1 if any(s.errors for s in samples) else 0


if __name__ == "__main__":
    sys.exit(main())
