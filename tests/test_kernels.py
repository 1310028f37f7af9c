"""The compiled kernels of the live path (``sensor.engine.kernels``) against the numpy/scipy
arithmetic they replace, and the properties the live engine relies on: chunking cannot change
a result, inputs of any layout are accepted, nothing compiles or reads a cache inside an event
loop."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from blockbuster import BlockBuster
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import butter, lfilter, sosfilt_zi

from sensor.engine import Engine, kernels
from sensor.engine.lockout import LockoutDetector
from sensor.engine.resample import GridBlock, GridResampler, resample_block
from sensor.events import LockoutReached
from sensor.samples import Samples
from sensor.simulate import simulate_session

RATE_HZ = 50.0
W = 15  # the detector's 0.3 s stillness window at 50 Hz


def _front_inputs(c: int, seed: int = 1) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 0.05, (300, c))
    values[:, 2] += 1.0
    sos = butter(2, 6.0, fs=RATE_HZ, output="sos")
    sos_s = butter(2, 2.5, fs=RATE_HZ, output="sos")
    return values, (sos, sos_s)


def _front_reference(values: np.ndarray, sos: np.ndarray, sos_s: np.ndarray) -> np.ndarray:
    """scipy's lfilter and numpy's window variance, on the whole block."""
    zi = sosfilt_zi(sos)[0][:, None] * values[0, :3][None, :]
    zi_s = sosfilt_zi(sos_s)[0][:, None] * values[0][None, :]
    lp, _ = lfilter(sos[0, :3], sos[0, 3:], values[:, :3], axis=0, zi=zi)
    ls, _ = lfilter(sos_s[0, :3], sos_s[0, 3:], values, axis=0, zi=zi_s)
    x = np.concatenate([np.repeat(values[:1], W - 1, axis=0), ls])
    var = sliding_window_view(x, W, axis=0).var(axis=2)
    act_a = var[:, :3].sum(axis=1)
    act_g = var[:, 3:6].sum(axis=1) if values.shape[1] == 6 else act_a
    norm = np.linalg.norm(lp, axis=1)
    norm_s = np.linalg.norm(ls[:, :3], axis=1)
    return np.column_stack(
        [lp, norm, lp / norm[:, None], norm_s, ls[:, :3] / norm_s[:, None], act_a, act_g]
    )


STEP = 50  # the noise floor is updated at grid indices that are multiples of this
HIST = 120  # ... from this many rows of activity history
K0 = 1007  # grid index of the first row


def _front_chunked(
    values: np.ndarray, sos: np.ndarray, sos_s: np.ndarray, size: int
) -> np.ndarray:
    zi = sosfilt_zi(sos)[0][:, None] * values[0, :3][None, :]
    zi_s = sosfilt_zi(sos_s)[0][:, None] * values[0][None, :]
    tail = np.repeat(values[:1], W - 1, axis=0)
    ba = (sos[0, :3].copy(), sos[0, 3:].copy(), sos_s[0, :3].copy(), sos_s[0, 3:].copy())
    hist = np.zeros((2, HIST))
    par = np.zeros(kernels.PAR_SIZE)
    par[[kernels.P_FLOOR_STEP, kernels.P_STILL_RATIO, kernels.P_ACC_MIN, kernels.P_GYRO_MIN,
         kernels.P_FLOOR_A_MIN, kernels.P_FLOOR_G_MIN]] = [STEP, 6.0, 1e-4, 0.5, 1e-7, 0.002]
    st = np.zeros(kernels.ST_SIZE)
    st[[kernels.S_THR_A, kernels.S_THR_G]] = [-1.0, -2.0]  # before the first floor
    out = [
        kernels.lockout_front(values[i : i + size], K0 + i, *ba, zi, zi_s, tail, hist, par, st)
        for i in range(0, values.shape[0], size)
    ]
    return np.vstack(out)


@pytest.mark.parametrize("channels", [3, 6])
def test_lockout_front_is_lfilter_and_the_window_variance(channels: int) -> None:
    values, (sos, sos_s) = _front_inputs(channels)
    got = _front_chunked(values, sos, sos_s, 300)
    ref = _front_reference(values, sos, sos_s)
    assert got.shape == (300, kernels.SIG_COLS)
    # the filters: lfilter's arithmetic exactly
    lp = slice(kernels.SIG_LP, kernels.SIG_LP + 3)
    assert np.array_equal(got[:, lp], ref[:, lp])
    # the rest to rounding (numpy sums the window in another order)
    assert np.allclose(got[:, : kernels.SIG_THR], ref, rtol=1e-9, atol=1e-15)


def test_lockout_front_thresholds_follow_the_noise_floor() -> None:
    """At each multiple of STEP the floor becomes the 10th percentile (lower) of the last
    HIST rows of activity before it; the threshold is 6 x that, or the minimum."""
    values, (sos, sos_s) = _front_inputs(6, seed=5)
    values[150:] *= 0.1  # quieter from row 150: the floor drops once the history shows it
    got = _front_chunked(values, sos, sos_s, 300)
    act = got[:, kernels.SIG_ACT : kernels.SIG_ACT + 2]
    expected = np.empty((300, 2))
    thr = np.array([-1.0, -2.0])
    for r in range(300):
        if (K0 + r) % STEP == 0 and r > 0:
            hist = act[max(0, r - HIST) : r]
            floor = np.sort(hist, axis=0)[(hist.shape[0] - 1) // 10]
            thr = np.maximum(6.0 * np.maximum(floor, [1e-7, 0.002]), [1e-4, 0.5])
        expected[r] = thr
    assert np.array_equal(got[:, kernels.SIG_THR : kernels.SIG_THR + 2], expected)
    assert expected[-1, 0] < expected[140, 0] / 10  # the quiet rows lowered the floor
    assert expected[-1, 1] == 0.5  # the gyro's at its minimum


@pytest.mark.parametrize("size", [1, 4, 14, 15, 16, 97])
def test_lockout_front_does_not_depend_on_the_chunking(size: int) -> None:
    values, (sos, sos_s) = _front_inputs(6, seed=2)
    whole = _front_chunked(values, sos, sos_s, values.shape[0])
    assert np.array_equal(_front_chunked(values, sos, sos_s, size), whole)


def _jittered_input(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """~100 Hz with jitter, a duplicated time stamp, a 1.5 s gap and a 12.5 Hz stretch."""
    rng = np.random.default_rng(seed)
    t = np.concatenate([
        0.013 + np.arange(300) / 100.0 + rng.uniform(-0.002, 0.002, 300),
        4.5 + np.arange(100) / 12.5,
        12.6 + np.arange(200) / 100.0,
    ])
    t = np.sort(np.concatenate([t, t[[50]]]))
    return t, rng.normal(size=(t.size, 6))


def _bincount_reference(
    t: np.ndarray, v: np.ndarray, k_from: int, k_to: int
) -> tuple[np.ndarray, np.ndarray]:
    """The numpy version: triangle weights by bincount, np.interp where too few samples."""
    n = k_to - k_from
    tg = np.arange(k_from, k_to) / RATE_HZ
    pos = t * RATE_HZ - k_from
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    weights, counts, sums = np.zeros(n), np.zeros(n), np.zeros((n, v.shape[1]))
    for idx, w in ((lo, 1.0 - frac), (lo + 1, frac)):
        ok = (idx >= 0) & (idx < n) & (w > 0)
        weights += np.bincount(idx[ok], w[ok], n)
        counts += np.bincount(idx[ok], None, n)
        for j in range(v.shape[1]):
            sums[:, j] += np.bincount(idx[ok], v[ok, j] * w[ok], n)
    out = sums / np.maximum(weights, 0.5)[:, None]
    sparse = ~((counts >= 2) & (weights >= 0.5))
    for j in range(v.shape[1]):
        out[sparse, j] = np.interp(tg[sparse], t, v[:, j])
    return out, sparse


def test_resample_rows_is_the_bincount_mean_or_the_interpolation() -> None:
    t, v = _jittered_input(3)
    k_from, k_to = 1, int(t[-1] * RATE_HZ)
    out, gap = kernels.resample_rows(t, v, k_from, k_to - k_from, RATE_HZ, 1.0)
    ref, sparse = _bincount_reference(t, v, k_from, k_to)
    assert sparse.sum() > 30  # the 12.5 Hz stretch and the gap are interpolated
    assert np.array_equal(out, ref)
    tg = np.arange(k_from, k_to) / RATE_HZ
    before = t[t < 4.5].max()  # the only gap over 1 s: from there to 4.5 s
    assert np.array_equal(gap, (tg > before) & (tg <= 4.5))
    assert gap.sum() == 75


@pytest.mark.parametrize(
    ("t", "k_from", "k_to"),
    [
        (np.arange(40) / 12.5, 0, 312),  # on the grid every 8th point: at a sample exactly
        (0.105 + np.arange(30) / 25.0, 0, 140),  # grid points before the first, after the last
        (np.repeat(np.arange(20) / 10.0, 2), 0, 190),  # every time twice
    ],
)
def test_resample_rows_interpolates_as_numpy_at_the_edges(
    t: np.ndarray, k_from: int, k_to: int
) -> None:
    v = np.random.default_rng(5).normal(size=(t.size, 6))
    out, _ = kernels.resample_rows(t, v, k_from, k_to - k_from, RATE_HZ, 1.0)
    ref, sparse = _bincount_reference(t, v, k_from, k_to)
    assert sparse.sum() > 100
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("size", [1, 3, 10, 64, 700])
def test_streamed_grid_is_the_whole_block_and_reads_any_layout(size: int) -> None:
    t, v = _jittered_input(4)
    acc = np.asfortranarray(v[:, :3])  # not C-contiguous
    gyro = v[:, 3:].copy()
    gyro.flags.writeable = False  # read-only, as from np.frombuffer
    rs = GridResampler(RATE_HZ, 1.0)
    blocks = [rs.push(c) for c in Samples(t, acc, gyro).chunks(size)]
    blocks.append(rs.flush())
    got = [b for b in blocks if b is not None]
    k = np.concatenate([b.k for b in got])
    assert np.array_equal(k, np.arange(k[0], k[-1] + 1))
    whole = resample_block(t, v, int(k[0]), int(k[-1]) + 1, RATE_HZ, 1.0)
    assert np.array_equal(np.vstack([b.values for b in got]), whole.values)
    assert np.array_equal(np.concatenate([b.gap for b in got]), whole.gap)


def test_samples_back_in_time_are_dropped() -> None:
    t = np.arange(200) / 100.0
    v = np.column_stack([np.sin(t), np.cos(t), t])
    rs = GridResampler(RATE_HZ, 1.0)
    first = rs.push(Samples(t[:100], v[:100]))
    stale = rs.push(Samples(t[90:95], v[90:95] + 5.0))  # a resent packet: all before t[99]
    rest = rs.push(Samples(t[100:], v[100:]))
    assert stale is None
    assert first is not None
    assert rest is not None
    ref = resample_block(t, v, int(first.k[0]), int(rest.k[-1]) + 1, RATE_HZ, 1.0)
    assert np.array_equal(np.vstack([first.values, rest.values]), ref.values)


def test_a_time_that_is_not_finite_is_refused() -> None:
    t = np.arange(10) / 100.0
    t[4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        GridResampler(RATE_HZ, 1.0).push(Samples(t, np.zeros((10, 3))))


def test_kernels_refuse_other_types_instead_of_compiling() -> None:
    bad_times: Any = np.arange(5)  # integers: the wrong type on purpose
    with pytest.raises(TypeError):
        kernels.resample_rows(bad_times, np.zeros((5, 3)), 0, 2, RATE_HZ, 1.0)


def test_detector_refuses_a_block_that_changes_its_channels() -> None:
    det = LockoutDetector(RATE_HZ)
    k = np.arange(10, dtype=np.int64)
    det.push(GridBlock(k, np.tile([0.0, 0.0, 1.0, 0.0, 0.0, 0.0], (10, 1)), np.zeros(10, bool)))
    with pytest.raises(ValueError, match="gyro"):
        det.push(GridBlock(k + 10, np.tile([0.0, 0.0, 1.0], (10, 1)), np.zeros(10, bool)))
    with pytest.raises(ValueError, match="columns"):
        LockoutDetector(RATE_HZ).push(GridBlock(k, np.ones((10, 4)), np.zeros(10, bool)))


async def test_live_engine_does_no_blocking_io_in_the_event_loop(
    no_blocking: BlockBuster,
) -> None:
    """The kernels were compiled or loaded at import: a session fed on the loop opens no
    cache file and compiles nothing."""
    samples, truth = simulate_session(5)
    engine = Engine()
    lockouts = 0
    for chunk in samples.chunks(40):
        lockouts += sum(isinstance(e, LockoutReached) for e in engine.feed(chunk))
        await asyncio.sleep(0)
    engine.finish()
    assert lockouts >= 0.8 * sum(s["rep_count"] for s in truth["sets"])


@pytest.mark.parametrize("kind", ["spread", "ties", "signed", "nan"])
def test_kth_smallest_is_the_partition_whatever_the_guess(kind: str) -> None:
    """The noise floor's selection from the last floor: np.partition's value for any guess
    (the answer, near it, far off, infinite, NaN), with ties and NaN in the history."""
    rng = np.random.default_rng(["spread", "ties", "signed", "nan"].index(kind))
    for _ in range(200):
        m = int(rng.integers(1, 400))
        x = {"spread": rng.exponential(1.0, (2, m + 3)),
             "ties": rng.integers(0, 4, (2, m + 3)).astype(float),
             "signed": rng.normal(size=(2, m + 3)),
             "nan": rng.exponential(1.0, (2, m + 3))}[kind]
        if kind == "nan":
            x[1, rng.integers(0, m)] = np.nan
        kth = int(rng.integers(0, m)) if rng.random() < 0.3 else (m - 1) // 10
        for col in (0, 1):
            ref = np.partition(x[col, :m].copy(), kth)[kth]
            near = np.sort(x[col, :m])[min(m - 1, kth + 3)]
            for guess in (ref, near, 0.0, np.inf, -np.inf, np.nan, float(rng.normal())):
                kernels._kth_smallest(x, m, col, kth, 1e300)  # scratch memory not the answer
                got = kernels._kth_smallest(x, m, col, kth, guess)
                assert got == ref or (np.isnan(got) and np.isnan(ref)), (m, kth, guess)


@pytest.mark.parametrize("size", [1, 10, 37, 400])
def test_resampling_and_detecting_in_one_call_is_the_same_as_in_two(size: int) -> None:
    """``push_into`` with the detector's kernel arguments (one compiled call, then
    ``scanned``) gives the same rows, events and detector state as ``push_into`` then
    ``push_values``, including blocks too long for the detector's buffer (SCAN_NO_ROOM)."""
    samples, _ = simulate_session(5, rate_hz=100.0)
    samples = samples.slice(0, 12_000)
    out = []
    for fused in (False, True):
        rs, det = GridResampler(RATE_HZ, 1.0), LockoutDetector(RATE_HZ)
        rows, gap = np.full((10_000, 6), np.nan), np.zeros(10_000, dtype=bool)
        at, events, no_room = 0, [], 0
        for chunk in samples.chunks([size, 3 * size, 700]):  # 700: more rows than _sig has
            args = det.kernel_args() if fused else None
            k0, n, i, what = rs.push_into(chunk, rows, gap, at, args)
            assert n >= 0
            if not n:
                continue
            if args is None or what == kernels.SCAN_NO_ROOM:
                no_room += what == kernels.SCAN_NO_ROOM
                events += det.push_values(k0, rows[at : at + n])
            else:
                events += det.scanned(k0, n, i, what)
            at += n
        assert not fused or no_room > 0
        out.append((rows[:at].copy(), events, det._st.copy(), det._par.copy()))
    (rows_a, ev_a, st_a, par_a), (rows_b, ev_b, st_b, par_b) = out
    assert len(ev_a) > 5
    assert np.array_equal(rows_a, rows_b)
    assert ev_a == ev_b
    assert np.array_equal(st_a, st_b, equal_nan=True)
    assert np.array_equal(par_a, par_b)


@pytest.mark.parametrize(("size", "room"), [(1, 1), (3, 2), (10, 7), (64, 50), (700, 1)])
def test_grid_written_into_a_buffer_is_the_pushed_grid(size: int, room: int) -> None:
    """``push_into`` writes what ``push`` returns; when the points do not fit it changes
    nothing and says how many rows it needs (here the buffer grows only by that much)."""
    t, v = _jittered_input(6)
    ref_rs, rs = GridResampler(RATE_HZ, 1.0), GridResampler(RATE_HZ, 1.0)
    rows, gap = np.full((room, 6), np.nan), np.zeros(room, dtype=bool)
    at = 0
    refused = 0
    k_first = None
    for chunk in Samples(t, v[:, :3], v[:, 3:]).chunks(size):
        ref_rs.push(chunk)
        k_from, n, _, _ = rs.push_into(chunk, rows, gap, at)
        if n < 0:
            refused += 1
            assert rows.shape[0] - at < -n  # it did not fit
            rows = np.vstack([rows, np.full((-n, 6), np.nan)])
            gap = np.concatenate([gap, np.zeros(-n, dtype=bool)])
            k_from, n, _, _ = rs.push_into(chunk, rows, gap, at)
        assert n >= 0
        if n:
            assert k_from == (k_first if k_first is not None else k_from) + at
            k_first = k_from - at
        at += n
    assert refused > 0
    assert k_first is not None
    whole = resample_block(t, v, k_first, k_first + at, RATE_HZ, 1.0)
    assert np.array_equal(rows[:at], whole.values)
    assert np.array_equal(gap[:at], whole.gap)
    assert rs._next_k == ref_rs._next_k
