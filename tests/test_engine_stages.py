"""Unit tests of each engine stage on small synthetic signals with known answers.

The stage functions take their thresholds as arguments; these tests pass their own values
(``_params``), so retuning the engine's defaults does not change the known answers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from sensor.engine.engine import Engine
from sensor.engine.metrics import (
    asymmetry,
    asymmetry_index_pct,
    flag_reps,
    leg_for_set,
    leg_stats,
    per_leg,
)
from sensor.engine.options import EngineParams
from sensor.engine.orientation import angles_deg, pitch_axis, tilt_per_rep, window_sums
from sensor.engine.reps import (
    Move,
    RepCandidate,
    comes_back_evenly,
    cycle_detrended,
    find_moves,
    moving,
    pair_moves,
    phase_indices,
    rep_cycle,
    runs,
    steady,
    trim_ran_on,
    unreturned,
)
from sensor.engine.resample import GridBlock, GridResampler, resample_block
from sensor.engine.velocity import (
    GRAVITY_MPS2,
    fit_gravity_error,
    integrate_segment,
    rest_to_rest_speed,
    rest_to_rest_speed_tilted,
)
from sensor.samples import FloatArray, Samples
from sensor.summary import Leg, LegStats, Rep, RepFlag, SetResult

RATE = 50.0
DT = 1 / RATE

# -- stage 1: resampling ---------------------------------------------------------------------


def _ramp(t: FloatArray) -> FloatArray:
    return np.column_stack([t, 2 * t - 1, -3 * t])


def _expected_ramp(k: NDArray[np.int64]) -> FloatArray:
    return _ramp(k / RATE)


def test_100hz_ramp_to_50hz_is_exact_inside() -> None:
    """Triangle weights centre every grid point, even with samples exactly half a step away;
    only the two end points (samples on one side only) are off."""
    t = 2.0 + np.arange(301) / 100.0
    b = resample_block(t, _ramp(t), 101, 250, RATE, 1.0)
    assert np.array_equal(b.k, np.arange(101, 250))
    assert np.allclose(b.values, _expected_ramp(b.k), rtol=0, atol=1e-9)
    assert not b.gap.any()


def test_12_5hz_upsampled_linearly() -> None:
    t = 3.0 + np.arange(30) / 12.5  # one input sample every 4 grid points
    rng = np.random.default_rng(1)
    v = rng.normal(size=(30, 3))
    b = resample_block(t, v, 150, 150 + 4 * 29 + 1, RATE, 1.0)
    # grid point 150 + 4 i + j lies j/4 of the way from input sample i to i + 1
    for i in (0, 7, 28):
        for j in range(4):
            got = b.values[4 * i + j]
            assert np.allclose(got, v[i] + (v[i + 1] - v[i]) * j / 4, atol=1e-12)
    assert np.allclose(b.values[-1], v[-1])


def test_triangle_weighted_mean_at_high_rate() -> None:
    # 400 Hz input: grid point k averages the samples within one grid step (+-20 ms),
    # each weighted 1 - |distance in steps|
    t = np.array([0.0, 0.005, 0.0125, 0.0175, 0.02, 0.0225, 0.035, 0.04])
    v = np.array([1.0, 3.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])[:, None] * [1, 1, 1]
    b = resample_block(t, v, 0, 3, RATE, 1.0)
    expected = []
    for k in range(3):
        w = np.clip(1 - np.abs(t * RATE - k), 0, None)
        expected.append(float((w * v[:, 0]).sum() / w.sum()))
    assert np.allclose(b.values[:, 0], expected)
    assert expected[0] == pytest.approx(9.5 / 2.25)  # worked by hand: weights 1, .75, .375, .125


def test_duplicated_timestamps_change_nothing_for_equal_values() -> None:
    t = 1.0 + np.arange(40) / 12.5
    v = _ramp(t)
    dup = np.sort(np.concatenate([np.arange(40), [3, 3, 17, 30]]))
    k_to = round(t[-1] * RATE) + 1
    a = resample_block(t, v, 50, k_to, RATE, 1.0)
    b = resample_block(t[dup], v[dup], 50, k_to, RATE, 1.0)
    assert np.allclose(a.values, b.values, atol=1e-9)
    assert np.allclose(b.values, _expected_ramp(b.k), atol=1e-9)


def test_gap_longer_than_max_gap_is_flagged() -> None:
    t = np.concatenate([np.arange(100) / 100.0, 3.0 + np.arange(100) / 100.0])
    b = resample_block(t, _ramp(t), 0, round(3.99 * RATE) + 1, RATE, 1.0)
    gap_t = b.k[b.gap] / RATE
    # inside (0.99, 3.00]: grid 1.00 .. 3.00 s
    assert np.allclose(gap_t, np.arange(50, 151) / RATE)
    # the values across the gap are interpolated, so a ramp stays a ramp
    assert np.allclose(b.values[60:140], _expected_ramp(b.k[60:140]), atol=1e-9)


def _stream(samples: Samples, sizes: list[int]) -> GridBlock:
    r = GridResampler(RATE, 1.0)
    blocks: list[GridBlock] = []
    for block in samples.chunks(sizes):
        blk = r.push(block)
        if blk is not None:
            blocks.append(blk)
    last = r.flush()
    if last is not None:
        blocks.append(last)
    return GridBlock(
        np.concatenate([b.k for b in blocks]),
        np.vstack([b.values for b in blocks]),
        np.concatenate([b.gap for b in blocks]),
    )


@pytest.mark.parametrize("sizes", [[1], [2], [3, 1, 4, 1, 5], [13], [101], [997]])
def test_streamed_in_chunks_equals_whole(sizes: list[int]) -> None:
    rng = np.random.default_rng(7)
    n = 2500
    t = 10.0 + np.arange(n) / 104.0 + rng.normal(0, 0.0008, n)  # jitter
    t = np.maximum.accumulate(t)
    t[1200:] += 2.5  # a gap
    order = np.sort(np.concatenate([np.arange(n), rng.integers(0, n, 25)]))  # duplicates
    s = Samples(t[order], rng.normal(size=(n, 3))[order], rng.normal(size=(n, 3))[order])
    whole = _stream(s, [len(s)])
    part = _stream(s, sizes)
    assert np.array_equal(part.k, whole.k)
    assert np.array_equal(part.values, whole.values)
    assert np.array_equal(part.gap, whole.gap)
    # contiguous grid covering the recording, 6 columns (acc + gyro)
    assert np.array_equal(whole.k, np.arange(whole.k[0], whole.k[-1] + 1))
    assert whole.values.shape[1] == 6
    assert whole.k[0] == math.ceil(t[0] * RATE)
    assert whole.k[-1] == math.floor(t[-1] * RATE)


# -- stage 2: vertical speed -------------------------------------------------------------------


def _sine_pulse(n: int, dt_s: float, amp_mps2: float) -> tuple[FloatArray, FloatArray]:
    """Acceleration A sin(2 pi t / T) over one period T = (n + 1) dt, sampled at t = (i+1) dt
    (speed zero just before and after), and its exact speed A T / 2pi (1 - cos(2 pi t / T))."""
    period = (n + 1) * dt_s
    t = (np.arange(n) + 1) * dt_s
    a = amp_mps2 * np.sin(2 * np.pi * t / period)
    v = amp_mps2 * period / (2 * np.pi) * (1 - np.cos(2 * np.pi * t / period))
    return a, v


def test_integrate_segment_known_pulse() -> None:
    a, v_true = _sine_pulse(99, 0.01, 2.0)  # T = 1 s, peak 2/pi m/s at 0.5 s
    base = np.full(a.size, 1.013)  # gravity as this (uncalibrated) sensor reads it
    v = integrate_segment((base + a / GRAVITY_MPS2 - base) * GRAVITY_MPS2, 0.01)
    assert v.shape == a.shape
    # trapezoid rule: error <= dt^2 T max|a''| / 12 = 6.6e-4 m/s
    assert np.max(np.abs(v - v_true)) < 7e-4
    assert v.max() == pytest.approx(2 / np.pi, abs=7e-4)
    assert int(np.argmax(v)) == 49
    assert abs(v[0]) < 2e-3
    assert abs(v[-1]) < 2e-3


def test_integrate_segment_removes_a_constant_baseline_error() -> None:
    """A baseline off by c g gives a linear drift; the ZUPT ramp leaves at most c g dt / 2."""
    a, v_true = _sine_pulse(149, 0.02, 1.0)
    base = np.full(a.size, 0.998)
    c_g = 0.01
    v = integrate_segment((base + a / GRAVITY_MPS2 + c_g - base) * GRAVITY_MPS2, 0.02)
    assert np.max(np.abs(v - v_true)) < c_g * GRAVITY_MPS2 * 0.02 / 2 + 2e-4
    # without the de-drift the error would have grown to c g T = 0.29 m/s
    assert c_g * GRAVITY_MPS2 * 150 * 0.02 > 0.25


def test_integrate_segment_one_way_move_has_zero_speed_at_ends() -> None:
    """A rise: up, then stop: the position changes by the known displacement."""
    n = 80
    dt = 0.02
    t = (np.arange(n) + 1) * dt
    period = (n + 1) * dt
    # minimum-jerk rise of 0.3 m over T: acceleration of s(t) = 0.3 (10 u^3 - 15 u^4 + 6 u^5)
    u = t / period
    acc = 0.3 * (60 * u - 180 * u**2 + 120 * u**3) / period**2
    v = integrate_segment(acc, dt)
    v_true = 0.3 * (30 * u**2 - 60 * u**3 + 30 * u**4) / period
    assert np.max(np.abs(v - v_true)) < 2e-3
    assert float(v.sum() * dt) == pytest.approx(0.3, abs=2e-3)


def test_fit_gravity_error_recovers_a_linear_model() -> None:
    rng = np.random.default_rng(3)
    u = Rotation.random(60, random_state=4).apply([0.0, 0.0, 1.0])
    c0, c = 0.012, np.array([0.02, -0.015, 0.007])
    err = c0 + u @ c
    w = rng.uniform(5, 50, 60)
    obs = np.column_stack([u, err, w])
    got = fit_gravity_error(obs, ridge=0.0)
    assert np.allclose(got, [c0, *c], atol=1e-10)
    # the default ridge shrinks the slope towards zero but keeps the model's prediction close
    ridged = fit_gravity_error(obs)
    pred = ridged[0] + u @ ridged[1:]
    assert np.max(np.abs(pred - err)) < 0.01
    assert np.linalg.norm(ridged[1:]) < np.linalg.norm(c)


def test_fit_gravity_error_one_orientation_gives_no_slope() -> None:
    u = np.tile([0.6, 0.0, 0.8], (5, 1))
    obs = np.column_stack([u, [0.010, 0.012, 0.008, 0.011, 0.009], [1, 1, 1, 1, 1]])
    got = fit_gravity_error(obs)
    assert np.allclose(got[1:], 0.0, atol=1e-9)
    assert got[0] == pytest.approx(0.010, abs=1e-9)


# -- stage 3: moves, reps and phase boundaries ----------------------------------------------------


def _tri(half: int, peak: float) -> FloatArray:
    """A triangle of speed: 0 -> peak over ``half`` samples -> 0; 2 half + 1 samples."""
    i = np.arange(2 * half + 1)
    return peak * (1 - np.abs(i - half) / half)


def _profile(parts: list[FloatArray | int]) -> FloatArray:
    return np.concatenate([np.zeros(p) if isinstance(p, int) else p for p in parts])


def _params(**kw: Any) -> EngineParams:
    base = EngineParams(
        grid_rate_hz=RATE, min_range_m=0.10, max_range_m=1.2, min_phase_s=0.25,
        max_concentric_s=6.0, max_eccentric_s=8.0, max_hold_s=15.0, min_quiet_hold=0.5,
        pair_ratio=1.45,
    )
    return replace(base, **kw)


def test_find_moves_triangles() -> None:
    # rise: peak 0.6 m/s over 50 samples (1 s): 0.6 * 25 * 0.02 = 0.3 m; fall 0.25 m
    speed = _profile([10, _tri(25, 0.6), 20, -_tri(25, 0.5), 10])
    moves = find_moves(speed, DT, 0.03, 0)
    assert len(moves) == 2
    up, down = moves
    assert (up.sign, up.i0, up.i1) == (1, 11, 60)
    assert up.peak_mps == pytest.approx(0.6)
    assert up.disp_m == pytest.approx(0.3)
    assert (down.sign, down.i0, down.i1) == (-1, 82, 131)
    assert down.disp_m == pytest.approx(-0.25)


def test_find_moves_drops_small_runs_and_merges_close_ones() -> None:
    bump = _tri(5, 0.1)  # 0.1 * 5 * 0.02 = 0.01 m: under the 0.03 m minimum
    speed = _profile([5, _tri(10, 0.5), 4, _tri(10, 0.5), 30, -bump, 30, _tri(10, 0.5), 5])
    assert [m.sign for m in find_moves(speed, DT, 0.03, 0)] == [1, 1, 1]
    # the first two rises' runs are [6, 25) and [31, 50): 6 samples apart
    assert len(find_moves(speed, DT, 0.03, 5)) == 3
    merged = find_moves(speed, DT, 0.03, 6)
    assert len(merged) == 2
    assert merged[0].disp_m == pytest.approx(0.2)
    assert (merged[0].i0, merged[0].i1) == (6, 50)
    assert merged[1].disp_m == pytest.approx(0.1)
    assert find_moves(np.empty(0), DT, 0.03, 5) == []


def test_find_moves_keeps_the_travel_back_inside_a_merged_run() -> None:
    """Two 0.1 m rises merged over a 0.01 m dip (under the minimum: dropped, then passed
    over): one 0.19 m move that went back 0.01 m on the way. An unmerged run goes back
    nothing."""
    dip = -_tri(5, 0.1)  # 0.01 m down
    speed = _profile([5, _tri(10, 0.5), dip, _tri(10, 0.5), 5])
    first, second = find_moves(speed, DT, 0.03, 0)
    assert first == Move(1, 6, 25, 0.5, pytest.approx(0.1), 0.0)
    assert second.i0 - first.i1 == 13
    merged = find_moves(speed, DT, 0.03, 13)
    assert merged == [Move(1, 6, 57, 0.5, pytest.approx(0.19), pytest.approx(0.01))]
    assert second.back_m == 0.0


def test_steady_moves_go_back_at_most_a_tenth_of_themselves() -> None:
    """A rep's rise goes one way; walking's bob goes up and down with each step."""
    p = _params()
    assert steady(Move(1, 0, 100, 0.3, 0.3, 0.0), p)
    assert steady(Move(-1, 0, 100, 0.3, -0.3, 0.03), p)
    assert not steady(Move(-1, 0, 100, 0.3, -0.3, 0.031), p)


def test_pair_moves_rejects_a_rise_made_of_steps() -> None:
    """A 0.3 m "rise" that went down 0.1 m along the way (steps: walking up a slope, the
    phone taken up) pairs with nothing; the same rise done in one go is a rep."""
    speed = _rep_profile()
    moves = find_moves(speed, DT, 0.03, 0)
    p = _params()
    assert len(pair_moves(moves, speed == 0, p, top_start=False)) == 1
    stepped = [replace(moves[0], back_m=0.1), *moves[1:]]
    assert pair_moves(stepped, speed == 0, p, top_start=False) == []


def _rep_profile(hold: int = 30) -> FloatArray:
    """Rise 0.3 m in 1 s, hold, descent 0.3 m in 1.6 s."""
    return _profile([15, _tri(25, 0.6), hold, -_tri(40, 0.375), 15])


def test_pair_moves_rise_then_descent() -> None:
    speed = _profile([_rep_profile(), _rep_profile(), _rep_profile()])
    still = speed == 0
    moves = find_moves(speed, DT, 0.03, 0)
    reps = pair_moves(moves, still, _params(), top_start=False)
    assert len(reps) == 3
    assert all(r.rise.sign == 1 and r.fall.sign == -1 and not r.top_start for r in reps)
    assert all(r.rise.i1 < r.fall.i0 for r in reps)
    # read the other way (descent then rise) only the two inner pairs fit
    top = pair_moves(moves, still, _params(), top_start=True)
    assert len(top) == 2
    assert all(r.top_start and r.fall.i1 < r.rise.i0 for r in top)


def test_pair_moves_rejects_implausible_pairs() -> None:
    speed = _rep_profile()
    still = speed == 0
    moves = find_moves(speed, DT, 0.03, 0)
    p = _params()
    assert len(pair_moves(moves, still, p, top_start=False)) == 1
    assert pair_moves(moves, still, replace(p, min_range_m=0.35), top_start=False) == []
    assert pair_moves(moves, still, replace(p, max_range_m=0.25), top_start=False) == []
    # ranges 0.3 m up vs 0.1 m down: ratio 3 > 1.45
    lopsided = _profile([15, _tri(25, 0.6), 30, -_tri(40, 0.125), 15])
    m2 = find_moves(lopsided, DT, 0.03, 0)
    assert pair_moves(m2, lopsided == 0, p, top_start=False) == []
    # a concentric shorter than min_phase_s (its run is 49 samples, 0.98 s)
    assert pair_moves(moves, still, replace(p, min_phase_s=1.0), top_start=False) == []
    assert len(pair_moves(moves, still, replace(p, min_phase_s=0.97), top_start=False)) == 1
    # a "hold" of 3 s that is not still (walking about) is no hold
    long = _rep_profile(hold=150)
    m3 = find_moves(long, DT, 0.03, 0)
    assert len(pair_moves(m3, long == 0, p, top_start=False)) == 1
    restless = np.zeros(long.size, dtype=bool)
    assert pair_moves(m3, restless, p, top_start=False) == []
    # a hold longer than max_hold_s
    assert pair_moves(m3, long == 0, replace(p, max_hold_s=2.5), top_start=False) == []


def test_pair_moves_passes_over_a_creep_in_the_hold() -> None:
    """A rise of 0.3 m, a long hold that creeps up 0.04 m (drift, or the hips settling),
    then the descent: one rep. A second rise of 0.25 m (over 0.3 / 1.45) is no creep."""
    creep = _profile([15, _tri(25, 0.6), 20, _tri(20, 0.1), 20, -_tri(40, 0.375), 15])
    moves = find_moves(creep, DT, 0.03, 0)
    assert [m.sign for m in moves] == [1, 1, -1]
    reps = pair_moves(moves, creep == 0, _params(), top_start=False)
    assert [(r.rise, r.fall) for r in reps] == [(moves[0], moves[2])]
    two = _profile([15, _tri(25, 0.6), 20, _tri(25, 0.5), 20, -_tri(40, 0.375), 15])
    m2 = find_moves(two, DT, 0.03, 0)
    assert [r.rise for r in pair_moves(m2, two == 0, _params(), top_start=False)] == [m2[1]]


def _mv(sign: int, i0: int, disp_m: float) -> Move:
    return Move(sign, i0, i0 + 50, abs(disp_m), disp_m)


def test_unreturned_pairs_moves_in_one_direction_with_no_way_back_between() -> None:
    p = _params()  # pair_ratio 1.45: a way back of 0.3 m is at least 0.207 m
    up1, down1, up2, up3, creep, up4, down4 = (
        _mv(1, 0, 0.3), _mv(-1, 100, -0.3), _mv(1, 200, 0.3), _mv(1, 400, 0.28),
        _mv(-1, 500, -0.12), _mv(1, 600, 0.31), _mv(-1, 700, -0.3),
    )
    moves = [up1, down1, up2, up3, creep, up4, down4]
    # up2 -> up3: nothing between; up3 -> up4: only 0.12 m back (under 0.28 / 1.45)
    assert unreturned(moves, p) == [(up2, up3), (up3, up4)]
    # a rise twice the size is not the same kind of move (setting up, standing)
    big = _mv(1, 400, 0.6)
    assert unreturned([up1, down1, up2, big], p) == []
    # nor is one that comes too long after (walking off and back)
    far = _mv(1, 200 + 50 + round(24 * RATE), 0.3)
    assert unreturned([up2, far], p) == []
    # descents likewise (a top-start lift's missing rise)
    assert unreturned([down1, _mv(-1, 300, -0.3)], p) == [(down1, _mv(-1, 300, -0.3))]


def test_rest_to_rest_speed_sees_a_descent_under_the_stillness_thresholds() -> None:
    """A 0.2 m descent over 4 s (peak 7 mg: under the stillness test's 10 mg) between a hold
    and a bottom rest, all of it marked still, read by a sensor 4 mg off: its speed and its
    0.2 m come back, and the speed is zero at both rests."""
    t = np.arange(350) * DT
    v_true = _minjerk_speed(t, 1.5, -0.2, 4.0)  # 1.5 s of hold, 4 s down, 1.5 s of bottom
    accel = np.gradient(v_true, DT)
    assert np.abs(accel).max() / GRAVITY_MPS2 < 0.008
    norm = 1.004 + accel / GRAVITY_MPS2
    still = np.ones(v_true.size, dtype=bool)
    v = rest_to_rest_speed(norm, still, DT)
    assert np.sum(v) * DT == pytest.approx(-0.2, abs=0.005)
    assert np.max(np.abs(v - v_true)) < 0.005
    assert abs(v[0]) < 1e-3
    assert abs(v[-1]) < 1e-3
    # gravity is read from the still samples: a move marked as such is no baseline
    moving = np.zeros(v_true.size, dtype=bool)
    moving[:75] = moving[-75:] = True
    assert np.max(np.abs(rest_to_rest_speed(norm, moving, DT) - v_true)) < 0.005


def test_rest_to_rest_speed_tilted_reads_gravity_per_orientation() -> None:
    """The same 0.2 m, 4 s descent on a bar that tilts 30 deg as it goes down, read by a
    sensor with a 3 % scale error on one axis: gravity reads 7 mg less at the bottom than
    at the top. One gravity for the window turns that into a rise; gravity per
    orientation, fitted on the hold and the bottom rest, gets the 0.2 m back."""
    t = np.arange(350) * DT
    v_true = _minjerk_speed(t, 1.5, -0.2, 4.0)
    f = 1 + np.gradient(v_true, DT) / GRAVITY_MPS2
    pos = np.cumsum(v_true) * DT
    theta = np.radians(30) * pos / pos[-1]
    acc = np.column_stack([np.sin(theta), np.zeros_like(theta), np.cos(theta)]) * f[:, None]
    acc *= np.array([1.0, 1.0, 1.03])
    norm = np.linalg.norm(acc, axis=1)
    still = np.zeros(t.size, dtype=bool)
    still[:60] = still[-60:] = True  # the hold and the bottom rest
    p = EngineParams()
    v = rest_to_rest_speed_tilted(acc, norm, still, 0, t.size, dt_s=DT, params=p)
    assert np.sum(v) * DT == pytest.approx(-0.2, abs=0.01)
    assert np.max(np.abs(v - v_true)) < 0.015
    assert abs(v[0]) < 1e-3
    assert abs(v[-1]) < 1e-3
    assert np.sum(rest_to_rest_speed(norm, still, DT)) * DT > 0  # one gravity: read as a rise


def test_runs() -> None:
    mask = np.array([False, True, True, False, True])
    assert runs(mask) == [(1, 3), (4, 5)]
    assert runs(np.zeros(3, dtype=bool)) == []
    assert runs(np.ones(2, dtype=bool)) == [(0, 2)]


def test_cycle_detrended_takes_out_a_drift_and_keeps_long_rests() -> None:
    # six reps of 150 samples (3 s) whose speed drifted by -0.08 m/s, after a 2 s rest
    reps = np.tile(_rep_profile(hold=20), 6)
    period = reps.size // 6
    speed = _profile([100, reps - 0.08, 0])
    rest = speed == 0.0  # the 2 s rest before the set (its hold runs are drifted too)
    out = cycle_detrended(speed, rest, period, keep_rest=50)
    assert np.all(out[:100] == 0.0)  # a rest longer than keep_rest keeps zero speed
    inner = slice(100 + period, 100 + 5 * period)  # a whole cycle from either edge
    assert np.allclose(out[inner], reps[period : 5 * period], atol=1e-9)
    # the set's moves now pair: each rise matches the descent after it
    moves = find_moves(out[inner], DT, 0.03, 0)
    assert [m.sign for m in moves] == [1, -1] * 4
    assert [round(m.disp_m, 3) for m in moves] == [0.3, -0.3] * 4
    # a shorter rest is corrected like the motion around it
    assert not np.all(cycle_detrended(speed, rest, period, keep_rest=100)[:100] == 0.0)


def test_a_rep_only_the_de_drifted_speed_shows_must_accelerate_like_its_set() -> None:
    """Activities (g^2) of a set's reps, the last one de-drifted slow sway (plain seed 961:
    0.07 x its set's). Reps the plain speed saw are kept whatever they read; one it did not
    is kept from ``ratio`` times the median of the others' (the first rep here: 0.3 x)."""
    act = [3e-4, 1.0e-3, 1.2e-3, 0.9e-3, 7e-5]
    seen = [False, True, True, True, False]
    assert moving(act, seen, 0.15) == [True, True, True, True, False]
    assert moving(act, seen, 0.4) == [False, True, True, True, False]
    assert moving(act, [True] * 5, 0.4) == [True] * 5  # the plain speed's reps stay
    assert moving([1e-6], [False], 0.15) == [True]  # no other rep to compare with
    # the median of the others: one loud rep among them does not raise the bar
    assert moving([2e-4, 1e-3, 1e-3, 1e-1], [False, True, True, True], 0.15) == [True] * 4


def test_a_set_the_de_drifted_speed_shows_must_come_back_evenly() -> None:
    """Rises and descents (m) of plain seed 1059's shuffling between sets, which the
    de-drifted speed paired into three "reps": each descent 1.7-1.8 x its rise or 1/1.7 x,
    a median |ln| of 0.555 (ratio 1.74). A true set's reps come back within 1.37 x on
    median, one odd pair (2 x) among them or not."""
    rises = [0.196, 0.129, 0.153]
    descents = [-0.115, -0.225, -0.270]
    assert not comes_back_evenly(rises, descents, 1.5)
    assert comes_back_evenly(rises, descents, 1.8)
    assert comes_back_evenly([0.2, 0.2, 0.2, 0.2], [-0.21, -0.19, -0.4, -0.2], 1.5)
    assert comes_back_evenly([0.2, 0.2], [-0.27, -0.27], 1.37)  # ln 1.35 < ln 1.37
    assert not comes_back_evenly([0.2, 0.2], [-0.28, -0.28], 1.37)
    assert not comes_back_evenly([], [], 1.5)  # no reps, no set


def test_a_rep_cycle_from_the_descents_when_drift_hides_the_rises() -> None:
    """Four reps 2.9 s apart with no rest between, on a speed drifting down: every descent
    shows, but the third rise is swallowed by the descents around it, and the second reads
    small. Three rises alone give intervals of 2.9 and 5.8 s (a cycle of 4.35 s); with the
    descents' (2.9 s each), the cycle is 2.9 s. Four rises or more decide alone."""
    every = round(2.9 * RATE)
    downs = [_mv(-1, 50 + k * every, -0.4) for k in range(4)]
    ups = [_mv(1, k * every, d) for k, d in ((0, 0.2), (1, 0.09), (3, 0.12))]
    moves = sorted(ups + downs, key=lambda m: m.i0)
    assert rep_cycle(moves, 0.05) == every
    assert rep_cycle([m for m in moves if m.sign > 0], 0.05) is None  # two intervals
    four = [_mv(1, k * 100, 0.2) for k in range(4)]
    assert rep_cycle(four + [_mv(-1, 60 + k * 130, -0.2) for k in range(4)], 0.05) == 100
    assert rep_cycle(moves[:3], 0.05) is None  # one interval


def _reps_at(starts_s: list[float], span_s: float = 3.0) -> list[RepCandidate]:
    """Rep candidates starting at these times (s on the 50 Hz grid), each ``span_s`` long."""
    out = []
    for t in starts_s:
        i = round(t * RATE)
        half = round(span_s * RATE / 2)
        out.append(RepCandidate(Move(1, i, i + half, 0.5, 0.3),
                                Move(-1, i + half, i + 2 * half, 0.3, -0.3), top_start=False))
    return out


def test_sets_split_at_long_pauses_but_not_at_one_missed_rep() -> None:
    engine = Engine(params=_params(set_gap_s=8.0, missed_cycles=2.5))
    # a pause set: a rep every 8 s, the fourth missed (a 13 s pause between reps)
    slow = _reps_at([0, 8, 16, 32, 40])
    assert [len(g) for g in engine._split(slow)] == [5]
    # a set of 4 s cycles, then 40 s of rest, then the next set: two sets
    two = _reps_at([0, 4, 8, 12, 55, 59, 63])
    assert [len(g) for g in engine._split(two)] == [4, 3]
    # 4 s cycles with a 13 s pause: over 8 s and over 2.5 cycles (10 s): a new set
    assert [len(g) for g in engine._split(_reps_at([0, 4, 8, 24, 28]))] == [3, 2]


def test_a_pause_the_missed_rep_allowance_bridges_ends_the_set_if_the_athlete_stood_up() -> None:
    engine = Engine(params=_params(set_gap_s=8.0, missed_cycles=2.5, set_end_ratio=2.5))
    # 4 s cycles of 3 s reps; a 9.5 s pause is over 8 s but within 2.5 cycles: one set ...
    reps = _reps_at([0, 4, 8, 20.5, 24.5, 28.5])
    assert [len(g) for g in engine._split(reps)] == [6]
    # ... also when the pause holds a rep-sized move (the missed rep, 0.4 m for 0.3 m reps)
    missed = Move(1, round(14 * RATE), round(15.5 * RATE), 0.4, 0.4)
    assert [len(g) for g in engine._split(reps, [missed])] == [6]
    # but not when it holds a rise of 0.8 m, standing up from the floor: two sets
    stood = Move(1, round(14 * RATE), round(15.5 * RATE), 0.6, 0.8)
    assert [len(g) for g in engine._split(reps, [missed, stood])] == [3, 3]
    # a big move inside the set (not in the pause) does not split it
    inside = Move(-1, round(1 * RATE), round(2 * RATE), 0.6, -0.8)
    assert [len(g) for g in engine._split(reps, [inside])] == [6]


def test_rep_sized_rises_bound_the_reps_a_speed_can_pair() -> None:
    """The de-drifted speed is paired only when it has more rep-sized rises than the plain
    speed has reps: each rep takes a rise of its own, from ``min_range_m`` to ``max_range_m``."""
    engine = Engine(params=_params())
    moves = [
        Move(1, 0, 100, 0.4, 0.30),  # a rep's rise
        Move(-1, 100, 200, 0.4, -0.30),  # its descent: not a rise
        Move(1, 200, 300, 0.2, 0.09),  # under min_range_m
        Move(1, 300, 400, 0.4, 0.10),  # min_range_m exactly
        Move(1, 400, 600, 1.5, 1.30),  # over max_range_m (standing up and more)
        Move(1, 600, 700, 0.4, 1.20),  # max_range_m exactly
    ]
    assert engine._rises(moves) == 3
    assert engine._rises([]) == 0


def test_a_slow_pause_sets_rep_cycle_keeps_its_region_open() -> None:
    """A stretch of data is read together until nothing rep-sized has come for 8 s *and*
    1.2 rep cycles. A pause set (2 s up, 3 s held, 3.3 s down and 1.5 s at the bottom, its
    descents too slow to see) shows a rise every 10.1 s: its cycle counts (12.1 s, so the
    8.2 s from one rise's end to the next rise does not end the stretch; sim seed 5179
    lost 4 reps there when cycles over 10 s counted as none). Rises 13 s apart are no
    set's cycle."""
    engine = Engine(params=_params())

    def rises(every_s: float) -> list[int]:  # the rises' start samples
        return [round(k * every_s * RATE) for k in range(4)]

    assert engine._cycles_n(rises(10.1)) == pytest.approx(1.2 * 10.1 * RATE)
    assert engine._cycles_n(rises(13.0)) == 0.0
    assert engine._cycles_n(rises(10.1)[:2]) == 0.0  # fewer than three rises: no cycle yet


def _ran_on_descent(run_on_m: float) -> tuple[RepCandidate, FloatArray]:
    """A 0.3 m rep whose descent (0.3 m, 1.57 s, peak 0.3 m/s) slows to 1 cm/s for 0.2 s,
    then runs on ``run_on_m`` further down (peak 0.2 m/s), as (candidate, descent speed)."""
    t1 = np.arange(0.0, math.pi / 2, DT)  # 0.3 m = 0.3 m/s x 2 T / pi, T = pi / 2 s
    rep = -0.3 * np.sin(2 * t1)
    pause = np.full(10, -0.01)
    t2_s = run_on_m * math.pi / (2 * 0.2)
    t2 = np.arange(0.0, t2_s, DT)
    seg = np.concatenate([rep, pause, -0.2 * np.sin(math.pi * t2 / t2_s)])
    disp = -float(seg.sum()) * DT
    rise = Move(1, 0, 50, 0.35, 0.3)
    fall = Move(-1, 60, 60 + seg.size, 0.3, -disp)
    return RepCandidate(rise, fall, top_start=False), seg


def test_a_descent_that_ran_on_is_trimmed_to_the_rep() -> None:
    # the last rep's descent runs on 0.06 m (1.2 x its rise) into sitting down: the rep
    # ends where it slowed at the bottom, 0.3 m down
    cand, seg = _ran_on_descent(0.06)
    assert 1.15 < -cand.fall.disp_m / cand.rise.disp_m < 1.25
    trimmed = trim_ran_on(cand, seg, np.zeros(seg.size + 3, dtype=bool), DT, _params())
    assert trimmed is not None
    assert trimmed.rise == cand.rise
    assert -trimmed.fall.disp_m == pytest.approx(0.3, abs=0.005)
    end_s = (trimmed.fall.i1 - cand.fall.i0) * DT
    assert math.pi / 2 - DT <= end_s <= math.pi / 2 + 0.2 + 2 * DT  # before it runs on
    # a descent only 5 % over its rise did not run on: it is the rep's, left as it is
    short, seg = _ran_on_descent(0.015)
    assert trim_ran_on(short, seg, np.zeros(seg.size + 3, dtype=bool), DT, _params()) is None
    # nor is one that never slows at the rep's depth (no stop, no slowing under half speed)
    steady_seg = np.full(seg.size, -0.3)
    fast = RepCandidate(cand.rise, Move(-1, 60, 60 + seg.size, 0.3, -0.36), top_start=False)
    assert trim_ran_on(fast, steady_seg, np.zeros(seg.size + 3, dtype=bool), DT,
                       _params()) is None


def test_phase_indices_triangles_exact() -> None:
    speed = _rep_profile(hold=30)
    moves = find_moves(speed, DT, 0.03, 0)
    (rep,) = pair_moves(moves, speed == 0, _params(), top_start=False)
    ph = phase_indices(speed, rep, 0.05)
    # rise: zero at 15, peak 0.6 at 40, zero at 65 -> 5 % of 0.6 at 15 + 1.25 and 65 - 1.25
    # fall: zero at 96, -0.375 at 136, zero at 176 -> -0.03 (5 % of the RISE peak) where
    # 0.375 * x / 40 = 0.03: x = 3.2 samples from each end
    assert ph.peak_mps == pytest.approx(0.6)
    assert ph.start == pytest.approx(16.25, abs=1e-9)
    assert ph.lockout == pytest.approx(63.75, abs=1e-9)
    assert ph.descent == pytest.approx(99.2, abs=1e-9)
    assert ph.bottom == pytest.approx(172.8, abs=1e-9)


def test_phase_indices_smooth_profile_analytic_crossings() -> None:
    """sin^2 speed profiles off the grid: crossings at arcsin(sqrt(0.05)) / pi of a phase."""
    t0_r, tc, t0_f, te, peak = 0.313, 1.1, 2.547, 1.7, 0.5
    t = np.arange(0, 5.0, DT)

    def bump(t0: float, dur: float) -> FloatArray:
        x = (t - t0) / dur
        return np.where((x > 0) & (x < 1), np.sin(np.pi * x) ** 2, 0.0)

    rise_disp = peak * tc / 2  # the mean of sin^2 is 1/2
    fall_peak = rise_disp * 2 / te  # same displacement down
    speed = peak * bump(t0_r, tc) - fall_peak * bump(t0_f, te)
    moves = find_moves(speed, DT, 0.03, 0)
    (rep,) = pair_moves(moves, speed == 0, _params(), top_start=False)
    assert rep.rise.disp_m == pytest.approx(rise_disp, rel=1e-3)
    ph = phase_indices(speed, rep, 0.05)
    tau = math.asin(math.sqrt(0.05)) / math.pi
    # at the descent the threshold is 5 % of the RISE's peak, on the fall's own profile
    tau_f = math.asin(math.sqrt(0.05 * peak / fall_peak)) / math.pi
    tol = 0.002  # s: linear interpolation between 20 ms grid samples
    assert ph.start * DT == pytest.approx(t0_r + tau * tc, abs=tol)
    assert ph.lockout * DT == pytest.approx(t0_r + (1 - tau) * tc, abs=tol)
    assert ph.descent * DT == pytest.approx(t0_f + tau_f * te, abs=tol)
    assert ph.bottom * DT == pytest.approx(t0_f + (1 - tau_f) * te, abs=tol)


def test_phase_indices_drifted_hold_is_read_from_its_level() -> None:
    # rise, a 30-sample hold whose speed drifted to -0.05 m/s (no rest anchored it), descent
    hold = np.full(30, -0.05)
    speed = _profile([15, _tri(25, 0.6), hold, -_tri(40, 0.375) - 0.05, 15])
    moves = find_moves(speed, DT, 0.03, 0)
    rep = RepCandidate(moves[0], moves[1], top_start=False)
    plain = phase_indices(speed, rep, 0.05)
    assert plain.descent - plain.lockout < 3.0  # the drift reads as an instant descent
    held = phase_indices(speed, rep, 0.05, flat_step_mps=0.002, flat_min=10)
    hold_start = 15 + 2 * 25 + 1  # index of the hold's first sample
    assert held.lockout == pytest.approx(hold_start - 1, abs=1.0)
    assert held.descent == pytest.approx(hold_start + 30, abs=4.0)
    assert (held.start, held.bottom) == (plain.start, plain.bottom)
    # a hold at zero speed is left to the plain crossings
    clean = _rep_profile()
    m2 = find_moves(clean, DT, 0.03, 0)
    rep2 = RepCandidate(m2[0], m2[1], top_start=False)
    assert phase_indices(clean, rep2, 0.05, flat_step_mps=0.002) == phase_indices(clean, rep2, 0.05)


def test_phase_indices_take_the_crossings_nearest_each_moves_peak() -> None:
    """A hold whose speed never quite reaches zero (+5 mm/s) and wobbles over the 3 cm/s
    threshold 0.3 s after the lockout, and a bottom rest with a wobble before the rise: both
    are in the rise's move, but the lockout and the start are where the rise itself crosses
    the threshold."""
    wobble = 0.005 + _tri(5, 0.035)  # peaks at 0.04 m/s
    speed = _profile([
        np.full(10, 0.005), wobble, np.full(10, 0.005),  # the bottom, from index 0
        np.maximum(_tri(25, 0.6), 0.005),  # the rise, from index 31: 0.03 m/s at 31 + 1.25
        np.full(15, 0.005), wobble, np.full(15, 0.005),  # the hold, from index 82
        -_tri(40, 0.375), 15,  # the descent, from index 123
    ])
    rise, fall = find_moves(speed, DT, 0.03, 0)
    assert (rise.i0, fall.i0) == (0, 124)
    ph = phase_indices(speed, RepCandidate(rise, fall, top_start=False), 0.05)
    assert ph.start == pytest.approx(31 + 0.03 / 0.6 * 25, abs=0.01)
    assert ph.lockout == pytest.approx(81 - 0.03 / 0.6 * 25, abs=0.01)
    assert ph.descent == pytest.approx(123 + 0.03 / 0.375 * 40, abs=0.01)


def test_phase_indices_wavering_hold_lasts_until_the_top_is_left() -> None:
    # rise 0.3 m, a 30-sample hold whose speed wavers (down to -0.04 m/s, past the descent's
    # threshold right after the lockout, then -0.005: 1 cm in all), then the descent
    i = np.arange(15)
    wave = np.concatenate([-0.04 * np.sin(np.pi * (i + 0.5) / 15), np.full(15, -0.005)])
    speed = _profile([15, _tri(25, 0.6), wave, -_tri(40, 0.375) - 0.005, 15])
    rise, fall = find_moves(speed, DT, 0.03, 0)  # the waver is part of the descent's move
    rep = RepCandidate(rise, fall, top_start=False)
    hold_end = 15 + 2 * 25 + 1 + 30  # index of the descent's first sample
    # the descent is the threshold crossing nearest the descent's peak: the waver's crossing
    # (0.1 s after the lockout) is not it
    plain = phase_indices(speed, rep, 0.05, flat_step_mps=0.002, flat_min=10)
    assert plain.descent == pytest.approx(hold_end + 40 * 0.025 / 0.375, abs=0.5)
    held = phase_indices(speed, rep, 0.05, flat_step_mps=0.002, flat_min=10,
                         band_steps=0.02 * RATE)
    assert held == plain
    # a hold that is really left at once (a bounce) stays short
    bounce = _profile([15, _tri(25, 0.6), -_tri(40, 0.375), 15])
    m2 = find_moves(bounce, DT, 0.03, 0)
    rep2 = RepCandidate(m2[0], m2[1], top_start=False)
    assert phase_indices(bounce, rep2, 0.05, flat_step_mps=0.002, band_steps=0.02 * RATE) == (
        phase_indices(bounce, rep2, 0.05))


def test_phase_indices_top_start_rep() -> None:
    speed = _profile([10, -_tri(40, 0.375), 20, _tri(25, 0.6), 10])
    moves = find_moves(speed, DT, 0.03, 0)
    (rep,) = pair_moves(moves, speed == 0, _params(), top_start=True)
    ph = phase_indices(speed, rep, 0.05)
    assert ph.descent == pytest.approx(13.2)
    assert ph.bottom == pytest.approx(86.8)
    assert ph.start == pytest.approx(112.25)
    assert ph.lockout == pytest.approx(159.75)
    assert ph.descent < ph.bottom < ph.start < ph.lockout


def test_phase_indices_shallow_descent_uses_its_extent() -> None:
    speed = _profile([10, _tri(25, 0.6), 10, -np.full(10, 0.02), 10])
    rise = Move(1, 11, 60, 0.6, 0.3)
    fall = Move(-1, 70, 80, 0.02, -0.004)
    ph = phase_indices(speed, RepCandidate(rise, fall, False), 0.05)
    assert (ph.descent, ph.bottom) == (69.0, 79.0)


# -- stage 4: orientation ----------------------------------------------------------------------


def test_window_sums_leave_out_rows_outside_the_array() -> None:
    a = np.arange(12, dtype=float).reshape(6, 2)  # rows (0, 1), (2, 3), ... (10, 11)
    got = window_sums(a, np.array([[-2, 1], [4, 5]]), 3)
    # rows 0 only; rows 1-3; rows 4-5; row 5
    want = np.array([[[0, 1], [12, 15]], [[18, 20], [10, 11]]], dtype=float)
    assert np.array_equal(got, want)


def test_angles_deg_of_many_rows_at_once() -> None:
    a = np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 1.0]])
    b = np.array([[0, 1.0, 0], [0, 1.0, 1.0], [0, 0, 5.0]])
    assert angles_deg(a, b) == pytest.approx([90, 45, 0], abs=1e-6)
    assert angles_deg(a, np.array([1.0, 0, 0])) == pytest.approx([0, 90, 90])  # broadcast


def test_angles_deg() -> None:
    assert angles_deg(np.array([1.0, 0, 0]), np.array([0, 1.0, 0])) == pytest.approx(90)
    assert angles_deg(np.array([2.0, 0, 0]), np.array([1.0, 1.0, 0])) == pytest.approx(45)
    assert angles_deg(np.array([0, 0, 1.0]), np.array([0, 0, -3.0])) == pytest.approx(180)
    assert angles_deg(np.array([0.3, -0.2, 0.9]), np.array([0.6, -0.4, 1.8])) == pytest.approx(
        0, abs=1e-5
    )
    r = Rotation.from_euler("x", 33, degrees=True)
    g = np.array([0.0, 0.0, 1.0])
    assert angles_deg(g, r.apply(g)) == pytest.approx(33)


def _pelvis_gravity(
    pitch_deg: FloatArray, roll_deg: FloatArray, twist_deg: FloatArray | None = None,
    yaw_deg: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The simulator's pelvis: body x antero-posterior, y medio-lateral, z up; pose = yaw (z),
    pitch (y), roll (x) in that order ("ZYX", as ``sensor.simulate``), then a twist about the
    pelvis' own long axis. Returns gravity's reaction (up) in the pelvis frame, and the
    elevation of the medio-lateral axis above the horizontal (degrees): the known tilt."""
    zero = np.zeros_like(pitch_deg)
    yaw = zero if yaw_deg is None else yaw_deg
    pose = Rotation.from_euler("ZYX", np.column_stack([yaw, pitch_deg, roll_deg]), degrees=True)
    if twist_deg is not None:
        pose = pose * Rotation.from_euler("z", twist_deg[:, None], degrees=True)
    up = pose.inv().apply([0.0, 0.0, 1.0])
    ml_elevation = np.degrees(np.arcsin(pose.apply([0.0, 1.0, 0.0])[:, 2]))
    return up, ml_elevation


def _tilt_session(
    rolls: list[float], pitch_deg: float = 40.0, *, start_pitch_deg: float = 0.0,
    mount: Rotation | None = None, twists: list[float] | None = None, noise_g: float = 0.0,
    seed: int = 0,
) -> tuple[FloatArray, list[tuple[int, int, int]], Rotation, list[float]]:
    """Reps that pitch the pelvis from ``start_pitch_deg`` by ``pitch_deg`` and roll it about
    its own AP axis by ``rolls`` (and twist it by ``twists``) at the top, the heading turning
    a little from rep to rep; returns the accelerometer in a skewed sensor frame, the rep
    spans, the mounting and each rep's true tilt (change of the hips' level, degrees)."""
    rng = np.random.default_rng(seed)
    pitch: list[FloatArray] = []
    roll: list[FloatArray] = []
    twist: list[FloatArray] = []
    yaw: list[FloatArray] = []
    spans = []
    n = 0
    ramp = np.linspace(0, 1, 40)
    for i, r in enumerate(rolls):
        tw = twists[i] if twists else 0.0
        seg_p = start_pitch_deg + np.concatenate(
            [np.zeros(30), pitch_deg * ramp, np.full(30, pitch_deg), pitch_deg * ramp[::-1]]
        )
        seg_r = np.concatenate([np.zeros(30), r * ramp, np.full(30, r), r * ramp[::-1]])
        seg_t = seg_r * (tw / r if r else 0.0) if tw else np.zeros(seg_r.size)
        if tw and not r:
            seg_t = np.concatenate([np.zeros(30), tw * ramp, np.full(30, tw), tw * ramp[::-1]])
        spans.append((n + 30, n + 70 + 15, n + 140))  # start, lockout mid-plateau, bottom
        pitch.append(seg_p)
        roll.append(seg_r)
        twist.append(seg_t)
        yaw.append(np.full(seg_p.size, 4.0 * i))  # a turn on the bench between reps
        n += seg_p.size
    pitch.append(np.full(30, start_pitch_deg))
    for parts in (roll, twist, yaw):
        parts.append(np.zeros(30))
    up, elevation = _pelvis_gravity(*(np.concatenate(p) for p in (pitch, roll, twist, yaw)))
    mount = mount or Rotation.from_euler("zyx", [37, -71, 122], degrees=True)
    acc = mount.inv().apply(up) * 0.98  # sensor frame; the norm is irrelevant
    acc = acc + rng.normal(0.0, noise_g, acc.shape) if noise_g else acc
    tilts = [abs(float(elevation[lk] - elevation[s])) for s, lk, _ in spans]
    return acc, spans, mount, tilts


@pytest.mark.parametrize("pitch_deg", [40.0, 55.0])
def test_tilt_per_rep_no_roll_gives_zero(pitch_deg: float) -> None:
    acc, spans, mount, _ = _tilt_session([0.0] * 5, pitch_deg)
    axis = pitch_axis(acc / np.linalg.norm(acc, axis=1, keepdims=True))
    assert abs(float(axis @ mount.inv().apply([0, 1.0, 0]))) > 0.999  # the medio-lateral axis
    assert tilt_per_rep(acc, spans, settle=15) == pytest.approx([0.0] * 5, abs=0.05)
    assert tilt_per_rep(acc, [], settle=15) == []


@pytest.mark.parametrize("start_pitch_deg", [0.0, -69.0])
@pytest.mark.parametrize("pitch_deg", [40.0, 55.0])
def test_tilt_per_rep_known_roll_any_mounting(pitch_deg: float, start_pitch_deg: float) -> None:
    """3 of 5 reps tilt: the hips leave level by asin(sin(roll) cos(pitch at lockout))."""
    rolls = [0.0, 10.0, 0.0, 6.0, 12.0]
    acc, spans, _, tilts = _tilt_session(rolls, pitch_deg, start_pitch_deg=start_pitch_deg)
    lockout_pitch = np.radians(start_pitch_deg + pitch_deg)
    want = np.degrees(np.arcsin(np.sin(np.radians(rolls)) * np.cos(lockout_pitch)))
    assert tilts == pytest.approx(want, abs=1e-9)  # the model's own tilt, worked out by hand
    assert tilt_per_rep(acc, spans, settle=15) == pytest.approx(tilts, abs=0.1)


@pytest.mark.parametrize("seed", range(8))
def test_tilt_per_rep_random_mounting_pitch_and_tilted_subset(seed: int) -> None:
    """Any mounting, pitch 20-60 deg from any start, 2 mg noise, a random subset of up to all
    but two reps rolled by 3-15 deg either way: the tilt within 0.6 deg of the known one."""
    rng = np.random.default_rng([seed, 7])
    n = int(rng.integers(4, 9))
    rolls = list(rng.uniform(-1.0, 1.0, n))  # a level rep is never quite level
    n_tilted = int(rng.integers(1, n - 1))
    spread = rng.permutation(np.linspace(3.0, 15.0, n_tilted))  # no two tilt alike
    for i, r in zip(rng.choice(n, n_tilted, replace=False), spread, strict=True):
        rolls[i] = float(r * rng.choice([-1.0, 1.0]))
    acc, spans, _, tilts = _tilt_session(
        rolls, float(rng.uniform(20, 60)), start_pitch_deg=float(rng.uniform(-75, 0)),
        mount=Rotation.random(random_state=seed), noise_g=0.002, seed=seed,
    )
    assert max(tilts) > 2.0  # something to find
    assert tilt_per_rep(acc, spans, settle=15) == pytest.approx(tilts, abs=0.6)


def test_tilt_per_rep_pelvis_also_yaws() -> None:
    """The heading turns between reps and the pelvis twists about its long axis by up to
    2 deg at the top (which moves the hips' level too): the tilt still within 0.6 deg."""
    rolls = [0.5, 11.0, -0.8, 0.2, -7.0, 0.9, -0.4]
    twists = [1.5, -2.0, -1.0, 2.0, 0.5, -1.5, 1.0]
    acc, spans, _, tilts = _tilt_session(
        rolls, 45.0, start_pitch_deg=-60.0, mount=Rotation.random(random_state=3),
        twists=twists, noise_g=0.002,
    )
    assert tilt_per_rep(acc, spans, settle=15) == pytest.approx(tilts, abs=0.6)


# -- stage 5: metrics -------------------------------------------------------------------------


def test_asymmetry_index_pct() -> None:
    assert asymmetry_index_pct(1.0, 1.2) == pytest.approx(0.2 / 1.1 * 100)
    assert asymmetry_index_pct(1.2, 1.0) == asymmetry_index_pct(1.0, 1.2)
    assert asymmetry_index_pct(2.0, 2.0) == 0.0
    assert asymmetry_index_pct(0.0, 0.0) is None
    assert asymmetry_index_pct(3.0, 1.0) == pytest.approx(100.0)


def _stats(n: int, mean: float, sd: float) -> LegStats:
    return LegStats(n, mean, 1.0, 2.0, sd, 0.1, 0.1)


def test_asymmetry_flags_real_difference() -> None:
    legs = {Leg.LEFT: _stats(10, 1.0, 0.05), Leg.RIGHT: _stats(10, 1.3, 0.05)}
    a = asymmetry(legs, 15.0, 0.05)
    con = a.phases[0]
    assert con.metric == "concentric_s"
    assert con.index_pct == pytest.approx(0.3 / 1.15 * 100)
    # two standard errors of the difference: 2 sqrt(0.05^2/10 * 2) / 1.15 * 100
    assert con.noise_pct == pytest.approx(2 * math.sqrt(0.0025 / 5) / 1.15 * 100)
    assert con.flagged
    assert a.flags == ("concentric_s",)
    assert a.flagged
    assert a.threshold_pct == 15.0
    assert a.index_pct("hold_s") == pytest.approx(0.0)


def test_asymmetry_within_rep_noise_is_not_flagged() -> None:
    # the same 26 % index, but the reps scatter by 0.6 s and there are only 3 a leg
    legs = {Leg.LEFT: _stats(3, 1.0, 0.6), Leg.RIGHT: _stats(3, 1.3, 0.6)}
    con = asymmetry(legs, 15.0, 0.05).phases[0]
    assert con.index_pct == pytest.approx(0.3 / 1.15 * 100)
    assert con.noise_pct == pytest.approx(2 * math.sqrt(0.36 * 2 / 3) / 1.15 * 100)
    assert con.noise_pct is not None
    assert con.index_pct is not None
    assert con.noise_pct > con.index_pct
    assert not con.flagged


def test_asymmetry_under_threshold_or_noise_floor() -> None:
    legs = {Leg.LEFT: _stats(10, 1.0, 0.0), Leg.RIGHT: _stats(10, 1.1, 0.0)}
    con = asymmetry(legs, 15.0, 0.05).phases[0]
    assert con.index_pct == pytest.approx(0.1 / 1.05 * 100)
    assert not con.flagged  # 9.5 % < 15 %
    assert con.noise_pct == pytest.approx(2 * math.sqrt(0.0025 / 5) / 1.05 * 100)  # the floor
    assert asymmetry(legs, 5.0, 0.05).phases[0].flagged  # over a 5 % threshold it is


def test_asymmetry_needs_both_legs_with_two_reps() -> None:
    one = asymmetry({Leg.LEFT: _stats(10, 1.0, 0.1)}, 15.0, 0.05)
    assert all(p.index_pct is None and not p.flagged for p in one.phases)
    few = asymmetry({Leg.LEFT: _stats(1, 1.0, 0.0), Leg.RIGHT: _stats(8, 2.0, 0.1)}, 15.0, 0.05)
    assert not few.flagged
    assert [p.metric for p in few.phases] == ["concentric_s", "hold_s", "eccentric_s"]


def test_leg_for_set() -> None:
    L, R = Leg.LEFT, Leg.RIGHT  # noqa: N806 - leg names read as the spec's L and R
    assert [leg_for_set(i, L, None) for i in range(4)] == [L, R, L, R]
    assert [leg_for_set(i, R, None) for i in range(3)] == [R, L, R]
    assert [leg_for_set(i, L, (R, R, L)) for i in range(3)] == [R, R, L]
    # past the end of the list: alternate from its last leg
    assert [leg_for_set(i, L, (L, L)) for i in range(5)] == [L, L, R, L, R]
    assert [leg_for_set(i, R, (R,)) for i in range(3)] == [R, L, R]
    assert leg_for_set(0, R, ()) is R  # an empty list means alternation


def _rep(i: int, hold_s: float, tilt_deg: float | None = None, con: float = 1.0) -> Rep:
    t = 10.0 * i
    return Rep(
        index=i, t_start=t, t_lockout=t + con, t_descent=t + con + hold_s,
        t_bottom=t + con + hold_s + 1.5, concentric_s=con, hold_s=hold_s, eccentric_s=1.5,
        peak_speed_mps=0.5, range_m=0.3, tilt_deg=tilt_deg,
    )


def test_flag_reps_pause_and_bounce() -> None:
    reps = [_rep(0, 3.2), _rep(1, 2.5), _rep(2, 0.05), _rep(3, 3.0)]
    flags = flag_reps(reps, pause_s=3.0, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                      tilt_threshold_deg=None)
    assert flags == (
        (), (RepFlag.PAUSE_MISSED,), (RepFlag.PAUSE_MISSED, RepFlag.BOUNCE), (),
    )


def test_flag_reps_bounce_only_when_meant_to_hold() -> None:
    holding = [_rep(0, 1.0), _rep(1, 0.1), _rep(2, 0.9)]  # median hold 0.9 s >= 0.8 s
    f = flag_reps(holding, pause_s=None, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                  tilt_threshold_deg=None)
    assert f == ((), (RepFlag.BOUNCE,), ())
    touch_and_go = [_rep(0, 0.1), _rep(1, 0.05), _rep(2, 0.3)]  # median 0.1 s: no pause meant
    f = flag_reps(touch_and_go, pause_s=None, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                  tilt_threshold_deg=None)
    assert f == ((), (), ())
    assert flag_reps([], pause_s=None, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                     tilt_threshold_deg=None) == ()


def test_flag_reps_tilt() -> None:
    reps = [_rep(0, 1.0, tilt_deg=3.0), _rep(1, 1.0, tilt_deg=9.5), _rep(2, 1.0, tilt_deg=None)]
    f = flag_reps(reps, pause_s=None, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                  tilt_threshold_deg=7.0)
    assert f == ((), (RepFlag.PELVIC_TILT,), ())
    f = flag_reps(reps, pause_s=None, bounce_hold_s=0.15, meant_to_hold_s=0.8,
                  tilt_threshold_deg=None)  # bar mount: no tilt flag
    assert f == ((), (), ())


def test_leg_stats_and_per_leg() -> None:
    left = SetResult(0, Leg.LEFT, (_rep(0, 1.0, con=1.0), _rep(1, 2.0, con=1.4)))
    right = SetResult(1, Leg.RIGHT, (_rep(0, 1.0, con=2.0),))
    left2 = SetResult(2, Leg.LEFT, (_rep(0, 3.0, con=1.2),))
    legs = per_leg([left, right, left2])
    assert legs[Leg.LEFT].reps == 3
    assert legs[Leg.LEFT].concentric_s == pytest.approx(1.2)
    assert legs[Leg.LEFT].hold_s == pytest.approx(2.0)
    assert legs[Leg.LEFT].hold_sd_s == pytest.approx(1.0)
    assert legs[Leg.RIGHT].reps == 1
    assert legs[Leg.RIGHT].concentric_sd_s == 0.0
    assert leg_stats(left.reps).concentric_sd_s == pytest.approx(math.sqrt(0.08))
    assert per_leg([]) == {}


# -- stage 2: stillness ------------------------------------------------------------------------


def _tracked(acc_g: FloatArray, gyro_dps: FloatArray | None = None) -> Any:
    """Run a VelocityTracker over grid samples (50 Hz) and return it."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    values = acc_g if gyro_dps is None else np.hstack([acc_g, gyro_dps])
    tr = VelocityTracker(EngineParams(), with_gyro=gyro_dps is not None)
    n = values.shape[0]
    tr.push(np.arange(n, dtype=np.int64), values, np.zeros(n, dtype=bool))
    tr.finish()
    return tr


def _tilted(angle_rad: FloatArray) -> FloatArray:
    """Gravity (1 g) seen by a sensor tipped by ``angle_rad`` about its x axis."""
    return np.column_stack([np.zeros_like(angle_rad), np.sin(angle_rad), np.cos(angle_rad)])


def test_orientation_sway_at_rest_is_still() -> None:
    """A held lockout sways (+-1.2 deg at 0.7 Hz): the gravity vector moves, its norm does not,
    and nothing goes up or down: still."""
    t = np.arange(int(40 * RATE)) * DT
    rng = np.random.default_rng(3)
    acc = _tilted(np.radians(1.2) * np.sin(2 * np.pi * 0.7 * t)) + rng.normal(0, 1e-3, (t.size, 3))
    tr = _tracked(acc)
    middle = slice(int(2 * RATE), int(38 * RATE))
    assert tr.act_a.data[middle].mean() > 1.5e-5  # the whole vector is busy ...
    assert tr._still_raw.data[middle].mean() > 0.95  # ... yet it is still
    assert np.abs(tr.speed.data).max() == 0.0


def test_pelvis_sway_in_a_held_lockout_is_still_with_gyro() -> None:
    """A lockout held on one leg sways the pelvis: +-0.3 deg at 1.2 Hz in pitch and +-0.25 deg
    at 0.8 Hz in roll, so the gyro reads up to 2.7 deg/s off its bias (0.3 deg/s) while
    nothing goes up or down. The hold is still throughout, and anchors the speed at zero."""
    n_rest, n_hold = int(10 * RATE), int(10 * RATE)
    t = np.arange(n_hold) * DT
    fade = np.clip(np.minimum(t, t[-1] - t), 0.0, 1.0)  # the sway builds up over 1 s
    rest = np.zeros(n_rest)
    pitch = np.concatenate([rest, fade * np.radians(0.3) * np.sin(2 * np.pi * 1.2 * t), rest])
    roll = np.concatenate([rest, fade * np.radians(0.25) * np.sin(2 * np.pi * 0.8 * t + 1), rest])
    rot = Rotation.from_euler("xy", np.column_stack([roll, pitch]))
    rng = np.random.default_rng(6)
    acc = rot.inv().apply([0.0, 0.0, 1.0]) + rng.normal(0, 1e-3, (pitch.size, 3))
    rates = np.column_stack([np.gradient(roll, DT), np.gradient(pitch, DT), np.zeros(pitch.size)])
    gyro = np.degrees(rates) + 0.3 + rng.normal(0, 0.05, rates.shape)
    assert np.linalg.norm(gyro - 0.3, axis=1).max() > 2.5  # over the old 2 deg/s level
    tr = _tracked(acc, gyro)
    hold = slice(n_rest + int(1 * RATE), n_rest + n_hold - int(1 * RATE))
    assert tr._still_raw.data[hold].mean() > 0.95
    assert np.abs(tr.speed.data).max() == 0.0


def _turn_and_hold(hold_s: float, push_g: float) -> tuple[FloatArray, slice, slice]:
    """Three curls seen by a sensor whose y axis reads 2 % high and z 3 % low (gravity's norm
    0.97 g at rest, 1.02 g turned 90 deg at the top): rest 3 s, turn 90 deg about x in 1 s,
    hold ``hold_s``, turn back in 1 s; then a rest in which the bar is pushed steadily up by
    ``push_g`` for 1.5 s. Returns the readings (g), the last top hold and the push."""
    turn = int(1 * RATE)
    ramp = _minjerk_speed(np.arange(turn) * DT, 0.0, 1.0, 1.0).cumsum() * DT
    cycle = np.concatenate([np.zeros(int(3 * RATE)), ramp, np.ones(int(hold_s * RATE)),
                            ramp[::-1]])
    angle = np.radians(90.0) * np.concatenate([cycle, cycle, cycle, np.zeros(int(8 * RATE))])
    push = np.zeros(angle.size)
    p0 = 3 * cycle.size + int(3 * RATE)
    push[p0 : p0 + int(1.5 * RATE)] = push_g
    acc = _tilted(angle) * (1 + push)[:, None] * np.array([1.0, 1.02, 0.97])
    acc += np.random.default_rng(7).normal(0, 1e-3, acc.shape)
    top = 2 * cycle.size + int(3 * RATE) + turn
    return (acc, slice(top + int(0.2 * RATE), top + int((hold_s - 0.2) * RATE)),
            slice(p0 + int(0.3 * RATE), p0 + int(1.2 * RATE)))


@pytest.mark.parametrize(("away_deg", "steady_deg", "top_still"),
                         [(30.0, 180.0, True), (180.0, 5.0, True), (180.0, 180.0, False)])
def test_a_hold_turned_away_is_still_despite_the_sensors_scale_errors(
    away_deg: float, steady_deg: float, top_still: bool
) -> None:
    """A curl's top, 90 deg from the rests around it, where the sensor's scale errors read
    gravity 5 % higher: the norm is 50 mg off the surrounding seconds' median, yet the bar
    is held. Turned more than ``still_level_away_deg`` from them, the level test compares the
    norm with the quiet moments pointing the same way; turned more than
    ``still_level_steady_deg``, with the level that bins pointing its way hold steady: the
    hold is still either way (both off: it is not). A steady 20 mg push in the rests' own
    orientation stays motion."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    acc, top, push = _turn_and_hold(0.8, 0.02)
    params = replace(EngineParams(), still_level_away_deg=away_deg,
                     still_level_steady_deg=steady_deg)
    tr = VelocityTracker(params, with_gyro=False)
    n = acc.shape[0]
    tr.push(np.arange(n, dtype=np.int64), acc, np.zeros(n, dtype=bool))
    tr.finish()
    still = tr._still_raw.data
    assert tr.dev.data[top].min() > 0.03 if not top_still else tr.dev.data[top].max() < 0.01
    assert bool(still[top].mean() > 0.9) == top_still
    assert not still[push].any()


def _hip_reps(y_scale: float, top_s: float = 0.9) -> tuple[FloatArray, slice, slice, slice]:
    """Four reps of a hip that turns 30 deg about x between the bottom (0.9 s) and the
    lockout (``top_s``), in 1.2 s each way, seen by a sensor whose y axis reads ``y_scale``
    and z 0.97: gravity's norm 0.970 g at the bottom and 0.993 g at the top (``y_scale``
    1.06). Returns the readings (g), the third rep's bottom and lockout (their middles), and
    its way up."""
    turn, rest, top = int(1.2 * RATE), int(0.9 * RATE), int(top_s * RATE)
    ramp = _minjerk_speed(np.arange(turn) * DT, 0.0, 1.0, 1.2).cumsum() * DT
    cycle = np.concatenate([np.zeros(rest), ramp, np.ones(top), ramp[::-1]])
    lead = np.zeros(int(3 * RATE))
    angle = np.radians(30.0) * np.concatenate([lead, np.tile(cycle, 4), lead])
    acc = _tilted(angle) * np.array([1.0, y_scale, 0.97])
    acc += np.random.default_rng(8).normal(0, 1e-3, acc.shape)
    c0 = lead.size + 2 * cycle.size
    top0 = c0 + rest + turn
    edge = min(10, top // 4)
    return (acc, slice(c0 + 10, c0 + rest - 10), slice(top0 + edge, top0 + top - edge),
            slice(c0 + rest + turn // 4, c0 + rest + 3 * turn // 4))


@pytest.mark.parametrize(("steady_deg", "top_still"), [(5.0, True), (180.0, False)])
def test_a_lockout_is_still_though_the_sensors_errors_read_gravity_higher_there(
    steady_deg: float, top_still: bool
) -> None:
    """A hip turns 30 deg between the bottom and the lockout, and the sensor's scale errors
    read gravity 23 mg higher at the top: the median of the surrounding seconds sits between
    the two rests' levels, and the held lockout is 17 mg off it. Turned more than
    ``still_level_steady_deg`` from them, the level test compares the norm with the level
    that bins pointing its way hold steady: both rests are still (off, and the rest level
    with it, which would then take every bin: the lockout is not). The turns between stay
    motion."""
    params = replace(EngineParams(), still_level_steady_deg=steady_deg,
                     still_level_rest_bins=EngineParams.still_level_rest_bins if top_still else 0)
    _assert_hip_rests(_hip_reps(1.06), params, top_still=top_still, off_g=0.015)


def _assert_hip_rests(reps: tuple[FloatArray, slice, slice, slice], params: EngineParams, *,
                      top_still: bool, off_g: float) -> None:
    """Run ``_hip_reps``'s readings through the tracker: the bottom is still, the way up is
    motion, and the lockout is still with its level found (under 2 mg), or is motion more
    than ``off_g`` off the reference it was given."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    acc, bottom, top, up = reps
    tr = VelocityTracker(params, with_gyro=False)
    n = acc.shape[0]
    tr.push(np.arange(n, dtype=np.int64), acc, np.zeros(n, dtype=bool))
    tr.finish()
    still, dev = tr._still_raw.data, tr.dev.data
    assert still[bottom].all()
    if top_still:
        assert dev[top].max() < 0.002
        assert still[top].all()
    else:
        assert dev[top].min() > off_g
        assert not still[top].any()
    assert not still[up].any()


@pytest.mark.parametrize(("back_s", "top_still"), [(12.0, True), (2.0, False)])
def test_a_short_lockout_takes_the_level_of_the_sets_earlier_ones(
    back_s: float, top_still: bool
) -> None:
    """As above, but the lockouts last 0.5 s: two bins of 0.25 s, and a steady level needs
    three. Looking 12 s back (``still_level_steady_s``), the set's earlier lockouts point
    the same way and hold the same level: the third rep's lockout is still. Looking only
    2 s back, it is compared with the surrounding seconds' median, 22 mg under it, and
    reads as motion. The bottoms are still and the way up is motion either way."""
    _assert_hip_rests(_hip_reps(1.06, top_s=0.5),
                      replace(EngineParams(), still_level_steady_s=back_s),
                      top_still=top_still, off_g=0.02)


def test_the_steady_level_is_the_most_bins_that_agree() -> None:
    """Known answers of ``kernels.level_deviation_steady`` on nine 1-sample bins: three at
    rest pointing along z (0.970 g), two turning, four at rest 30 deg away (0.993, 0.9935,
    0.9925 g) of which one reads 0.9990 g. At a bin of the second rest, the reference is
    the median of the three that agree within 2 mg. Turned 13.3 deg from the mean direction,
    under a 15 deg limit, the second rest keeps ``dev``, and the first (16.7 deg) gets its
    own level. With four bins needed, no bin has a steady level and ``dev`` stays."""
    from sensor.engine import kernels  # noqa: PLC0415 - stage under test

    a = np.radians(30.0)
    dirs = [(0.0, 0.0, 1.0)] * 3 + [(0.0, np.sin(a / 3), np.cos(a / 3)),
                                    (0.0, np.sin(2 * a / 3), np.cos(2 * a / 3))]
    dirs += [(0.0, np.sin(a), np.cos(a))] * 4
    med = np.array([0.970, 0.970, 0.970, 0.975, 0.985, 0.993, 0.9935, 0.999, 0.9925])
    shape = np.column_stack([np.array(dirs), np.zeros(9), np.ones(9)])
    shape[3:5, 4] = np.cos(np.radians(5.0))  # (turning: not a quiet bin)
    norm = np.array([0.970, 0.971, 0.970, 0.975, 0.985, 0.995, 0.990, 0.999, 0.993])

    def run(cos_away: float, min_bins: int) -> FloatArray:
        dev = np.full(9, -1.0)
        kernels.level_deviation_steady(dev, norm, med, shape, 0, 1, 8, 8, cos_away,
                                       np.cos(np.radians(10.0)), np.cos(np.radians(1.25)),
                                       np.cos(np.radians(1.25)), 0.002, min_bins)
        return dev

    dev = run(np.cos(np.radians(5.0)), 3)
    ref = 0.993  # median of 0.9925, 0.993, 0.9935 (0.999 is 6 mg off)
    np.testing.assert_allclose(dev[5:], np.abs(norm[5:] - ref), atol=1e-12)
    assert (dev[3:5] == -1.0).all()  # nothing near them holds a level
    # the bins' mean direction is 16.7 deg from the first rest's and 13.3 from the second's
    dev = run(np.cos(np.radians(15.0)), 3)
    np.testing.assert_allclose(dev[:3], [0.0, 0.001, 0.0], atol=1e-12)
    assert (dev[3:] == -1.0).all()
    assert (run(np.cos(np.radians(5.0)), 5) == -1.0).all()


def test_the_steady_level_looks_back_to_the_sets_earlier_lockouts() -> None:
    """Known answers of ``kernels.level_deviation_steady``'s look-back on 1-sample bins: an
    earlier lockout (three bins 30 deg from z, 0.9895-0.9905 g), twelve bottom bins along z
    (0.970 g), a turning bin, a short lockout of two bins (0.9898 and 0.9902 g) and eight
    more bottom bins. Two bins cannot make the three a steady level needs, so looking only
    8 bins back the short lockout keeps ``dev``; looking 16 back, the lockout bins agree
    within 1 mg and their median is its reference: 0.9900 g for its first bin (five bins),
    0.9901 g for its second (four: the first of the earlier lockout is 17 bins back). The
    bins more than 8 back must turn less than the stricter limit: the earlier lockout
    turning 0.75 deg across each bin counts under a 1.25 deg limit, not under 0.5 deg (a
    rep's braking, which passes the same levels each rep)."""
    from sensor.engine import kernels  # noqa: PLC0415 - stage under test

    a = np.radians(30.0)
    top, z = (0.0, np.sin(a), np.cos(a)), (0.0, 0.0, 1.0)
    dirs = [top] * 3 + [z] * 12 + [(0.0, np.sin(a / 2), np.cos(a / 2))] + [top] * 2 + [z] * 8
    med = np.array([0.9895, 0.9905, 0.9900] + [0.970] * 12 + [0.980, 0.9898, 0.9902]
                   + [0.970] * 8)
    n = med.size
    shape = np.column_stack([np.array(dirs), np.zeros(n), np.ones(n)])
    shape[15, 4] = np.cos(np.radians(5.0))  # (turning: not a quiet bin)
    norm = med.copy()
    norm[16] = 0.9930  # a sample reading 3 mg over its lockout's level

    def run(back: int, still_deg: float = 1.25) -> FloatArray:
        dev = np.full(n, -1.0)
        kernels.level_deviation_steady(dev, norm, med, shape, 0, 1, 8, back,
                                       np.cos(np.radians(5.0)), np.cos(np.radians(10.0)),
                                       np.cos(np.radians(1.25)), np.cos(np.radians(still_deg)),
                                       0.002, 3)
        return dev

    assert (run(8)[16:18] == -1.0).all()
    np.testing.assert_allclose(run(16)[16:18], [0.0030, 0.0001], atol=1e-12)
    shape[:3, 4] = np.cos(np.radians(0.75))  # the earlier lockout turning a little
    np.testing.assert_allclose(run(16)[16:18], [0.0030, 0.0001], atol=1e-12)
    assert (run(16, still_deg=0.5)[16:18] == -1.0).all()


def test_the_rest_level_is_the_most_bins_that_agree_over_the_last_minute() -> None:
    """Known answers of ``kernels.level_deviation_rest`` on 1-sample bins along z: 20 rest
    bins at 1.000 g (one reading 1.010), then 12 bins of a slow move at 0.985 g, and the
    bin under test, a hold at 1.0005 g, with 4 more move bins after it. The surrounding
    bins' median is the move's 0.985 g (the hold reads 15.5 mg off); the rest level is the
    mean of the 19 bins at 1.000 g and the hold's own, 1.000025 g (0.475 mg off). Counted
    back only 10 bins, or needing 21 bins, there is no rest level and ``dev`` stays; nor
    for a bin turned 30 deg from the others' mean direction."""
    from sensor.engine import kernels  # noqa: PLC0415 - stage under test

    med = np.concatenate([np.full(20, 1.0), np.full(12, 0.985), [1.0005], np.full(4, 0.985)])
    med[5] = 1.010
    shape = np.column_stack([np.zeros((med.size, 2)), np.ones(med.size), np.zeros(med.size),
                             np.ones(med.size)])
    j = 32  # the hold

    def run(back: int, min_bins: int, sh: FloatArray = shape) -> float:
        dev = kernels.level_deviation(med, med, j, j + 1, 1, 8)
        kernels.level_deviation_rest(dev, np.array([-1.0, np.nan]), med, med, sh, j, 1, 8,
                                     back, np.cos(np.radians(5.0)), np.cos(np.radians(10.0)),
                                     np.cos(np.radians(1.25)), 0.002, min_bins)
        return float(dev[0])

    assert abs(kernels.level_deviation(med, med, j, j + 1, 1, 8)[0] - 0.0155) < 1e-9
    assert abs(run(240, 12) - 0.000475) < 1e-9  # (the reference is computed at j = 32)
    assert abs(run(10, 12) - 0.0155) < 1e-9
    assert abs(run(240, 20) - 0.000475) < 1e-9
    assert abs(run(240, 21) - 0.0155) < 1e-9
    turned = shape.copy()
    turned[j, 1:3] = np.sin(np.radians(30.0)), np.cos(np.radians(30.0))
    assert abs(run(240, 12, turned) - 0.0155) < 1e-9


def _slow_descents(rest_level: bool) -> tuple[FloatArray, list[slice], list[slice]]:
    """Six reps of a bar that does not turn, read by a tracker with the rest level on or
    off: 20 s at rest, then each rep a 0.7 s rise, a 1 s hold, a slow descent that speeds
    up at 12 mg for 1.6 s and brakes at 24 mg for 0.8 s, and 0.4 s at the bottom. Returns
    the stillness, and the middle of each hold and the first second of each descent (from
    0.2 s in), for the third to fifth reps."""
    from scipy.ndimage import uniform_filter1d  # noqa: PLC0415 - this test only

    from sensor.engine.velocity import GRAVITY_MPS2, VelocityTracker  # noqa: PLC0415

    rise_s, hold_s, speed_up_s, brake_s, bottom_s, lead_s = 0.7, 1.0, 1.6, 0.8, 0.4, 20.0
    cycle_s = rise_s + hold_s + speed_up_s + brake_s + bottom_s
    t = np.arange(int((lead_s + 6 * cycle_s + 5) * RATE)) * DT
    up = np.zeros_like(t)
    down_g = np.zeros_like(t)
    holds, descents = [], []
    for k in range(6):
        t0 = lead_s + k * cycle_s
        up += _minjerk_speed(t, t0, 0.226, rise_s)  # as far as the descent goes down
        td = t0 + rise_s + hold_s
        down_g[(t >= td) & (t < td + speed_up_s)] = -0.012
        down_g[(t >= td + speed_up_s) & (t < td + speed_up_s + brake_s)] = 0.024
        i_lock, i_desc = round((t0 + rise_s) * RATE), round(td * RATE)
        if 2 <= k <= 4:
            holds.append(slice(i_lock + 15, i_desc - 10))
            descents.append(slice(i_desc + 10, i_desc + round(RATE)))
    vertical_g = np.gradient(up, DT) / GRAVITY_MPS2 + uniform_filter1d(down_g, int(0.3 * RATE))
    acc = np.column_stack([np.zeros_like(t), np.zeros_like(t), 1.0 + vertical_g])
    acc += np.random.default_rng(3).normal(0, 1e-3, acc.shape)
    params = replace(EngineParams(), still_level_rest_bins=12 if rest_level else 0)
    tr = VelocityTracker(params, with_gyro=False)
    n = acc.shape[0]
    tr.push(np.arange(n, dtype=np.int64), acc, np.zeros(n, dtype=bool))
    tr.finish()
    return tr._still_raw.data, holds, descents


@pytest.mark.parametrize("rest_level", [True, False])
def test_a_slow_descent_is_motion_though_the_seconds_around_it_read_low(
    rest_level: bool,
) -> None:
    """A bar's slow descent spends longer speeding up (12 mg) than braking (24 mg), so the
    median of the seconds around it reads 4-5 mg low, and its first second is only 7-9 mg
    off that: it read as rest, and the speed was held at zero while the bar went down.
    Against the level the bar's rests hold (``still_level_rest_bins``) it is 11 mg or more
    off: motion. The holds stay still either way."""
    still, holds, descents = _slow_descents(rest_level)
    assert all(still[h].all() for h in holds)
    if rest_level:
        assert not any(still[d].any() for d in descents)
    else:
        assert all(still[d].mean() > 0.5 for d in descents)


def test_steady_turn_with_gyro_is_not_still() -> None:
    """Turning at a steady 5 deg/s has no acceleration and no gyro variance; the gyro's level
    (against the bias learnt at rest, 0.3 deg/s) says it moves."""
    n_rest, n_turn = int(10 * RATE), int(10 * RATE)
    rate_dps = np.concatenate([np.zeros(n_rest), np.full(n_turn, 5.0), np.zeros(n_rest)])
    angle = np.radians(np.cumsum(rate_dps) * DT)
    rng = np.random.default_rng(4)
    acc = _tilted(angle) + rng.normal(0, 1e-3, (angle.size, 3))
    gyro = np.column_stack([rate_dps + 0.3, np.full(angle.size, 0.3), np.full(angle.size, 0.3)])
    gyro = gyro + rng.normal(0, 0.05, gyro.shape)
    still = _tracked(acc, gyro)._still_raw.data
    rest = slice(int(1 * RATE), n_rest - int(1 * RATE))
    turn = slice(n_rest + int(1 * RATE), n_rest + n_turn - int(1 * RATE))
    assert still[rest].mean() > 0.95
    assert not still[turn].any()


def test_slow_turn_without_gyro_is_not_still() -> None:
    """A hip rising slowly turns the pelvis at ~10 deg/s with almost no acceleration; with no
    gyro, the turn of the gravity vector across the window says it moves."""
    n_rest, n_turn = int(10 * RATE), int(4 * RATE)
    rate_dps = np.concatenate([np.zeros(n_rest), np.full(n_turn, 10.0), np.zeros(n_rest)])
    angle = np.radians(np.cumsum(rate_dps) * DT)
    rng = np.random.default_rng(5)
    still = _tracked(_tilted(angle) + rng.normal(0, 1e-3, (angle.size, 3)))._still_raw.data
    turn = slice(n_rest + int(0.5 * RATE), n_rest + n_turn - int(0.5 * RATE))
    assert still[int(1 * RATE) : n_rest - int(1 * RATE)].mean() > 0.95
    assert not still[turn].any()


def _minjerk_speed(t: FloatArray, t0: float, dist_m: float, dur_s: float) -> FloatArray:
    """Speed (m/s) of a minimum-jerk move of ``dist_m`` starting at ``t0`` (s)."""
    u = np.clip((t - t0) / dur_s, 0.0, 1.0)
    return dist_m / dur_s * 30 * u**2 * (1 - u) ** 2


def _bar_tracked(speed_mps: FloatArray, axis: list[float], seed: int, **params: Any) -> Any:
    """A bar (no gyro, no turn) moving at vertical ``speed_mps`` (m/s, one sample per grid
    step), its sensor's up axis along ``axis``, with 0.5 mg of noise: the velocity stage
    run over it with ``params`` (EngineParams fields) changed."""
    accel = np.gradient(speed_mps, DT)
    u = np.array(axis) / np.linalg.norm(axis)
    acc = u[None, :] * (1 + accel / GRAVITY_MPS2)[:, None]
    acc += np.random.default_rng(seed).normal(0, 5e-4, acc.shape)
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    tr = VelocityTracker(replace(EngineParams(), **params), with_gyro=False)
    n = speed_mps.size
    tr.push(np.arange(n, dtype=np.int64), acc, np.zeros(n, dtype=bool))
    tr.finish()
    return tr


@pytest.mark.parametrize(("edge_s", "worst_s", "best_s"), [(0.4, 0.0, 0.02), (0.0, 0.03, 0.06)])
def test_a_slow_descent_starts_and_ends_where_its_acceleration_does(
    edge_s: float, worst_s: float, best_s: float
) -> None:
    """A 0.3 m rise in 1.2 s, a 1 s hold, and a 2.6 s descent: the descent's first and last
    0.2 s accelerate by under 10 mg, which the stillness test reads as rest. With the
    motion's edges reaching into the rests while its acceleration does, the speed crosses
    the spec's 5 % of the peak within a sample of the truth; without (edge 0), ~0.045 s late
    at the start and early at the end."""
    t = np.arange(int(14 * RATE)) * DT
    rise, fall = (3.0, 0.3, 1.2), (5.2, -0.3, 2.6)
    fine = np.arange(0.0, 14.0, 1e-4)
    v_fine = _minjerk_speed(fine, *rise) + _minjerk_speed(fine, *fall)
    thr = 0.05 * v_fine.max()
    down = np.flatnonzero(v_fine <= -thr)
    tr = _bar_tracked(_minjerk_speed(t, *rise) + _minjerk_speed(t, *fall), [0.3, -0.2, 0.93],
                      0, motion_edge_s=edge_s)
    got = np.flatnonzero(tr.speed.data <= -thr)
    late = t[got[0]] - fine[down[0]]
    early = fine[down[-1]] - t[got[-1]]
    assert worst_s <= late <= best_s
    assert worst_s <= early <= best_s


def _trapezoid_speed(t: FloatArray, t0: float, peak_mps: float, ramp_s: float,
                     cruise_s: float) -> FloatArray:
    """Speed (m/s): smooth ramps (``ramp_s``) to ``peak_mps`` and back, cruising between."""
    def ramp(x: FloatArray) -> FloatArray:
        u = np.clip(x / ramp_s, 0.0, 1.0)
        return u**2 * (3 - 2 * u)  # smoothstep

    return peak_mps * (ramp(t - t0) - ramp(t - t0 - ramp_s - cruise_s))


@pytest.mark.parametrize(
    ("recent_s", "fraction", "anchored"), [(0.6, 0.7, False), (1e6, 0.4, True)]
)
def test_a_steady_descent_is_not_a_rest(recent_s: float, fraction: float, anchored: bool) -> None:
    """A bar (no gyro, no turn) rises fast (0.64 m/s peak), holds 0.3 s, and descends at a
    steady 0.2 m/s for 1.5 s: the cruise has no acceleration, so it looks still. The speed
    there is as high as it has been for a while, so it is no rest: the speed stays at
    -0.2 m/s. Judged against the whole motion's peak instead (the rule before), 0.2 m/s is
    small enough to be drift, and the cruise is wrongly anchored at zero. Its still run is
    longer than ``zupt_settled_s``, but what follows brakes: not a rest either."""
    t = np.arange(int(12 * RATE)) * DT
    v = (_minjerk_speed(t, 3.0, 0.3, 0.7)
         + _trapezoid_speed(t, 4.0, -0.2, 0.4, 1.5))
    tr = _bar_tracked(v, [0.1, 0.2, 0.97], 1, zupt_recent_s=recent_s,
                      zupt_peak_fraction=fraction)
    cruise = slice(int(4.8 * RATE), int(5.7 * RATE))
    assert tr._still_raw.data[cruise].any()  # the cruise looks still at times
    assert tr.long_still.data[cruise].all()  # (one run, 1.3 s: over zupt_settled_s)
    got = tr.speed.data[cruise]
    if anchored:
        assert np.abs(got).min() < 0.02
    else:
        assert np.abs(got + 0.2).max() < 0.03


def _lopsided_speed(t: FloatArray, t0: float, peak_mps: float, up_s: float,
                    down_s: float) -> FloatArray:
    """Speed (m/s): a smooth ramp to ``peak_mps`` over ``up_s``, then back to zero over
    ``down_s``."""
    def ramp(x: FloatArray) -> FloatArray:
        u = np.clip(x, 0.0, 1.0)
        return u**2 * (3 - 2 * u)  # smoothstep

    return peak_mps * (ramp((t - t0) / up_s) - ramp((t - t0 - up_s) / down_s))


@pytest.mark.parametrize(("settled_s", "anchored"), [(0.6, True), (0.0, False)])
def test_a_rest_after_a_descent_whose_start_read_as_rest_anchors_the_speed(
    settled_s: float, anchored: bool
) -> None:
    """A bar (no gyro) rises 0.2 m, holds, and descends 0.18 m: 2.5 s speeding up at under
    8 mg, which reads as rest, then 0.5 s braking at up to 37 mg. The braking alone reads as
    a rise (the speed it brakes from was never seen), and the 1.5 s rest after it looks like
    a steady move's cruise at +0.1 m/s. What follows decides: the next rise speeds up the
    same way, where a steady move would brake, so the run was a rest and the speed is zero
    there, and the next rise reads its true 0.375 m/s peak. With the rule off
    (``zupt_settled_s`` 0) the speed runs on through the rest into the rise."""
    t = np.arange(int(16 * RATE)) * DT
    v = (_minjerk_speed(t, 2.0, 0.2, 1.0) + _lopsided_speed(t, 4.5, -0.12, 2.5, 0.5)
         + _minjerk_speed(t, 9.0, 0.2, 1.0))
    tr = _bar_tracked(v, [0.2, -0.1, 0.97], 2, zupt_settled_s=settled_s)
    starts = slice(int(4.6 * RATE), int(6.8 * RATE))
    assert tr._still_raw.data[starts].all()  # the descent's start reads as rest
    rest = slice(int(7.6 * RATE), int(8.9 * RATE))
    peak = float(tr.speed.data[int(9 * RATE) : int(10.2 * RATE)].max())
    if anchored:
        assert np.abs(tr.speed.data[rest]).max() < 0.005
        assert abs(peak - v.max()) < 0.01
    else:
        assert tr.speed.data[rest].min() > 0.04
        assert peak - v.max() > 0.015


def _block_due_reference(tr: Any) -> bool:
    """The rule, recomputed from the stages' progress (as the tracker did at every push):
    the samples so far can complete the next noise block."""
    n_lp = max(tr.acc_lp.n, tr.raw.n - tr.h)
    b, k = tr.level_bin, tr.level_bins
    n_act = max(tr.act_a.n, min(n_lp - tr.wh, (n_lp // b - k) * b))
    done = tr._still_raw.n
    return bool(n_act >= ((tr.k0 + done) // tr.block + 1) * tr.block - tr.k0)


@pytest.mark.parametrize(("k_first", "sizes"), [(0, [1]), (37, [1]), (1234, [3, 1, 7]), (5, [61])])
def test_tracker_block_due_count_matches_the_rule(k_first: int, sizes: list[int]) -> None:
    """The tracker keeps the raw count at which the next noise block is due; it advances at
    exactly the pushes where the rule, recomputed at every push, says so."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    class Recorded(VelocityTracker):
        def __init__(self) -> None:
            super().__init__(EngineParams(), with_gyro=False)
            self.advanced_at: list[int] = []

        def _advance(self, final: bool) -> None:
            self.advanced_at.append(self.raw.n)
            super()._advance(final)

    class ByRule(Recorded):
        def push(self, k: NDArray[np.int64], values: FloatArray, gap: NDArray[np.bool_]) -> None:
            if self.k0 is None:
                self.k0 = int(k[0])
            self.raw.append(values)
            self.gap.append(gap)
            if _block_due_reference(self):
                self._advance(final=False)

    n = int(75 * RATE)
    rng = np.random.default_rng(11)
    values = np.tile([0.0, 0.0, 1.0], (n, 1)) + rng.normal(0, 1e-3, (n, 3))
    cached, by_rule = Recorded(), ByRule()
    i = j = 0
    while i < n:
        m = min(sizes[j % len(sizes)], n - i)
        k = np.arange(k_first + i, k_first + i + m, dtype=np.int64)
        for tr in (cached, by_rule):
            tr.push(k, values[i : i + m], np.zeros(m, dtype=bool))
        i, j = i + m, j + 1
    assert len(by_rule.advanced_at) >= 3  # 75 s: at least three 20 s noise blocks
    assert cached.advanced_at == by_rule.advanced_at
    assert np.array_equal(cached.speed.data, by_rule.speed.data)


def test_tracker_written_in_place_is_the_tracker_pushed() -> None:
    """Grid samples written into ``grid_buffers`` (growing them as needed) and taken in by
    ``grid_written`` give the tracker that ``push`` gives."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    n = int(70 * RATE)
    t = np.arange(n) * DT
    rng = np.random.default_rng(12)
    lift = np.where((t % 7.0) < 2.0, 0.05 * np.sin(np.pi * (t % 7.0)), 0.0)  # a rep every 7 s
    acc = np.column_stack([np.zeros(n), np.zeros(n), 1.0 + lift]) + rng.normal(0, 1e-3, (n, 3))
    gap = np.zeros(n, dtype=bool)
    gap[2000:2030] = True
    pushed = VelocityTracker(EngineParams(), with_gyro=False)
    written = VelocityTracker(EngineParams(), with_gyro=False)
    k0 = 321
    for i in range(0, n, 250):  # blocks bigger than the buffers' first room now and then
        j = min(n, i + 250)
        k = np.arange(k0 + i, k0 + j, dtype=np.int64)
        pushed.push(k, acc[i:j], gap[i:j])
        rows, flags, at = written.grid_buffers(j - i)
        rows[at : at + j - i] = acc[i:j]
        flags[at : at + j - i] = gap[i:j]
        written.grid_written(k0 + i, j - i)
    pushed.finish()
    written.finish()
    assert written.k0 == k0
    assert pushed.n_final == written.n_final == n
    assert np.array_equal(pushed.speed.data, written.speed.data)
    assert np.array_equal(pushed.still.data, written.still.data)
    assert np.abs(pushed.speed.data).max() > 0.05  # it saw the moves


def _swinging_set(reps: int, swing_g: float) -> tuple[Samples, FloatArray]:
    """A bar lifted ``reps`` times (0.35 m up in 0.8 s, down in 1.0 s, 2.6 s apart, no
    rest) while it sways sideways at 0.7 Hz with ``swing_g`` of acceleration, seen at 100 Hz
    by a sensor that does not turn (the gyro reads noise only); rests of 5 s before and
    after. Returns the samples and the true vertical speed (m/s) at each."""
    rate = 100.0
    t = np.arange(0.0, 5 + reps * 2.6 + 6, 1 / rate)
    v = np.zeros_like(t)
    for r in range(reps):
        v += _minjerk_speed(t, 5 + r * 2.6, 0.35, 0.8)
        v += _minjerk_speed(t, 5 + r * 2.6 + 1.1, -0.35, 1.0)
    ramp = np.clip(np.minimum(t - 4.5, 5.5 + reps * 2.6 - t), 0.0, 1.0)  # the sway's
    side = swing_g * ramp * np.sin(2 * np.pi * 0.7 * t)
    acc = np.column_stack([side, np.zeros_like(t), 1.0 + np.gradient(v, t) / 9.80665])
    rng = np.random.default_rng(3)
    acc += rng.normal(0.0, 0.002, acc.shape)
    return Samples(t, acc, rng.normal(0.0, 0.1, acc.shape)), v


def test_a_sideways_sway_does_not_read_as_vertical_speed_with_a_gyro() -> None:
    """0.3 g of sway through a set with no rest adds up to 22 mg to the acceleration's norm
    (its second-order part), all of it read as "up" if the norm is integrated: 0.1-0.2 m/s
    of speed error mid-set. With a gyro the engine measures along gravity's direction,
    carried through the motion by the gyro, and the speed stays within 4 cm/s of the
    truth; without one it still integrates the norm."""
    samples, v = _swinging_set(8, 0.3)
    errors = []
    for gyro in (samples.gyro_dps, None):
        engine = Engine()
        engine.feed(Samples(samples.t_s, samples.acc_g, gyro))
        engine.finish()
        tr = engine.trace()
        errors.append(np.abs(np.interp(samples.t_s, tr.t_s, tr.speed_mps) - v).max())
    assert errors[0] < 0.04
    assert errors[1] > 0.08


def test_the_gyro_bias_for_a_motion_is_the_one_learnt_by_its_end() -> None:
    """The rates that carry gravity's direction through a motion come less the gyro bias
    learnt in the 20 s noise blocks that end by the motion's end (so how the stream was
    chunked cannot change which one): none before the first block's end, then the bias
    measured at rest (0.5 deg/s about x here)."""
    from sensor.engine.velocity import VelocityTracker  # noqa: PLC0415 - stage under test

    n = int(45 * RATE)
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    gyro = np.tile([0.5, 0.0, 0.0], (n, 1))
    tr = VelocityTracker(EngineParams(), with_gyro=True)
    tr.push(np.arange(n, dtype=np.int64), np.hstack([acc, gyro]), np.zeros(n, dtype=bool))
    tr.finish()
    np.testing.assert_array_equal(tr._bias_by(int(12 * RATE)), np.zeros(3))
    np.testing.assert_allclose(tr._bias_by(int(24 * RATE)), [0.5, 0.0, 0.0])
