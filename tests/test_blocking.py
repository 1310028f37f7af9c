"""The ``no_blocking`` fixture of ``tests/blocking.py`` catches blocking calls in the loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from blockbuster import BlockingError

from sensor.engine import analyze
from sensor.simulate import simulate_session
from sensor.summary import Mount


@pytest.mark.usefixtures("no_blocking")
async def test_blocking_sleep_in_the_loop_fails() -> None:
    with pytest.raises(BlockingError):
        time.sleep(0.001)  # noqa: ASYNC251 - the blocking call under test
    await asyncio.sleep(0.001)  # the non-blocking way is fine


@pytest.mark.usefixtures("no_blocking")
async def test_blocking_file_io_in_the_loop_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    with pytest.raises(BlockingError):
        path.write_text("x")
    await asyncio.to_thread(path.write_text, "x")  # off the loop's thread is fine
    assert await asyncio.to_thread(path.read_text) == "x"


@pytest.mark.usefixtures("no_blocking")
async def test_engine_feed_does_no_blocking_io() -> None:
    """The live path runs the engine inside the event loop: it must not block on I/O."""
    samples, _ = await asyncio.to_thread(
        simulate_session, 11, n_sets=2, reps_per_set=(3, 4), nuisances=False, rate_hz=50.0,
        mount=Mount.HIP, rest_s=(10.0, 12.0),
    )
    summary = analyze(samples)
    assert [s.rep_count for s in summary.sets] == [3, 4]
