"""Known answers for the independent session generator (bench/alt_sessions.py)."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import alt_sessions as alt


def _one_rep_plan(conc_s: float, hold_s: float, ecc_s: float, rom_m: float) -> alt.Plan:
    tl = alt.Timeline((0.0, 0.0, 0.3, 0.0, 0.0, 0.0))
    tl.wait(2.0)
    plan = alt.RepPlan(conc_s, hold_s, ecc_s, 0.05, rom_m, alt.cos_shape(), alt.cos_shape(), 0.0)
    rng = np.random.default_rng(0)
    alt.do_reps(tl, rng, 0, [plan], coef={}, drift_m=0.0, top_start=False)
    tl.wait(2.0)
    return alt.Plan(tl, "hip_thrust", "hip", False, None, "left", ["left"])


def test_raised_cosine_rep_boundaries_match_the_5_percent_rule() -> None:
    # speed ~ 1 - cos(2 pi s) crosses 5 % of its peak (2) where cos(2 pi s) = 0.9; the
    # eccentric (peak 2/3 of the concentric's) crosses that same threshold at 7.5 % of its peak
    s5 = math.acos(0.9) / (2 * math.pi)
    s_ecc = math.acos(0.85) / (2 * math.pi)
    plan = _one_rep_plan(1.2, 1.5, 1.8, 0.3)
    motion = alt.render(plan, np.random.default_rng(1))
    (rep,) = alt.truth_reps(motion, plan, t_origin=100.0)[0]
    assert rep["concentric_s"] == pytest.approx(1.2 * (1 - 2 * s5), abs=0.005)
    assert rep["eccentric_s"] == pytest.approx(1.8 * (1 - 2 * s_ecc), abs=0.005)
    assert rep["hold_s"] == pytest.approx(1.5 + 1.2 * s5 + 1.8 * s_ecc, abs=0.01)
    assert rep["t_start"] == pytest.approx(102.0 + 1.2 * s5, abs=0.005)
    # the rise is the ROM exactly
    assert float(np.ptp(motion.pos[:, alt.Z])) == pytest.approx(0.3, abs=1e-3)


def test_accelerometer_integrates_back_to_the_true_speed() -> None:
    b = alt.build(3)
    v = np.cumsum(b.motion.acc_world[:, 2]) / alt.FINE_HZ
    err = v - v[0] - (b.motion.vz_mps - b.motion.vz_mps[0])
    assert abs(err[-1]) < 1e-3  # impacts and sway leave no net speed
    assert float(np.median(np.abs(err))) < 1e-3


def test_session_truth_is_consistent() -> None:
    samples, truth = alt.make_session(5)
    assert truth["rate_hz"] in alt.RATES_HZ
    assert (samples.gyro_dps is not None) == truth["with_gyro"]
    assert len(truth["sets"]) >= 2
    legs = [s["leg"] for s in truth["sets"]]
    assert legs[0] == truth["first_leg"]
    assert all(a != b for a, b in itertools.pairwise(legs))
    for s in truth["sets"]:
        assert s["rep_count"] == len(s["reps"])
        for r in s["reps"]:
            assert r["t_start"] < r["t_lockout"] <= r["t_descent"] < r["t_bottom"]
    # at rest the accelerometer reads about 1 g whatever the orientation
    first = np.linalg.norm(samples.acc_g[:20], axis=1)
    assert float(np.median(first)) == pytest.approx(1.0, abs=0.08)
