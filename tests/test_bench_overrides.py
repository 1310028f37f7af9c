"""The bench scripts' helpers: the accuracy benchmark's ``--param`` (engine) and ``--sim``
(simulator) overrides, how ``inspect_session`` matches true and found sets, and the speed
benchmark's stage timer."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import accuracy
import inspect_session
import speed


def test_sim_overrides_read_numbers_of_the_simulators_config() -> None:
    assert accuracy.sim_overrides(["noise_g=0", "scale_err=0.03"]) == {
        "noise_g": 0.0, "scale_err": 0.03}
    assert accuracy.sim_overrides([]) == {}


@pytest.mark.parametrize("pair", ["nosuch=1", "with_gyro=0", "mount=1", "seed=3"])
def test_sim_overrides_name_the_fields_they_accept(pair: str) -> None:
    with pytest.raises(ValueError, match=r"--sim .*: not one of .*noise_g"):
        accuracy.sim_overrides([pair])


def test_a_sim_override_changes_the_sensor_not_the_session() -> None:
    plain, truth = accuracy.make_session(7, "sim")
    quiet, truth_quiet = accuracy.make_session(7, "sim", {"noise_g": 0.0})
    assert truth_quiet == truth  # the same athlete and the same reps
    assert quiet.acc_g.shape == plain.acc_g.shape
    # the noise is gone: the difference is the simulated noise (its draws come after the
    # scale and bias draws, so those are the same), some mg rms
    assert 1e-3 < float(np.std(plain.acc_g - quiet.acc_g)) < 0.05


def test_sim_overrides_are_for_the_simulator_only() -> None:
    with pytest.raises(ValueError, match="sim generator only"):
        accuracy.make_session(7, "plain", {"noise_g": 0.0})


def test_match_sets_names_missed_and_added_reps_and_phantom_sets() -> None:
    true = [[10.0, 15.0, 20.0], [100.0, 105.0, 110.0, 115.0], [200.0, 205.0, 210.0]]
    found = [
        [10.2, 15.1, 20.3],  # exact, within 1 s of each
        [55.0, 60.0, 65.0],  # walking between sets: no true set
        [99.6, 110.4, 115.2, 121.0],  # missed 105, added 121
        [200.1, 205.0, 210.0],
    ]
    assert inspect_session.match_sets(true, found) == [
        (1, 2, [105.0], [121.0]),
        (None, 1, [], [55.0, 60.0, 65.0]),
    ]
    # a true set found as nothing at all
    assert inspect_session.match_sets([[1.0, 2.0, 3.0]], []) == [(0, None, [1.0, 2.0, 3.0], [])]
    assert inspect_session.match_sets(true[:1], found[:1]) == []


def test_the_stage_timer_times_every_stage_and_puts_the_engine_back() -> None:
    from sensor.engine import analyze  # noqa: PLC0415 - only this test needs the engine
    from sensor.engine.engine import Engine  # noqa: PLC0415
    from sensor.simulate import simulate_session  # noqa: PLC0415

    samples, _ = simulate_session(3, rate_hz=50.0, with_gyro=True)
    before = Engine._emit_region
    best = speed.stage_times(2, lambda: analyze(samples))
    assert set(best) == {name for _, _, name in speed.STAGES}
    assert all(t > 0 for t in best.values())
    assert Engine._emit_region is before
