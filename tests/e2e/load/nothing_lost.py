"""Concurrent writes at a live server, then a check that nothing was lost.

`run` starts a ThrowawayServer (uvicorn, DEBUG off, `workers` processes,
a database of its own) and for each round:

1. creates `users` users concurrently (`concurrency` requests in flight);
2. patches each created user twice at once, `name` and `age` in separate
   concurrent PATCHes (disjoint fields: both must survive);
3. deletes every third created user;

and compares the table with what the server acknowledged: every 201 has its
row, with the patched name and age where both PATCHes answered 200; every
204 removed its row; nothing else exists (no unacknowledged or half-written
row). Any 5xx or transport error counts. test_nothing_lost.py runs it small;
bench/nothing_lost.py at full size, with a report.
"""

import asyncio
import collections
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.live_server import ThrowawayServer


@dataclass
class Round:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    transport_errors: int = 0
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    rss_mib: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + self.transport_errors

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def ok(self) -> bool:
        return not (
            self.server_errors or self.transport_errors or self.lost or self.unexpected
        )


def _rss_mib(pid: int) -> float:
    """RSS of the server process and its children (uvicorn's workers)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def _rows(server: ThrowawayServer) -> dict[str, tuple[str, int | None]]:
    """email -> (name, age) of the non-staff users, read straight from the table."""
    with psycopg.connect(server.env["DATABASE_URL"]) as conn:
        found = conn.execute(
            "SELECT email, name, age FROM users_user WHERE NOT is_staff"
        ).fetchall()
    return {email: (name, age) for email, name, age in found}


async def run_round(
    server: ThrowawayServer, n: int, concurrency: int, tag: str
) -> Round:
    result = Round()
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {server.token}"}

    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, timeout=30
    ) as client:

        async def call(
            method: str, url: str, body: Any = None
        ) -> httpx.Response | None:
            async with gate:
                try:
                    response = await client.request(method, url, json=body)
                except httpx.TransportError:
                    result.transport_errors += 1
                    return None
            result.statuses[response.status_code] += 1
            return response

        # 1. Creates.
        emails = [f"{tag}-{i}@example.com" for i in range(n)]
        created: dict[str, int] = {}
        responses = await asyncio.gather(
            *(
                call("POST", "/api/users", {"email": e, "name": "New", "age": 1})
                for e in emails
            )
        )
        for email, response in zip(emails, responses, strict=True):
            if response is not None and response.status_code == 201:
                created[email] = response.json()["id"]

        # 2. Two PATCHes of disjoint fields per user, at once.
        expected: dict[str, tuple[str, int | None]] = {}
        patches = []
        for i, (email, uid) in enumerate(created.items()):
            patches.append(
                (email, "name", call("PATCH", f"/api/users/{uid}", {"name": f"N{i}"}))
            )
            patches.append(
                (email, "age", call("PATCH", f"/api/users/{uid}", {"age": i % 150}))
            )
        answers = await asyncio.gather(*(p[2] for p in patches))
        acknowledged: dict[str, set[str]] = collections.defaultdict(set)
        for (email, fieldname, _), response in zip(patches, answers, strict=True):
            if response is not None and response.status_code == 200:
                acknowledged[email].add(fieldname)
        for i, email in enumerate(created):
            name = f"N{i}" if "name" in acknowledged[email] else "New"
            age = i % 150 if "age" in acknowledged[email] else 1
            expected[email] = (name, age)

        # 3. Deletes of every third user.
        doomed = list(created)[::3]
        deletes = await asyncio.gather(
            *(call("DELETE", f"/api/users/{created[e]}") for e in doomed)
        )
        for email, response in zip(doomed, deletes, strict=True):
            if response is not None and response.status_code == 204:
                expected.pop(email)

    # 4. The table against what was acknowledged.
    rows = {e: v for e, v in _rows(server).items() if e.startswith(f"{tag}-")}
    for email, values in expected.items():
        if rows.get(email) != values:
            result.lost.append(
                f"{email}: acknowledged {values}, found {rows.get(email)}"
            )
    for email in rows.keys() - expected.keys():
        result.unexpected.append(f"{email}: {rows[email]} was never acknowledged")
    assert server.process is not None
    result.rss_mib = _rss_mib(server.process.pid)
    return result


async def run(
    *,
    users: int,
    concurrency: int,
    rounds: int,
    workers: int,
    log: Path,
    round_timeout_s: float,
) -> list[Round]:
    """Start a server, run the rounds, stop it; return each round's figures."""
    server = ThrowawayServer(workers, log)
    try:
        await asyncio.to_thread(server.start)
        results = []
        for r in range(rounds):
            results.append(
                await asyncio.wait_for(
                    run_round(server, users, concurrency, tag=f"r{r}"), round_timeout_s
                )
            )
        return results
    finally:
        await asyncio.to_thread(server.stop)
