"""A redis-server of a test's own, on its own port, that it may stop and start.

The shared Redis is never stopped; fault tests stop this one instead.
"""

import shutil
import subprocess
import time

import redis

from tests.live_server import free_port


class PrivateRedis:
    """A redis-server on a free port of 127.0.0.1, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, and wait (10 s at most) until it answers."""
        binary = shutil.which("redis-server")
        assert binary is not None  # tests require("redis-server") first
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def keys(self, pattern: str = "*") -> list[str]:
        return [str(key) for key in redis.Redis.from_url(self.url).keys(pattern)]
