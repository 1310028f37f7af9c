"""The low-latency lockout detector on synthetic reps with known lockout times."""

from __future__ import annotations

import numpy as np
import pytest

from sensor.engine import Engine
from sensor.engine.lockout import LockoutDetector
from sensor.engine.resample import GridBlock
from sensor.events import LockoutReached
from sensor.samples import Samples
from sensor.summary import Leg, Phase

RATE_HZ = 50.0
G = 9.80665


def minjerk_speed(n: int, dist_m: float, dur_s: float) -> np.ndarray:
    tau = np.linspace(0, 1, n)
    return dist_m / dur_s * 30 * tau**2 * (1 - tau) ** 2


def synthetic_session(  # noqa: PLR0917 - positional knobs of a test fixture, all defaulted
    reps: int = 5,
    rise_m: float = 0.25,
    seed: int = 0,
    k0: int = 1000,
    rise_s: float = 1.0,
    hold_s: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Grid (k, values acc+gyro) of ``reps`` bottom-start reps; the true lockout times (s).

    The sensor is tilted (gravity not on one axis) and reads a small bias and noise.
    """
    rng = np.random.default_rng(seed)
    dt = 1 / RATE_HZ
    speed: list[np.ndarray] = [np.zeros(round(3 / dt))]
    lockouts: list[float] = []
    for _ in range(reps):
        n = round(rise_s / dt) + 1
        v = minjerk_speed(n, rise_m, rise_s)
        start = sum(x.size for x in speed)
        above = np.flatnonzero(v >= 0.05 * v.max())
        lockouts.append((k0 + start + above[-1] + 0.5) * dt)  # between the grid points
        speed += [v, np.zeros(round(hold_s / dt)), -minjerk_speed(round(1.5 / dt) + 1, rise_m, 1.5),
                  np.zeros(round(1.2 / dt))]
    speed.append(np.zeros(round(4 / dt)))
    v = np.concatenate(speed)
    a = np.gradient(v, dt)
    tilt = np.array([0.3, -0.2, 0.93])
    tilt /= np.linalg.norm(tilt)
    acc = tilt[None, :] * (1 + a / G)[:, None] + np.array([0.004, -0.003, 0.002])
    acc += rng.normal(0, 0.002, acc.shape)
    gyro = rng.normal(0, 0.2, acc.shape)
    k = np.arange(k0, k0 + v.size, dtype=np.int64)
    return k, np.hstack([acc, gyro]), lockouts


def feed(det: LockoutDetector, k: np.ndarray, values: np.ndarray, size: int
         ) -> list[tuple[float, LockoutReached]]:
    """Feed in blocks of ``size``; each event with the time of the last grid point fed."""
    out = []
    for i in range(0, k.size, size):
        kk = k[i : i + size]
        block = GridBlock(kk, values[i : i + size], np.zeros(kk.size, dtype=bool))
        for ev in det.push(block, leg_of_set=lambda j: Leg.RIGHT if j % 2 else Leg.LEFT):
            out.append((float(kk[-1] / RATE_HZ), ev))
    return out


def test_one_lockout_per_rep_soon_after_the_true_lockout() -> None:
    k, values, truth = synthetic_session()
    events = feed(LockoutDetector(RATE_HZ), k, values, 1)
    assert len(events) == len(truth)
    for (emitted_s, ev), t_true in zip(events, truth, strict=True):
        assert 0.0 <= emitted_s - t_true <= 0.15
        assert ev.t_s == pytest.approx(t_true, abs=0.06)
    assert [e.rep_index for _, e in events] == list(range(len(truth)))
    assert {(e.set_index, e.leg) for _, e in events} == {(0, Leg.LEFT)}


def test_still_sensor_gives_no_lockout() -> None:
    k, values, _ = synthetic_session(reps=0)
    assert feed(LockoutDetector(RATE_HZ), k, values, 7) == []


def test_small_moves_are_not_reps() -> None:
    k, values, _ = synthetic_session(reps=3, rise_m=0.03)
    assert feed(LockoutDetector(RATE_HZ), k, values, 10) == []


def test_chunking_does_not_change_the_events() -> None:
    k, values, _ = synthetic_session(seed=3)
    ones = [e for _, e in feed(LockoutDetector(RATE_HZ), k, values, 1)]
    big = [e for _, e in feed(LockoutDetector(RATE_HZ), k, values, 333)]
    assert ones == big
    assert len(ones) == 5


def test_hold_timer_and_live_tempo() -> None:
    k, values, truth = synthetic_session(reps=2)
    det = LockoutDetector(RATE_HZ)
    stop = int(np.searchsorted(k / RATE_HZ, truth[0] + 0.5))
    feed(det, k[:stop], values[:stop], 5)
    assert det.phase is Phase.HOLD
    assert det.lockout_t_s == pytest.approx(truth[0], abs=0.06)
    assert det.tempo.concentric_s == pytest.approx(0.9, abs=0.15)  # 5 %-to-5 % of a 1 s rise
    feed(det, k[stop:], values[stop:], 5)
    tempo = det.tempo
    assert tempo.hold_s == pytest.approx(1.1, abs=0.2)
    assert tempo.eccentric_s == pytest.approx(1.35, abs=0.25)


def test_engine_feed_returns_lockouts_for_a_new_set_after_rest() -> None:
    k, values, truth = synthetic_session(reps=3)
    k2, values2, truth2 = synthetic_session(reps=3, k0=int(k[-1]) + 1 + round(12 * RATE_HZ))
    rest = np.arange(k[-1] + 1, k2[0])
    still = np.repeat(values[-1:], rest.size, axis=0)
    kk = np.concatenate([k, rest, k2])
    vv = np.vstack([values, still, values2])
    samples = Samples(kk / RATE_HZ, vv[:, :3], vv[:, 3:])
    engine = Engine()
    events = [e for c in samples.chunks(10) for e in engine.feed(c)]
    lock = [e for e in events if isinstance(e, LockoutReached)]
    assert [(e.set_index, e.rep_index, e.leg) for e in lock] == [
        (0, 0, Leg.LEFT), (0, 1, Leg.LEFT), (0, 2, Leg.LEFT),
        (1, 0, Leg.RIGHT), (1, 1, Leg.RIGHT), (1, 2, Leg.RIGHT),
    ]
    assert np.allclose([e.t_s for e in lock], truth + truth2, atol=0.06)


def test_slow_rise_is_not_rest_halfway() -> None:
    """A 2 s rise has near-constant acceleration (little variance) for a while; only the
    level of |a| tells it from rest, which must not reset the speed in the middle of the rise."""
    k, values, truth = synthetic_session(reps=4, rise_m=0.23, rise_s=2.0)
    events = feed(LockoutDetector(RATE_HZ), k, values, 4)
    assert len(events) == len(truth)
    for (emitted_s, ev), t_true in zip(events, truth, strict=True):
        assert ev.t_s == pytest.approx(t_true, abs=0.15)  # the 5 % tail of a slow rise is long
        assert emitted_s - t_true <= 0.25


def test_standing_up_is_not_a_rep() -> None:
    """A 0.55 m rise (standing up from the floor) is too big for a hip thrust."""
    k, values, _ = synthetic_session(reps=1, rise_m=0.55, rise_s=1.6, hold_s=3.0)
    assert feed(LockoutDetector(RATE_HZ), k, values, 9) == []


def test_pause_reps_stay_in_one_set() -> None:
    """3 s holds put more than ``set_gap_s`` between lockouts, but the reps are one set."""
    k, values, truth = synthetic_session(reps=5, hold_s=4.5)
    ev = [e for _, e in feed(LockoutDetector(RATE_HZ), k, values, 25)]
    assert np.diff(truth).min() > LockoutDetector(RATE_HZ).p.set_gap_s
    assert [(e.set_index, e.rep_index) for e in ev] == [(0, i) for i in range(5)]


@pytest.mark.parametrize("size", [2, 13, 150, 4000])
def test_any_chunking_gives_the_same_events(size: int) -> None:
    k, values, _ = synthetic_session(seed=5, rise_s=1.4)
    ones = [e for _, e in feed(LockoutDetector(RATE_HZ), k, values, 1)]
    assert len(ones) == 5
    assert [e for _, e in feed(LockoutDetector(RATE_HZ), k, values, size)] == ones


def test_the_scale_is_the_median_of_the_paired_reps() -> None:
    """A rise becomes part of the scale once its descent matches it; after ``confirm_reps``
    of them the scale is their median rise and peak speed (min-jerk: 1.875 x mean speed)."""
    k, values, _ = synthetic_session(reps=5, rise_m=0.25)
    det = LockoutDetector(RATE_HZ)
    stop = int(np.searchsorted(k, k[0] + round(3 / 0.02) + 2 * round(4.7 / 0.02)))
    feed(det, k[:stop], values[:stop], 8)  # two reps with their descents
    assert det.scale is None
    feed(det, k[stop:], values[stop:], 8)
    assert det.scale is not None
    rise_m, peak_mps = det.scale
    assert rise_m == pytest.approx(0.25, abs=0.03)
    assert peak_mps == pytest.approx(1.875 * 0.25, abs=0.05)


def test_rises_the_scale_refuses_three_times_replace_it() -> None:
    """After 0.15 m reps, 0.40 m rises are off the scale: refused, until ``confirm_reps``
    of them (each with its matching descent) show that these are the athlete's reps now."""
    k, values, _ = synthetic_session(reps=4, rise_m=0.15)
    k2, values2, truth2 = synthetic_session(reps=5, rise_m=0.40, k0=int(k[-1]) + 1, seed=1)
    det = LockoutDetector(RATE_HZ)
    small = [e for _, e in feed(det, k, values, 10)]
    assert len(small) == 4
    assert det.scale is not None
    assert det.scale[0] == pytest.approx(0.15, abs=0.02)
    big = [e for _, e in feed(det, k2, values2, 10)]
    confirm = det.p.confirm_reps
    assert [e.t_s for e in big] == pytest.approx(truth2[confirm:], abs=0.06)
    assert det.scale[0] == pytest.approx(0.40, abs=0.04)
