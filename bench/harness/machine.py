"""The machine: paths, CPUs, /proc readings, the environment of a run."""

import contextlib
import importlib.metadata
import math
import os
import platform
import signal
import statistics
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
WRK_SCRIPT = BENCH / "wrk" / "api.lua"
RESULTS = BENCH / "results"
HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERVER_CPU, CLIENT_CPU = "0", "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
STAFF_EMAIL = "bench-staff@example.com"
CREATED_EMAILS = "u-%@bench.example.com"  # what the wrk script's POSTs create


def _stat_fields(pid: int) -> list[str]:
    # The command name may hold spaces and parentheses: split after the last ")".
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """Return `root` and all its live descendants (pool workers, forkserver)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int(_stat_fields(int(entry.name))[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> tuple[float, float]:
    """User and system CPU seconds of the tree, including its reaped children.

    Counting each live process's own time plus the time of the children it
    reaped keeps a worker that exits between two readings counted (its time
    moves to its parent's cutime/cstime), as long as the parent is in the tree.
    """
    user = system = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError):
            f = _stat_fields(pid)
            user += int(f[11]) + int(f[13])
            system += int(f[12]) + int(f[14])
    return user / CLK_TCK, system / CLK_TCK


def own_and_main_thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of the process itself (all its threads, ended ones too) and of
    its main thread (the event loop's), user + system."""
    own = _stat_fields(pid)
    main = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (
        (int(own[11]) + int(own[12])) / CLK_TCK,
        (int(main[11]) + int(main[12])) / CLK_TCK,
    )


def loop_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    """Share of the process's own CPU spent on its main (event-loop) thread."""
    own, main = after[0] - before[0], after[1] - before[1]
    return main / own if own else math.nan


def thread_count(pid: int) -> int:
    return int(_stat_fields(pid)[17])


def tree_rss_mib(root: int) -> tuple[float, float]:
    """Return the resident memory of `root` and of its whole tree, in MiB."""
    own = total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError):
            rss = int(_stat_fields(pid)[21]) * PAGE_SIZE
            total += rss
            own = rss if pid == root else own
    return own / 2**20, total / 2**20


# wrk and py-spy processes running now, killed by pid if the run is aborted.
LOAD_PROCESSES: set[subprocess.Popen[Any]] = set()


def _spread(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {
        "median": statistics.median(finite),
        "min": min(finite),
        "max": max(finite),
    }


def environment() -> dict[str, Any]:
    versions = {}
    for package in (
        "django", "django-ninja", "pydantic", "psycopg", "uvicorn", "asgiref",
        "fastapi", "starlette", "sqlalchemy", "asyncpg",
    ):  # fmt: skip
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    return {
        "python": platform.python_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "versions": versions,
    }


def _terminate_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
