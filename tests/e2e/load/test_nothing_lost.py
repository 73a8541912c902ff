"""A bounded load of concurrent writes at a live server loses nothing (nothing_lost.py).

CI runs it small; `uv run python bench/nothing_lost.py` runs it at full size
and reports the figures.
"""

from pathlib import Path

import pytest

from tests.e2e.load.nothing_lost import run


@pytest.mark.requires("postgresql-server")  # a throwaway database of its own
async def test_concurrent_writes_are_all_there_exactly_as_acknowledged(
    tmp_path: Path,
) -> None:
    """Creates, disjoint-field PATCHes and deletes from 32 clients at once, on
    two server processes: no 5xx, every acknowledged write in the table as
    acknowledged, nothing unacknowledged in it."""
    (result,) = await run(
        users=150, concurrency=32, rounds=1, workers=2,
        log=tmp_path / "server.log", round_timeout_s=120,
    )  # fmt: skip

    assert result.server_errors == 0, (
        result.statuses,
        (tmp_path / "server.log").read_text()[-2000:],
    )
    assert result.transport_errors == 0
    assert result.lost == []
    assert result.unexpected == []
    assert result.statuses == {201: 150, 200: 300, 204: 50}
