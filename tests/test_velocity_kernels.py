"""The velocity tracker's compiled block kernels (the last section of
``sensor.engine.kernels``) against the numpy/scipy code they replaced: equal bit for bit,
NaNs included, since the engine's stillness and rest decisions compare these numbers with
thresholds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter1d

from sensor.engine import Engine, kernels
from sensor.engine.velocity import GRAVITY_MPS2, GRAVITY_RIDGE, edge_rows, fit_gravity_error
from sensor.samples import Samples

EXAMPLES = settings(max_examples=40, deadline=None)


# -- the numpy/scipy references (the tracker's code before the kernels) --------------------


def window_activity_ref(x: np.ndarray, half: int) -> np.ndarray:
    """Mean squared deviation from the window mean, summed over channel rows of ``x``
    (c, n + 2 half); scipy's running sums."""
    n = x.shape[1] - 2 * half
    size = 2 * half + 1
    col = x - (np.add.reduce(x[:, half : half + n], axis=1) / n)[:, None]
    m1 = uniform_filter1d(col, size, axis=1)[:, half : half + n]
    m2 = uniform_filter1d(col * col, size, axis=1)[:, half : half + n]
    var = np.subtract(m2, m1 * m1, out=m2)
    np.maximum(var, 0.0, out=var)
    return np.asarray(np.add.reduce(var, axis=0))


def activity_ref(  # noqa: PLR0917 - as the kernel
    acc: np.ndarray, norm: np.ndarray, gyro: np.ndarray | None, start: int, stop: int,
    half: int,
) -> np.ndarray:
    lo, hi = start - half, stop + half
    acc_rows = edge_rows(acc, lo, hi)
    norm_rows = edge_rows(norm[:, None], lo, hi)
    u = acc_rows / norm_rows
    w = 2 * half
    out = np.zeros((kernels.ACT_ROWS, stop - start))
    out[kernels.ACT_A] = window_activity_ref(acc_rows, half)
    out[kernels.ACT_N] = window_activity_ref(norm_rows, half)
    out[kernels.ACT_TURN] = np.add.reduce(u[:, :-w] * u[:, w:], axis=0)
    if gyro is not None:
        out[kernels.ACT_G] = window_activity_ref(edge_rows(gyro, lo, hi), half)
    return out


def level_deviation_ref(  # noqa: PLR0917 - as the kernel
    norm: np.ndarray, med: np.ndarray, start: int, stop: int, b: int, k: int
) -> np.ndarray:
    j0, j1 = start // b, (stop - 1) // b + 1
    pad = med[np.clip(np.arange(j0 - k, j1 + k), 0, med.size - 1)]
    ref_bins = np.median(sliding_window_view(pad, 2 * k + 1), axis=1)
    ref = np.repeat(ref_bins, b)[start - j0 * b : stop - j0 * b]
    return np.asarray(np.abs(norm[start:stop] - ref))


def _observe_ref(acc: np.ndarray, norm: np.ndarray, lo: int, hi: int) -> np.ndarray:
    m = hi - lo
    a = np.add.reduce(acc[lo:hi], axis=0) / m
    return np.array([*(a / np.sqrt(a.dot(a))), np.add.reduce(norm[lo:hi]) / m - 1.0, m])


def gravity_accel_ref(  # noqa: PLR0917 - as the kernel
    acc: np.ndarray, norm: np.ndarray, still: np.ndarray, old: np.ndarray, s: int, e: int,
    nb: int, end_n: int, gap: int, keep: int, local_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``VelocityTracker._accel`` in numpy."""
    n_lp = norm.size
    flags = np.zeros(n_lp + end_n + gap, dtype=bool)  # past the flags: not still
    flags[: still.size] = still
    hi = s - gap
    lo = max(0, hi - nb)
    moving = np.flatnonzero(~flags[lo:hi]) if hi > 0 else np.empty(0, dtype=int)
    before = (lo + int(moving[-1]) + 1 if moving.size else lo, hi)
    lo = e + gap
    moving = np.flatnonzero(~flags[lo : min(n_lp, lo + end_n)])
    after = (lo, lo + int(moving[0]) if moving.size else min(n_lp, lo + end_n))
    ends = [(lo, hi) for lo, hi in (before, after) if lo < hi and lo < n_lp]
    kept = np.concatenate([old, np.reshape([_observe_ref(acc, norm, lo, hi)
                                            for lo, hi in ends], (-1, 5))])
    kept = kept[-keep:]
    raw = still[s:e]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], raw.astype(np.int8), [0]])))
    inner = [_observe_ref(acc, norm, s + a, s + b)
             for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 3]
    u = acc[s:e] / norm[s:e, None]
    obs = np.concatenate([kept, np.reshape(inner, (-1, 5))])
    if obs.shape[0] == 0:
        obs = np.array([[*u[0], 0.0, 1.0]])
    cos = np.maximum.reduce(np.minimum(np.maximum(obs[:, :3] @ u[[0, -1]].T, -1.0), 1.0),
                            axis=1)
    near = np.exp(-((np.degrees(np.arccos(cos)) / local_deg) ** 2))
    obs[:, 4] *= near + 1e-6
    c = fit_gravity_error(obs)
    return kept, (norm[s:e] - (1.0 + c[0] + u @ c[1:])) * GRAVITY_MPS2


def _signals(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sensor at rest, then moving and turning: low-passed acc (g), its norm, gyro."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    tilt = np.where(t > 2.0, 0.6 * np.sin(1.3 * (t - 2.0)), 0.0)
    acc = np.column_stack([np.sin(tilt), 0.01 * np.sin(7 * t), np.cos(tilt)])
    acc *= 1.0 + np.where(t > 2.0, 0.2 * np.sin(4 * t), 0.0)[:, None]
    acc += rng.normal(0, 1e-3, acc.shape)
    gyro = np.column_stack([np.gradient(tilt) * 100 * 57.3, rng.normal(0, 0.3, (n, 2))])
    return acc, np.sqrt(np.add.reduce(acc**2, axis=1)), gyro


# -- block_activity -------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "stop"), [(0, 2000), (0, 1), (1990, 2000), (37, 1211)])
@pytest.mark.parametrize("with_gyro", [True, False])
def test_block_activity_is_the_numpy_code_bit_for_bit(
    start: int, stop: int, with_gyro: bool
) -> None:
    acc, norm, gyro = _signals(1, 2000)
    got = kernels.block_activity(acc, norm, gyro if with_gyro else np.empty((0, 3)),
                                 start, stop, 20)
    ref = activity_ref(acc, norm, gyro if with_gyro else None, start, stop, 20)
    assert got.shape == (kernels.ACT_ROWS, stop - start)
    assert np.array_equal(got, ref)


def test_block_activity_sees_the_motion() -> None:
    """At rest (the first 2 s) the activity is the noise's, 3 x (1 mg)^2 plus the slow
    sway; moving, far more; the direction turns only once the tilt changes."""
    acc, norm, gyro = _signals(1, 2000)
    got = kernels.block_activity(acc, norm, gyro, 0, 2000, 20)
    assert got[kernels.ACT_A, :150].max() < 1e-4
    assert got[kernels.ACT_A].max() > 100 * got[kernels.ACT_A, :150].max()
    assert np.all(got[kernels.ACT_TURN, :150] > 0.999)
    assert got[kernels.ACT_TURN].min() < 0.99
    assert got[kernels.ACT_G, :150].max() < 1.0  # gyro noise 0.3 deg/s on two axes


@EXAMPLES
@given(
    n=st.integers(1, 400),
    half=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    scale=st.sampled_from([1e-6, 1e-3, 1.0, 1e4]),
    data=st.data(),
)
def test_block_activity_matches_for_any_span_and_window(
    n: int, half: int, seed: int, scale: float, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    acc = 1.0 + scale * rng.normal(size=(n, 3))
    norm = np.sqrt(np.add.reduce(acc**2, axis=1))
    gyro = scale * rng.normal(size=(n, 3))
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    got = kernels.block_activity(acc, norm, gyro, start, stop, half)
    assert np.array_equal(got, activity_ref(acc, norm, gyro, start, stop, half))


def test_block_activity_takes_views_and_keeps_nans() -> None:
    acc, norm, gyro = _signals(2, 600)
    acc[300, 1] = np.nan
    wide = np.hstack([acc, gyro])  # column views, as the tracker's buffers may hand over
    got = kernels.block_activity(wide[:, :3], norm, wide[:, 3:], 100, 500, 20)
    ref = activity_ref(acc, norm, gyro, 100, 500, 20)
    assert np.array_equal(got, ref, equal_nan=True)
    assert np.isnan(got[kernels.ACT_A, 300 - 100])


def test_block_activity_of_zero_rows_is_numpys_nan() -> None:
    """A zero acceleration (a dead sensor, garbage) has no direction: NaN as in numpy, no
    exception."""
    acc, norm, gyro = _signals(3, 300)
    acc[100:110] = 0.0
    norm[100:110] = 0.0
    got = kernels.block_activity(acc, norm, gyro, 0, 300, 20)
    with np.errstate(invalid="ignore"):
        ref = activity_ref(acc, norm, gyro, 0, 300, 20)
    assert np.array_equal(got, ref, equal_nan=True)
    turn = got[kernels.ACT_TURN]  # the window's ends: 20 samples either side
    assert np.isnan(turn[80:90]).all()
    assert np.isnan(turn[120:130]).all()
    assert np.isfinite(turn[90:120]).all()
    assert np.isnan(got[kernels.ACT_A, 100:110]).sum() == 0  # the variance is finite


# -- medians and percentiles ----------------------------------------------------------------


@EXAMPLES
@given(
    bins=st.integers(1, 40),
    b=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    ties=st.booleans(),
    nan_at=st.none() | st.integers(0, 10_000),
)
def test_bin_medians_are_np_median(
    bins: int, b: int, seed: int, ties: bool, nan_at: int | None
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=bins * b + 7)
    if ties:
        x = np.round(x, 1)
    if nan_at is not None:
        x[nan_at % x.size] = np.nan
    j = int(rng.integers(0, bins))
    got = kernels.bin_medians(x, j, bins, b)
    ref = np.median(x[j * b : bins * b].reshape(-1, b), axis=1)
    assert np.array_equal(got, ref, equal_nan=True)


@EXAMPLES
@given(
    n_bins=st.integers(1, 60),
    k=st.integers(0, 9),
    b=st.integers(1, 30),
    seed=st.integers(0, 2**31),
    ties=st.booleans(),
    nan_bin=st.none() | st.integers(0, 100),
    data=st.data(),
)
def test_level_deviation_is_the_numpy_code(  # noqa: PLR0917 - hypothesis draws
    n_bins: int, k: int, b: int, seed: int, ties: bool, nan_bin: int | None,
    data: st.DataObject,
) -> None:
    rng = np.random.default_rng(seed)
    norm = 1.0 + 1e-3 * rng.normal(size=n_bins * b)
    med = np.median(norm.reshape(-1, b), axis=1)
    if ties:
        med = np.round(med, 3)
    if nan_bin is not None:
        med[nan_bin % n_bins] = np.nan
    start = data.draw(st.integers(0, norm.size - 1))
    stop = data.draw(st.integers(start + 1, norm.size))
    got = kernels.level_deviation(norm, med, start, stop, b, k)
    ref = level_deviation_ref(norm, med, start, stop, b, k)
    assert np.array_equal(got, ref, equal_nan=True)


def test_level_deviation_sees_a_short_step_not_a_long_one() -> None:
    """The reference is the median of +-2 s of bin medians: a 1 s step to 1.1 g deviates
    by 0.1 g throughout; after a lasting step the reference has moved with it."""
    norm = np.ones(2000)
    norm[400:500] = 1.1  # 1 s: 4 bins, a minority of any 17
    norm[1000:] = 1.2  # from 10 s on
    med = kernels.bin_medians(norm, 0, 80, 25)
    dev = kernels.level_deviation(norm, med, 0, 2000, 25, 8)
    assert np.allclose(dev[400:500], 0.1)
    assert np.allclose(dev[:400], 0.0)
    assert np.allclose(dev[500:], 0.0)


def bin_shapes_ref(acc: np.ndarray, norm: np.ndarray, lo: int, hi: int, b: int) -> np.ndarray:
    rows = []
    for i0 in range(lo, hi, b):
        a, n = acc[i0 : min(i0 + b, hi)], norm[i0 : min(i0 + b, hi)]
        m = a.mean(axis=0)
        rows.append([*(m / np.linalg.norm(m)), n.var(), a[0] @ a[-1] / (n[0] * n[-1])])
    return np.array(rows).reshape(-1, kernels.BIN_COLS)


@EXAMPLES
@given(n=st.integers(1, 300), b=st.integers(1, 30), seed=st.integers(0, 2**31))
def test_bin_shapes_are_the_numpy_code(n: int, b: int, seed: int) -> None:
    """Direction of each bin's mean vector, variance of its norm and the cosine of its turn,
    a short last bin too."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(size=(n, 3)) + np.array([0.0, 0.0, 1.0])
    norm = np.linalg.norm(acc, axis=1)
    lo = int(rng.integers(0, n))
    got = kernels.bin_shapes(acc, norm, lo, n, b)
    assert np.allclose(got, bin_shapes_ref(acc, norm, lo, n, b), rtol=1e-9, atol=1e-12)


def test_bin_shapes_of_known_bins() -> None:
    """A bin pointing along y at 1 g; one alternating 0.9/1.1 g along z (variance 0.01 g^2);
    one turning from z to y (90 deg: cosine 0); a NaN bin; a bin of zeros (no direction)."""
    acc = np.zeros((10, 3))
    acc[0:2, 1] = 1.0
    acc[2:4, 2] = [0.9, 1.1]
    acc[4, 2] = acc[5, 1] = 1.0
    acc[6, 0] = np.nan
    norm = np.linalg.norm(acc, axis=1)
    got = kernels.bin_shapes(acc, norm, 0, 10, 2)
    assert np.allclose(got[0], [0.0, 1.0, 0.0, 0.0, 1.0])
    assert np.allclose(got[1], [0.0, 0.0, 1.0, 0.01, 1.0])
    assert np.allclose(got[2], [0.0, np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])
    assert np.isnan(got[3]).all()
    assert np.isnan(got[4, [0, 1, 2, 4]]).all()
    assert got[4, 3] == 0.0


def test_level_deviation_turned_takes_the_quiet_bins_pointing_its_way() -> None:
    """Bins of 2 samples: six rests along z at 0.97 g, then two held along y at 1.02 g, a
    busy bin along y (variance over the quiet limit), two turning 5 deg (the end of a rise,
    0.9 g) and a rest along z. A held sample along y is 90 deg from the bins' mean direction: its
    reference is the median of the quiet bins along y (1.02 g), not of all bins (0.97 g).
    Along z nothing changes."""
    z, y = [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]
    dirs = [z] * 6 + [y, y, y, y, y, z]
    med = np.array([0.97] * 6 + [1.02, 1.02, 1.2, 0.9, 0.9, 0.97])
    var = np.array([0.0] * 8 + [0.01, 0.0, 0.0, 0.0])
    turn = np.array([1.0] * 9 + [np.cos(np.radians(5))] * 2 + [1.0])
    shape = np.column_stack([np.array(dirs), var, turn])
    acc = np.repeat(np.array(dirs), 2, axis=0) * np.repeat(med, 2)[:, None]
    norm = np.linalg.norm(acc, axis=1)
    dev = kernels.level_deviation(norm, med, 0, 24, 2, 4)
    turned = dev.copy()
    cos = np.cos(np.radians([30, 10, 1.25]))
    kernels.level_deviation_turned(turned, acc, norm, med, shape, 0, 2, 4, *cos[:2], 4e-4,
                                   cos[2])
    assert np.allclose(dev[12:16], 0.05)  # all bins' median: 0.97 g
    assert np.allclose(turned[12:16], 0.0)  # the quiet bins along y: 1.02 g
    loose = dev.copy()  # taking the turning bins too: median 0.96 g
    kernels.level_deviation_turned(loose, acc, norm, med, shape, 0, 2, 4, *cos[:2], 4e-4, -1.0)
    assert np.allclose(loose[12:16], 0.06)
    assert np.array_equal(turned[:12], dev[:12])  # along z, the plain reference
    # with the away limit at 180 deg nothing is turned away: dev stays
    same = dev.copy()
    kernels.level_deviation_turned(same, acc, norm, med, shape, 0, 2, 4, -1.0, cos[1], 4e-4,
                                   cos[2])
    assert np.array_equal(same, dev)


@EXAMPLES
@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    pct=st.sampled_from([10, 0, 50, 25, 99.9, 100]),
    seed=st.integers(0, 2**31),
    ties=st.booleans(),
    special=st.sampled_from([None, np.nan, np.inf, -np.inf]),
)
def test_block_percentiles_are_np_percentile(
    sizes: list[int], pct: float, seed: int, ties: bool, special: float | None
) -> None:
    rng = np.random.default_rng(seed)
    a = rng.exponential(size=sum(sizes))
    if ties:
        a = np.round(a, 1)
    if special is not None:
        a[int(rng.integers(0, a.size))] = special
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    got = kernels.block_percentiles(a, bounds, pct / 100)  # the fraction numpy uses
    with np.errstate(invalid="ignore"):  # numpy's lerp of inf and inf: NaN, as the kernel's
        ref = [np.percentile(a[lo:hi], pct) for lo, hi in itertools.pairwise(bounds)]
    assert np.array_equal(got, np.array(ref), equal_nan=True)


def test_block_percentile_of_a_known_block() -> None:
    a = np.append(np.arange(2000, dtype=float)[::-1], 7.0)  # 10th percentile: 0.1 x 1999
    got = kernels.block_percentiles(a, np.array([0, 2000, 2001], dtype=np.int64), 10 / 100)
    assert got[0] == pytest.approx(199.9, abs=1e-12)
    assert got[1] == 7.0  # one value: itself


# -- gravity_accel --------------------------------------------------------------------------


def _motion(seed: int, n: int = 900) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A sensor whose gravity reads ``1 + 0.01 + 0.02 ux`` g (bias and scale errors), at rest
    in several orientations, then moving up and down (known vertical acceleration) while
    tilting, with a short hold inside the motion. Returns acc (n, 3) in g, still flags, the
    true vertical acceleration (m/s^2) and the rows of the rests' observations."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    tilt = np.zeros(n)
    a_true = np.zeros(n)
    still = np.zeros(n, dtype=bool)
    for k, lo in enumerate(range(0, 400, 100)):  # rests at four tilts
        tilt[lo : lo + 100] = 0.3 * k
        still[lo + 10 : lo + 90] = True
    move = slice(450, 800)
    tm = t[move] - t[450]
    a_true[move] = 2.0 * np.sin(2 * np.pi * tm / 3.5)  # one full period: ends at rest
    tilt[400:] = 0.9
    tilt[move] = 0.9 - 0.6 * np.sin(np.pi * tm / 3.5)
    still[623:628] = True  # a short hold in the motion, at its speed's peak
    still[800:] = True
    g = 1.01 + 0.02 * np.sin(tilt) + a_true / GRAVITY_MPS2
    acc = np.column_stack([np.sin(tilt), np.zeros(n), np.cos(tilt)]) * g[:, None]
    acc += rng.normal(0, 1e-5, acc.shape)
    return acc, still, a_true, np.empty((0, 5))


@pytest.mark.parametrize("keep", [40, 2, 0])
def test_gravity_accel_is_the_numpy_code_to_rounding(keep: int) -> None:
    acc, still, _, old = _motion(1)
    norm = np.sqrt(np.add.reduce(acc**2, axis=1))
    pool = old
    for lo, hi in ((90, 110), (190, 210), (290, 310), (390, 450), (450, 800)):  # in turn
        got_pool, got = kernels.gravity_accel(acc, norm, still, pool, lo, hi, 50, 30, 5, keep,
                                              30.0, GRAVITY_RIDGE)
        ref_pool, ref = gravity_accel_ref(acc, norm, still, pool, lo, hi, 50, 30, 5, keep, 30.0)
        assert got_pool.shape == ref_pool.shape
        assert np.allclose(got_pool, ref_pool, rtol=1e-14, atol=0.0)
        assert np.allclose(got, ref, rtol=1e-12, atol=1e-12)
        pool = got_pool
    # two rests per motion, but none read at 400..449: the sensor is not still there
    assert pool.shape[0] == (2 if keep == 2 else 8)


def test_gravity_accel_reads_the_rests_only_while_still_and_away_from_the_motion() -> None:
    """The rest before a motion is read from ``gap`` samples before it, back to where the
    sensor last moved (at most ``nb`` samples); the rest after, from ``gap`` samples after it
    to where it moves again (at most ``end_n``). Rows: direction, mean norm - 1 g, count."""
    n = 200
    acc = np.tile([0.0, 0.0, 1.0], (n, 1))
    acc[60:100, 2] = 1.02  # a motion at 60..99, seen as a norm error if it were read
    acc[120:, 2] = 1.05  # the next motion, from 120
    acc[:52, 2] = 0.9  # the previous motion, up to 51
    still = np.ones(n, dtype=bool)
    still[:52] = False
    still[60:100] = False
    still[120:] = False
    norm = acc[:, 2].copy()
    pool, _ = kernels.gravity_accel(acc, norm, still, np.empty((0, 5)), 60, 100, 50, 30, 3, 40,
                                    30.0, GRAVITY_RIDGE)
    assert pool.shape == (2, 5)
    assert pool[0].tolist() == [0.0, 0.0, 1.0, 0.0, 5.0]  # 52..56: still, 3 samples short of 60
    assert pool[1].tolist() == [0.0, 0.0, 1.0, 0.0, 17.0]  # 103..119: up to the next motion


def test_gravity_accel_recovers_the_vertical_acceleration() -> None:
    """With rests in the orientations the motion goes through, the orientation-dependent
    gravity error (up to 0.25 m/s^2) is fitted away: without the ridge the linear model is
    found (the acceleration to noise and the hold's own small acceleration); the ridge keeps
    the slope a little short of it."""
    acc, still, a_true, old = _motion(2)
    norm = np.sqrt(np.add.reduce(acc**2, axis=1))
    pool = old
    for lo, hi in ((90, 110), (190, 210), (290, 310), (390, 450)):
        pool, _ = kernels.gravity_accel(acc, norm, still, pool, lo, hi, 50, 30, 5, 40, 30.0,
                                        GRAVITY_RIDGE)
    naive = (norm[450:800] - 1.0) * GRAVITY_MPS2
    assert np.abs(naive - a_true[450:800]).max() > 0.2  # the error the fit must remove
    _, exact = kernels.gravity_accel(acc, norm, still, pool, 450, 800, 50, 30, 5, 40, 30.0, 0.0)
    assert np.abs(exact - a_true[450:800]).max() < 0.01
    _, ridged = kernels.gravity_accel(acc, norm, still, pool, 450, 800, 50, 30, 5, 40, 30.0,
                                    GRAVITY_RIDGE)
    assert np.abs(ridged - a_true[450:800]).max() < 0.05


def test_gravity_accel_with_nothing_seen_and_a_zero_norm() -> None:
    """No rest before, none after, no hold: the motion's start stands for the rest. A zero
    acceleration row (a sensor in free fall, or garbage) gives NaN there, no exception."""
    acc, _, _, old = _motion(3)
    acc[500] = 0.0
    norm = np.sqrt(np.add.reduce(acc**2, axis=1))
    still = np.zeros(acc.shape[0], dtype=bool)
    pool, got = kernels.gravity_accel(acc, norm, still, old, 0, acc.shape[0], 50, 30, 5, 40,
                                      30.0, GRAVITY_RIDGE)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_pool, ref = gravity_accel_ref(acc, norm, still, old, 0, acc.shape[0], 50, 30, 5, 40,
                                          30.0)
    assert pool.shape == ref_pool.shape == (0, 5)
    assert np.isnan(got[500])
    assert np.isnan(ref[500])
    assert np.allclose(got, ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    ok = np.arange(acc.shape[0]) != 500
    assert np.allclose(got[ok], (norm[ok] - 1.0) * GRAVITY_MPS2, atol=1e-9)  # 1 g, no slope


# -- gyro_bias, gyro_near --------------------------------------------------------------------


def gyro_bias_ref(gyro: np.ndarray, still: np.ndarray, step: int) -> np.ndarray:
    cand = gyro[np.flatnonzero(still)[::step]]
    mag2 = np.add.reduce(cand * cand, axis=1)
    slow = cand[mag2 <= np.partition(mag2, mag2.size // 4)[mag2.size // 4]]
    return np.asarray(np.sort(slow, axis=0)[slow.shape[0] // 2])


@EXAMPLES
@given(
    n=st.integers(1, 600),
    step=st.integers(1, 7),
    seed=st.integers(0, 2**31),
    ties=st.booleans(),
    still_p=st.sampled_from([0.1, 0.5, 1.0]),
)
def test_gyro_bias_and_level_are_the_numpy_code(
    n: int, step: int, seed: int, ties: bool, still_p: float
) -> None:
    rng = np.random.default_rng(seed)
    gyro = rng.normal(0.5, 2.0, (n, 3))
    if ties:
        gyro = np.round(gyro)
    still = rng.uniform(size=n) < still_p
    still[int(rng.integers(0, n))] = True
    bias = kernels.gyro_bias(gyro, still, step)
    assert np.array_equal(bias, gyro_bias_ref(gyro, still, step))
    d = gyro - bias
    near = np.add.reduce(d * d, axis=1) < 1.5**2
    assert np.array_equal(kernels.gyro_near(gyro, bias, 1.5**2), near)


def test_gyro_bias_of_a_still_sensor_that_sometimes_turns() -> None:
    """A bias of (0.4, -0.2, 0.1) deg/s with 0.01 deg/s noise at rest, and a steady 5 deg/s
    turn on a third of the still-flagged samples: the bias is the rest's (the quarter with
    the smallest rates leans a little towards zero: within the noise)."""
    rng = np.random.default_rng(4)
    gyro = np.array([0.4, -0.2, 0.1]) + rng.normal(0, 0.01, (3000, 3))
    gyro[1000:2000, 2] += 5.0
    still = np.ones(3000, dtype=bool)
    still[::7] = False
    bias = kernels.gyro_bias(gyro, still, 5)
    assert np.allclose(bias, [0.4, -0.2, 0.1], atol=0.01)
    near = kernels.gyro_near(gyro, bias, 0.5**2)
    assert near[:1000].all()
    assert not near[1000:2000].any()
    assert kernels.gyro_bias(gyro, np.zeros(3000, dtype=bool), 5).size == 0


# -- filtered_rows_into ---------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 6])
def test_filtered_rows_into_writes_rows_and_numpys_norms(channels: int) -> None:
    rng = np.random.default_rng(channels)
    y = rng.normal(size=(3, 50))
    ys = rng.normal(size=(channels, 50)) * 100
    at = 7
    acc_lp, acc_still, norm_still, gyro_lp, norm = bufs = (
        np.full((60, 3), -1.0), np.full((60, 3), -1.0), np.full(60, -1.0),
        np.full((60 if channels == 6 else 0, 3), -1.0), np.full(60, -1.0))
    kernels.filtered_rows_into(y, ys, acc_lp, acc_still, norm_still, gyro_lp, norm, at)
    rows = slice(at, at + 50)
    assert np.array_equal(acc_lp[rows], y.T)
    assert np.array_equal(acc_still[rows], ys[:3].T)
    assert np.array_equal(norm[rows], np.sqrt(np.add.reduce(y**2, axis=0)))
    assert np.array_equal(norm_still[rows], np.sqrt(np.add.reduce(ys[:3] ** 2, axis=0)))
    if channels == 6:
        assert np.array_equal(gyro_lp[rows], ys[3:].T)
        assert np.all(gyro_lp[:at] == -1.0)
    for b in bufs:  # nothing written outside the rows
        assert np.all(b[:at] == -1.0)
        assert np.all(b[at + 50 :] == -1.0)


# -- run scans, the integration, the turn test ----------------------------------------------


def long_runs_ref(raw: np.ndarray, p: int, min_run: int, final: bool) -> np.ndarray:
    """``VelocityTracker._decide_runs`` as it was in numpy."""
    q = p
    if p > 0 and raw[p - 1] == raw[p]:
        q = p
        while q > 0 and raw[q - 1] == raw[p]:
            q -= 1
    seg = raw[q:]
    edges = np.flatnonzero(np.diff(seg.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [seg.size]])
    out = np.zeros(seg.size, dtype=bool)
    stop = seg.size
    for a, b in zip(starts, ends, strict=True):
        if not seg[a]:
            continue
        long_enough = b - a >= min_run
        if b == seg.size and not final and not long_enough:
            stop = int(a)
            break
        out[a:b] = long_enough or (final and b == seg.size and a == 0)
    return out[p - q : stop]


@EXAMPLES
@given(
    runs=st.lists(st.integers(1, 12), min_size=1, max_size=12),
    first=st.booleans(),
    min_run=st.integers(1, 8),
    final=st.booleans(),
    data=st.data(),
)
def test_long_runs_and_scans_are_the_numpy_code(
    runs: list[int], first: bool, min_run: int, final: bool, data: st.DataObject
) -> None:
    raw = np.concatenate([np.full(r, (k % 2 == 0) == first) for k, r in enumerate(runs)])
    p = data.draw(st.integers(0, raw.size - 1))
    assert np.array_equal(kernels.long_runs(raw, p, min_run, final),
                          long_runs_ref(raw, p, min_run, final))
    for value in (True, False):
        hits = np.flatnonzero(raw[p:] == value)
        assert kernels.next_index(raw, p, raw.size, value) == (p + hits[0] if hits.size
                                                               else raw.size)
    q = p
    while q > 0 and raw[q - 1] == raw[p]:
        q -= 1
    assert kernels.run_start(raw, p) == q


def test_long_runs_of_a_known_sequence() -> None:
    raw = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    assert kernels.long_runs(raw, 0, 3, False).tolist() == [
        True, True, True, False, False, False, False, True, True, True, True, False]
    # final: the short run at the end counts only if nothing moved since the decisions so
    # far (it is the run that contains p)
    assert kernels.long_runs(raw, 0, 3, True)[-2:].tolist() == [False, False]
    assert kernels.long_runs(raw, 12, 3, True).tolist() == [True, True]
    assert kernels.long_runs(raw, 11, 3, True).tolist() == [False, False, False]
    assert kernels.long_runs(raw[:2], 0, 3, True).tolist() == [True, True]
    assert kernels.long_runs(raw[:2], 0, 3, False).tolist() == []  # too early to tell
    assert kernels.long_runs(raw, 9, 3, False).tolist() == [True, True, False]


def integrate_segment_ref(accel: np.ndarray, dt_s: float) -> np.ndarray:
    n = accel.size
    a_pad = np.zeros(n + 2)
    a_pad[1 : n + 1] = accel
    v = np.add.accumulate((a_pad[1:] + a_pad[:-1]) * 0.5) * dt_s
    return np.asarray(v[:n] - v[-1] * np.arange(1, n + 1) / (n + 1))


@EXAMPLES
@given(n=st.integers(0, 500), seed=st.integers(0, 2**31), dt=st.sampled_from([0.01, 0.02]))
def test_integrate_segment_is_the_numpy_code(n: int, seed: int, dt: float) -> None:
    accel = np.random.default_rng(seed).normal(0, 3, n)
    assert np.array_equal(kernels.integrate_segment(accel, dt),
                          integrate_segment_ref(accel, dt))


def test_integrate_segment_of_a_known_motion() -> None:
    """One period of 2 sin: the speed is (2 T / 2 pi)(1 - cos), back to zero at the end."""
    t = np.arange(1, 350) / 100.0
    accel = 2.0 * np.sin(2 * np.pi * t / 3.5)
    speed = kernels.integrate_segment(accel, 0.01)
    assert np.allclose(speed, 3.5 / np.pi * (1 - np.cos(2 * np.pi * t / 3.5)), atol=1e-3)


def test_turned_to_rounding_and_a_known_turn() -> None:
    rng = np.random.default_rng(6)
    angle = np.radians(np.linspace(0.0, 30.0, 301))  # 0.1 degree per sample
    acc = np.column_stack([np.sin(angle), np.zeros(301), np.cos(angle)]) * 1.01
    acc += rng.normal(0, 1e-9, acc.shape)
    norm = np.sqrt(np.add.reduce(acc**2, axis=1))
    cos20 = float(np.cos(np.radians(20.0)))
    assert not kernels.turned(acc, norm, 0, 199, cos20)  # 19.9 degrees
    assert kernels.turned(acc, norm, 0, 201, cos20)  # 20.1
    assert not kernels.turned(acc, norm, 100, 299, cos20)
    for i, j in ((0, 300), (50, 250), (10, 10)):
        u = acc[i : j + 1] / norm[i : j + 1, None]
        assert kernels.turned(acc, norm, i, j, cos20) == bool((u @ u[0]).min() < cos20)
    acc[150] = np.nan
    norm[150] = np.nan
    assert not kernels.turned(acc, norm, 0, 300, cos20)  # as numpy: NaN compares False


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # reps.py casts NaN speed
@pytest.mark.parametrize("chunk", [None, 10])
def test_engine_takes_a_recording_of_zeros(chunk: int | None) -> None:
    """Garbage through the whole tracker (zero acceleration: no direction, no norm) ends
    with no sets and no exception, as it did in numpy."""
    t = np.arange(3000) / 100.0
    samples = Samples(t, np.zeros((3000, 3)), np.zeros((3000, 3)), {})
    engine = Engine(live=chunk is not None)
    for part in samples.chunks(chunk) if chunk else [samples]:
        engine.feed(part)
    engine.finish()
    assert engine.summary().sets == ()


_NO_BIAS = np.zeros(3)


def _raw(acc: np.ndarray, gyro_rad_s: np.ndarray | None = None) -> np.ndarray:
    """Grid rows (n, 6) as the tracker keeps them: acceleration (g), then rates (deg/s)."""
    rates = np.zeros_like(acc) if gyro_rad_s is None else np.degrees(gyro_rad_s)
    return np.hstack([acc, rates])


def _rest_ends(acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``acc`` (n, 3) in g with its first and last rows at rest (1 g up), and its norm."""
    acc = acc.copy()
    acc[0] = acc[-1] = (0.0, 0.0, 1.0)
    return acc, np.linalg.norm(acc, axis=1)


def test_off_vertical_is_the_norms_excess_from_a_sideways_acceleration() -> None:
    """0.3 g sideways on 1 g of gravity reads sqrt(1.09) g in the norm: 44 mg more than the
    vertical part; a vertical acceleration adds nothing."""
    n = 50
    side, norm = _rest_ends(np.tile([0.3, 0.0, 1.0], (n, 1)))
    off = kernels.off_vertical(side, norm, _raw(side), _NO_BIAS, 0, n, 0.02, 1e4, 0.98)
    np.testing.assert_allclose(off[1:-1], np.sqrt(1.09) - 1.0, rtol=1e-12)
    up, norm = _rest_ends(np.tile([0.0, 0.0, 1.2], (n, 1)))
    off_up = kernels.off_vertical(up, norm, _raw(up), _NO_BIAS, 0, n, 0.02, 1e4, 0.98)
    np.testing.assert_allclose(off_up, 0.0, atol=1e-15)


def test_off_vertical_follows_the_sensor_as_it_turns() -> None:
    """A sensor turning 90 deg about its x axis in 2 s, with nothing but gravity on it: the
    gyro carries gravity's direction from one end to the other, so nothing is off vertical
    (the norm is 1 g all along); read 30 samples into the turn, the same."""
    n, dt = 101, 0.02
    rate = np.radians(45.0)  # rad/s about x
    angle = rate * dt * np.arange(n)
    acc = np.column_stack([np.zeros(n), np.sin(angle), np.cos(angle)])  # gravity, body frame
    gyro = np.tile([rate, 0.0, 0.0], (n, 1))  # rad/s
    norm = np.linalg.norm(acc, axis=1)
    still = kernels.off_vertical(acc, norm, _raw(acc, gyro), _NO_BIAS, 0, n, dt, 1e4, 0.98)
    assert np.abs(still).max() < 1e-3
    sub = kernels.off_vertical(acc, norm, _raw(acc, gyro), _NO_BIAS, 30, n, dt, 1e4, 0.98)
    assert sub.shape == (n - 30,)
    assert np.abs(sub).max() < 1e-3
    # the same turn with the sensor pushed 0.3 g sideways (along body x) half way through
    pushed = acc.copy()
    pushed[40:60, 0] += 0.3
    off = kernels.off_vertical(pushed, np.linalg.norm(pushed, axis=1), _raw(pushed, gyro), _NO_BIAS,
                               0, n, dt, 1e4, 0.98)
    np.testing.assert_allclose(off[40:60], np.sqrt(1.09) - 1.0, atol=1e-3)


def test_off_vertical_is_zero_where_the_gyro_lost_track() -> None:
    """The same 90 deg turn with a gyro that saw none of it (saturated, or too slow for the
    turn): carried forward, gravity's direction misses the last sample's by 90 deg, more
    than the limit (cos 0.98: 11.5 deg), so nothing is taken off the norm."""
    n, dt = 101, 0.02
    angle = np.radians(45.0) * dt * np.arange(n)
    acc = np.column_stack([np.full(n, 0.3), np.sin(angle), np.cos(angle)])
    norm = np.linalg.norm(acc, axis=1)
    lost = kernels.off_vertical(acc, norm, _raw(acc), _NO_BIAS, 0, n, dt, 1e4, 0.98)
    np.testing.assert_array_equal(lost, np.zeros(n))
    assert kernels.off_vertical(acc, norm, _raw(acc), _NO_BIAS, 0, n, dt, 1e4, -1.0).max() > 1e-3


def test_off_vertical_takes_the_bias_off_and_gives_up_on_fast_turns() -> None:
    """The rates less the learnt bias are what carry the direction: a gyro reading 45 deg/s
    plus a 2 deg/s bias, with that bias given, follows the turn as a perfect one does; over
    ``max_rate2`` ((deg/s)^2) anywhere in the motion, or NaN, the norm is left alone."""
    n, dt = 101, 0.02
    rate = np.radians(45.0)
    angle = rate * dt * np.arange(n)
    acc = np.column_stack([np.full(n, 0.2), np.sin(angle), np.cos(angle)])
    acc[0, 0] = acc[-1, 0] = 0.0
    norm = np.linalg.norm(acc, axis=1)
    raw = _raw(acc, np.tile([rate, 0.0, 0.0], (n, 1)))
    want = kernels.off_vertical(acc, norm, raw, _NO_BIAS, 0, n, dt, 1e4, 0.98)
    biased = raw.copy()
    biased[:, 3] += 2.0
    bias = np.array([2.0, 0.0, 0.0])
    np.testing.assert_allclose(kernels.off_vertical(acc, norm, biased, bias, 0, n, dt, 1e4, 0.98),
                               want, atol=1e-12)
    assert want[40:60].min() > 0.015  # sqrt(1.04) - 1: 0.2 g sideways
    assert not kernels.off_vertical(acc, norm, raw, _NO_BIAS, 0, n, dt, 40.0**2, 0.98).any()
    raw[50, 4] = np.nan
    assert not kernels.off_vertical(acc, norm, raw, _NO_BIAS, 0, n, dt, 1e4, 0.98).any()
