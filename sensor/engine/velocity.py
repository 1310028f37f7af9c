"""Stage 2: vertical speed from grid samples, with no assumption about the sensor's axes.

- The vertical specific force is the norm of the low-passed accelerometer minus gravity:
  ``|g + a| = g + a_z`` to first order, whatever the orientation (error ``a_h^2 / 2g``).
  With a gyro, that second-order error is taken off within each motion: gravity's direction
  is carried through the motion by the gyro from both of its ends (``kernels.off_vertical``).
- Stillness is detected on the low-passed accelerometer (and gyro when present) against a
  noise floor learnt from the quietest moments of the recording so far.
- Between two still periods, the vertical acceleration is integrated to speed and the speed
  forced back to zero at both ends (zero-velocity update, linear de-drift); the gravity
  baseline is interpolated between the two still periods, so a bias that changes with the
  sensor's orientation largely cancels.

Signs: speed is positive upwards, in m/s. Everything is computed incrementally with fixed
look-ahead, so chunked and whole input give the same numbers.
"""

from __future__ import annotations

import bisect
import functools
import math
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray
from scipy.linalg import lapack
from scipy.signal import firwin

from sensor.engine import kernels
from sensor.engine.options import EngineParams
from sensor.samples import FloatArray

GRAVITY_MPS2 = 9.80665
GRAVITY_RIDGE = EngineParams.gravity_ridge  # fit_gravity_error's default ridge
_DEFAULT_FLOOR_ACC = 1.5e-6  # g^2: about 1.2 mg rms after the low-pass
_LEVEL_BIN_S = 0.25  # the level test's bins (s): medians of the norm, directions
_MIN_FLOOR_ACC = 1e-7
_DEFAULT_FLOOR_GYRO = 0.05  # (deg/s)^2
_MIN_FLOOR_GYRO = 0.002
_SOLVE_EPS = 1e-12 * np.eye(4)  # keeps the normal equations regular
_NO_OBS = np.empty((0, 5))
_NO_GYRO = np.empty((0, 3))
_NO_BIAS = np.zeros(3)  # deg/s: no gyro bias learnt yet


class _Buffer:
    """An append-only 1-D or 2-D array with amortised O(1) appends."""

    dtype: type = np.float64

    def __init__(self, width: int = 0) -> None:
        shape = (1024, width) if width else (1024,)
        self._a: NDArray[Any] = np.zeros(shape, dtype=self.dtype)
        self.n = 0

    def append(self, x: NDArray[Any]) -> None:
        need = self.n + x.shape[0]
        if need > self._a.shape[0]:
            self._grow(need)
        self._a[self.n : need] = x
        self.n = need

    def room(self, extra: int) -> NDArray[Any]:
        """The backing array, with room for at least ``extra`` rows after the first ``n``
        (a writer fills them in place, then adds to ``n``)."""
        if self.n + extra > self._a.shape[0]:
            self._grow(self.n + extra)
        return self._a

    def _grow(self, need: int) -> None:
        # headroom: a big block is usually followed by a few small ones (the flush)
        cap = max(need + need // 8, 2 * self._a.shape[0])
        new = np.empty((cap, *self._a.shape[1:]), dtype=self._a.dtype)  # [n:] unread
        new[: self.n] = self._a[: self.n]
        self._a = new


class Growable(_Buffer):
    """Floats."""

    @property
    def data(self) -> FloatArray:
        return self._a[: self.n]


class GrowableMask(_Buffer):
    """Booleans."""

    dtype = np.bool_

    @property
    def data(self) -> NDArray[np.bool_]:
        return self._a[: self.n]


def lowpass_kernel(taps: int, cutoff_hz: float, rate_hz: float) -> FloatArray:
    """Linear-phase FIR low-pass taps (odd length, so it is centred: zero delay)."""
    return np.asarray(firwin(taps, cutoff_hz, fs=rate_hz))


def centred_pad(k: FloatArray, taps: int) -> FloatArray:
    """Zero-pad a centred kernel to ``taps`` (odd) taps, still centred."""
    extra = (taps - k.size) // 2
    return np.pad(k, extra)


def fit_gravity_error(obs: FloatArray, ridge: float = GRAVITY_RIDGE) -> FloatArray:
    """Fit ``|m| - 1 = c0 + c . u`` to still observations ``obs`` rows (ux, uy, uz, err, w).

    The accelerometer's bias and scale errors make the measured norm of gravity depend on
    the orientation; to first order the dependence is linear in the gravity direction ``u``.
    Ridge-regularised, so with one orientation seen the slope stays near zero.
    Returns (c0, cx, cy, cz).
    """
    # called once per motion on a few dozen rows: plain array ops, no per-call helpers
    u, e, w = obs[:, :3], obs[:, 3], obs[:, 4]
    u_mean = np.add.reduce(u, axis=0) / u.shape[0]
    x = np.empty((u.shape[0], 4))
    x[:, 0] = 1.0
    np.subtract(u, u_mean, out=x[:, 1:])
    xw_t = (x * w[:, None]).T
    a = xw_t @ x + _ridge_diag(ridge) * np.add.reduce(w)
    coef = _solve(a + _SOLVE_EPS, xw_t @ e)
    out = coef.copy()
    out[0] = coef[0] - coef[1:] @ u_mean
    return out


@functools.cache
def _ridge_diag(ridge: float) -> FloatArray:
    """diag(0, ridge, ridge, ridge); shared, never written to."""
    return np.diag([0.0, ridge, ridge, ridge])


def _solve(a: FloatArray, b: FloatArray) -> FloatArray:
    """``np.linalg.solve`` for one small system: the same LAPACK routine (gesv), called
    directly (numpy's wrapper costs more than the solve)."""
    _, _, x, info = lapack.dgesv(a, b)
    if info != 0:
        raise np.linalg.LinAlgError("Singular matrix")
    return np.asarray(x, dtype=np.float64)


def edge_rows(a: FloatArray, lo: int, hi: int) -> FloatArray:
    """Rows ``lo <= i < hi`` of ``a`` (n, c) as channel rows (c, hi - lo), contiguous;
    indices outside ``[0, n)`` repeat the first or last row."""
    n = a.shape[0]
    if lo >= n or hi <= 0:  # nothing in range: every row is an end row
        return np.ascontiguousarray(a[np.clip(np.arange(lo, hi), 0, n - 1)].T)
    out = np.empty((a.shape[1], hi - lo))
    a0, a1 = max(lo, 0), min(hi, n)
    out[:, a0 - lo : a1 - lo] = a[a0:a1].T
    out[:, : a0 - lo] = a[0][:, None]
    out[:, a1 - lo :] = a[n - 1][:, None]
    return out


_FIR_BLOCK = 48  # outputs per row of the block product (a good size for BLAS)
_BLAS_ONE_THREAD = 200_000  # m * n * k under OpenBLAS's threshold for threading a product


def centred_fir(x: FloatArray, kernel: FloatArray) -> FloatArray:
    """Filter channel rows x (c, n + 2h) with a centred kernel of 2h + 1 taps -> (c, n).

    Direct convolution as one matrix product: blocks of ``_FIR_BLOCK`` outputs are the
    block's inputs times a banded (Toeplitz) matrix of the kernel. Equal to the plain sums
    of products to rounding (~1e-16 relative), however the input was chunked.
    """
    c, m = x.shape
    taps = kernel.size
    n = m - taps + 1
    if n <= 0:
        return np.empty((c, 0))
    b = _FIR_BLOCK
    nb = -(-n // b)
    width = b + taps - 1
    xp = np.zeros((c, nb * b + taps - 1))  # whole blocks: zeros past the end
    xp[:, :m] = x
    s0, s1 = xp.strides
    windows = as_strided(xp, shape=(c, nb, width), strides=(s0, b * s1, s1), writeable=False)
    rows = windows.reshape(c * nb, width)
    t = _toeplitz(kernel.tobytes(), b)
    y = np.empty((c * nb, b))
    # small products: BLAS keeps each on one thread (threads fighting over a busy core cost
    # far more than they save on a product this size)
    step = max(1, _BLAS_ONE_THREAD // (width * b))
    for r in range(0, c * nb, step):
        np.matmul(rows[r : r + step], t, out=y[r : r + step])
    return np.asarray(y.reshape(c, nb * b)[:, :n])


@functools.cache
def _toeplitz(kernel_bytes: bytes, b: int) -> FloatArray:
    """(b + taps - 1, b) matrix whose column i holds the reversed kernel from row i."""
    k = np.frombuffer(kernel_bytes)[::-1]
    t = np.zeros((b + k.size - 1, b))
    cols = np.arange(b)
    t[cols[None, :] + np.arange(k.size)[:, None], cols[None, :]] = k[:, None]
    t.flags.writeable = False
    return t


def integrate_segment(accel_mps2: FloatArray, dt_s: float) -> FloatArray:
    """Vertical speed (m/s, up positive) over a motion between two still periods.

    ``accel_mps2`` is the vertical acceleration during the motion. The speed is zero just
    before and just after (a linear de-drift spreads the residual over the motion).
    """
    return kernels.integrate_segment(accel_mps2, dt_s)


def rest_to_rest_speed(norm_g: FloatArray, still: NDArray[np.bool_], dt_s: float) -> FloatArray:
    """Vertical speed (m/s, up positive) over a window that starts and ends at rest, from the
    norm of the low-passed acceleration (g) alone, with no zero-velocity update inside.

    For a sensor that barely turns over the window (a bar): gravity is the median norm of
    its ``still`` samples (of all of them when none are), and a constant error in it is
    taken out by the speed being zero at both ends. This sees a move so slow that the
    stillness test took it for rest.
    """
    ref = norm_g[still] if still.any() else norm_g
    return integrate_segment((norm_g - float(np.median(ref))) * GRAVITY_MPS2, dt_s)


def rest_to_rest_speed_tilted(
    acc_g: FloatArray, norm_g: FloatArray, still: NDArray[np.bool_], lo: int, hi: int, *,
    dt_s: float, params: EngineParams,
) -> FloatArray:
    """``rest_to_rest_speed`` over the window ``lo .. hi - 1`` of the low-passed acceleration
    ``acc_g`` (n, 3) in g (``norm_g`` its norm), for a sensor that tilts: gravity is what
    the still samples of ``still`` (n,) in and around the window read in each sample's
    orientation (the local error model, fitted on these alone).

    Neither reading is the better one everywhere. Still samples inside the move (the very
    reason it needs reading again) pull this fit towards the move's own acceleration, so
    it tends to read the move short, and one gravity for a tilting sensor tends to read it
    long.
    """
    before_n, after_n, gap_n = gravity_rest_spans(params)
    _, accel = kernels.gravity_accel(
        acc_g, norm_g, still, _NO_OBS, lo, hi, before_n, after_n, gap_n, 0,
        params.gravity_local_deg, params.gravity_ridge)
    return integrate_segment(accel, dt_s)


def gravity_rest_spans(params: EngineParams) -> tuple[int, int, int]:
    """Grid samples of the rests that a motion's gravity fit reads: before the motion
    (``baseline_s``), after it (no more than ``min_rest_s``, so the rest is there as soon as
    it counts), and the gap between the motion and each (``gravity_obs_gap_s``)."""
    rate_hz = params.grid_rate_hz
    before_n = max(1, round(params.baseline_s * rate_hz))
    after_n = min(before_n, max(1, round(params.min_rest_s * rate_hz)))
    return before_n, after_n, round(params.gravity_obs_gap_s * rate_hz)


class VelocityTracker:
    """Streaming: grid samples in, vertical speed out once it is final.

    Buffers (indexed by grid sample since the start): ``acc_lp`` (n, 3) in g, ``norm`` (n,),
    ``still`` (n,), ``speed`` (n,) in m/s. ``n_final`` counts the samples whose speed is final.
    """

    def __init__(self, params: EngineParams, with_gyro: bool) -> None:
        self.p = params
        self.dt_s = 1.0 / params.grid_rate_hz
        self.with_gyro = with_gyro
        k_speed = lowpass_kernel(params.lowpass_taps, params.lowpass_cutoff_hz, params.grid_rate_hz)
        k_still = lowpass_kernel(params.still_taps, params.still_cutoff_hz, params.grid_rate_hz)
        taps = max(k_speed.size, k_still.size)
        # both filters in one pass: columns (x, kernel) pairs share the look-ahead
        self.kernels = (centred_pad(k_speed, taps), centred_pad(k_still, taps))
        self.k_speed = k_speed
        self.h_speed = k_speed.size // 2
        self.h = taps // 2
        self.wh = max(1, round(params.rest_window_s * params.grid_rate_hz / 2))
        self.block = max(1, round(params.noise_block_s * params.grid_rate_hz))
        self.min_rest = max(1, round(params.min_rest_s * params.grid_rate_hz))
        self.cos_still_turn = float(np.cos(np.radians(params.still_turn_deg)))
        self.cos_turn = float(np.cos(np.radians(params.zupt_turn_deg)))
        self.cos_gyro_miss = float(np.cos(np.radians(params.gyro_track_deg)))
        self.max_rate2 = params.gyro_track_dps**2
        self.cos_level_away = float(np.cos(np.radians(params.still_level_away_deg)))
        self.cos_level_near = float(np.cos(np.radians(params.still_level_near_deg)))
        self.cos_level_quiet = float(np.cos(np.radians(params.still_level_quiet_turn_deg)))
        self.cos_level_still = float(np.cos(np.radians(params.still_level_steady_back_turn_deg)))
        self.cos_level_steady = float(np.cos(np.radians(params.still_level_steady_deg)))
        self.nb, self.nb_after, self.obs_gap = gravity_rest_spans(params)
        self.recent_n = max(1, round(params.zupt_recent_s * params.grid_rate_hz))
        self.edge_n = round(params.motion_edge_s * params.grid_rate_hz)
        self.settled_n = round(params.zupt_settled_s * params.grid_rate_hz)
        self.onward_n = max(1, round(params.zupt_onward_s * params.grid_rate_hz))
        self.raw = Growable(6 if with_gyro else 3)
        self.gap = GrowableMask(0)
        self.acc_lp = Growable(3)
        self.acc_still = Growable(3)
        self.norm_still = Growable(0)
        self.gyro_lp = Growable(3)
        self.obs = _NO_OBS  # still observations, rows (ux, uy, uz, err_g, weight)
        # the last uncommitted _accel: ((s, e, n, sideways), the pool it would keep, the accel)
        self._accel_cache: tuple[tuple[int, int, int, bool], FloatArray, FloatArray] | None = None
        self.norm = Growable(0)
        self._filtered = (self.acc_lp, self.acc_still, self.norm_still, self.norm,
                          *((self.gyro_lp,) if with_gyro else ()))  # filled together
        self.act_a = Growable(0)
        self.act_n = Growable(0)
        self.quiet = GrowableMask(0)  # act_n under hold_quiet_g2: at most trembling
        self.turn_cos = Growable(0)  # cos of the turn across each rest window
        self.act_g = Growable(0)
        self.dev = Growable(0)
        self.bin_med = Growable(0)
        self.bin_shape = Growable(kernels.BIN_COLS)  # per bin: direction, norm variance, turn
        self.level_bin = max(1, round(_LEVEL_BIN_S * params.grid_rate_hz))
        self.level_bins = 8
        self.level_rest_back = round(params.still_level_rest_s / _LEVEL_BIN_S)
        self.level_steady_back = max(self.level_bins,
                                     round(params.still_level_steady_s / _LEVEL_BIN_S))
        self._last_rest_ref = np.array([-1.0, math.nan])  # (level_deviation_rest's cache)
        self.still = GrowableMask(0)
        self.speed = Growable(0)
        self.k0: int | None = None  # absolute grid index of sample 0
        self.floor_a = np.inf
        self.floor_g = np.inf
        self.gyro_bias: FloatArray | None = None  # deg/s, learnt at the still moments
        self._bias_ends: list[int] = []  # each learnt bias (deg/s) and the end of its block
        self._biases: list[FloatArray] = []
        self._still_raw = GrowableMask(0)
        self.long_still = GrowableMask(0)
        self.finished = False
        self._due_n = 0  # raw.n at which the next noise block is due (see _due_raw_n)

    @property
    def n_final(self) -> int:
        return self.speed.n

    @property
    def _k0(self) -> int:
        if self.k0 is None:
            raise RuntimeError("no grid samples yet")
        return self.k0

    def t_of(self, i: float) -> float:
        """Time (s) of a (fractional) sample index."""
        return (self._k0 + i) * self.dt_s

    def push(self, k: NDArray[np.int64], values: FloatArray, gap: NDArray[np.bool_]) -> None:
        n = k.size
        if n == 0:
            return
        rows, flags, at = self.grid_buffers(n)
        rows[at : at + n] = values
        flags[at : at + n] = gap
        self.grid_written(int(k[0]), n)

    def grid_buffers(self, extra: int = 0) -> tuple[FloatArray, NDArray[np.bool_], int]:
        """Where the next grid samples go, for a writer that fills them in place: the raw
        values' buffer (rows, c), the gap flags' (rows,), with room for ``extra`` more rows
        at least, and the row to write at. ``grid_written`` then takes them in."""
        if extra:
            return self.raw.room(extra), self.gap.room(extra), self.raw.n
        return self.raw._a, self.gap._a, self.raw.n  # (as room(0), without the calls)

    def grid_written(self, k_from: int, n: int) -> None:
        """``push`` for ``n`` grid samples (grid index ``k_from`` on) already written into
        ``grid_buffers``."""
        if self.k0 is None:
            self.k0 = k_from
            self._due_n = self._due_raw_n()
        self.raw.n += n
        self.gap.n += n
        if self.raw.n >= self._due_n:
            self._advance(final=False)

    def _due_raw_n(self) -> int:
        """The raw sample count at which the samples can complete the next noise block. Until
        one completes, stillness and everything after it wait, so filtering and activity wait
        too (one pass per block, not per push; the speed and stillness come out at the same
        push as before). Depends on the stages' progress only, so it is kept until the next
        ``_advance`` (``_due_n``).

        The block is due once ``n_act >= first_end``, where ``n_lp = max(acc_lp.n, raw.n - h)``
        samples can be filtered and ``n_act = max(act_a.n, min(n_lp - wh,
        (n_lp // bin - bins) * bin))`` can have their activity; both grow with ``raw.n``.
        """
        k0, done = self._k0, self._still_raw.n
        first_end = ((k0 + done) // self.block + 1) * self.block - k0
        if self.act_a.n >= first_end:
            return 0
        b, k = self.level_bin, self.level_bins
        need_lp = max(first_end + self.wh, b * (k - (-first_end // b)))  # ceil(first_end / b)
        return 0 if self.acc_lp.n >= need_lp else need_lp + self.h

    def finish(self) -> None:
        self._advance(final=True)
        self.finished = True

    # -- stages -------------------------------------------------------------------------

    def _advance(self, final: bool) -> None:
        self._filter(final)
        self._activity(final)
        self._stillness(final)
        self._integrate(final)
        self._due_n = self._due_raw_n()

    def _filter(self, final: bool) -> None:
        raw = self.raw.data
        n_raw = raw.shape[0]
        start = self.acc_lp.n
        stop = n_raw if final else n_raw - self.h
        if stop <= start:
            return
        x = edge_rows(raw, start - self.h, stop + self.h)  # edges: repeat the end samples
        trim = self.h - self.h_speed  # the speed kernel is shorter: skip its padding
        y = centred_fir(x[:3, trim : x.shape[1] - trim], self.k_speed)
        ys = centred_fir(x, self.kernels[1])
        n, at = y.shape[1], self.acc_lp.n
        gyro = self.gyro_lp.room(n) if self.with_gyro else _NO_GYRO  # (left empty without)
        kernels.filtered_rows_into(y, ys, self.acc_lp.room(n), self.acc_still.room(n),
                                   self.norm_still.room(n), gyro, self.norm.room(n), at)
        for b in self._filtered:
            b.n += n

    def _activity(self, final: bool) -> None:
        n_lp = self.acc_lp.n
        start = self.act_a.n
        b, k = self.level_bin, self.level_bins
        stop = n_lp if final else min(n_lp - self.wh, (n_lp // b - k) * b)
        if stop <= start:
            return
        # the edges repeat the end samples; the turn: the direction of gravity across the
        # window (a slow steady turn, a hip rising)
        gyro = self.gyro_lp.data if self.with_gyro else _NO_GYRO
        act = kernels.block_activity(self.acc_still.data, self.norm_still.data, gyro,
                                     start, stop, self.wh)
        self.act_a.append(act[kernels.ACT_A])
        act_n = act[kernels.ACT_N]
        self.act_n.append(act_n)
        self.quiet.append(act_n < self.p.hold_quiet_g2)
        self.turn_cos.append(act[kernels.ACT_TURN])
        self.dev.append(self._level_deviation(start, stop, final))
        if self.with_gyro:
            self.act_g.append(act[kernels.ACT_G])

    def _level_deviation(self, start: int, stop: int, final: bool) -> FloatArray:
        """|norm - typical norm of the surrounding seconds| (g): a constant acceleration has
        no variance but is not still. The typical norm is the median of 0.25 s bin medians
        within about +-2 s (bins counted from the first sample, so chunking cannot move them).
        Where the sensor points the way they do, the reference is the level that at least
        ``still_level_rest_bins`` bins pointing its way hold within ``still_level_steady_g``
        over the last ``still_level_rest_s`` (``kernels.level_deviation_rest``), if any: the
        median is a move's level when a set's rests are short (a slow descent's first
        10-20 mg then read as rest, and its hold as motion). A sensor's scale and bias
        errors read gravity's norm a few mg differently in each orientation, so where the
        sensor has turned from them:
        - more than ``still_level_steady_deg`` (a hip, 30 deg apart at the bottom and at the
          lockout), the level that at least ``still_level_steady_bins`` bins pointing its
          way hold within ``still_level_steady_g`` from ``still_level_steady_s`` before to
          about 2 s after, if any: a rest's (a set's earlier lockouts count; those before
          the 2 s must turn less than ``still_level_steady_back_turn_deg`` across);
        - else, more than ``still_level_away_deg`` (a curl's top), the median of their quiet
          bins pointing its way, if any.
        """
        b, k = self.level_bin, self.level_bins
        norm = self.norm_still.data
        n_full = norm.size // b
        j = self.bin_med.n
        acc = self.acc_still.data
        if n_full > j:
            self.bin_med.append(kernels.bin_medians(norm, j, n_full, b))
            self.bin_shape.append(kernels.bin_shapes(acc, norm, j * b, n_full * b, b))
        if final and norm.size > n_full * b and self.bin_med.n == n_full:
            self.bin_med.append(np.array([np.median(norm[n_full * b :])]))
            self.bin_shape.append(kernels.bin_shapes(acc, norm, n_full * b, norm.size, b))
        dev = kernels.level_deviation(norm, self.bin_med.data, start, stop, b, k)
        med, shape = self.bin_med.data, self.bin_shape.data
        if self.p.still_level_rest_bins > 0:
            kernels.level_deviation_rest(
                dev, self._last_rest_ref, norm, med, shape, start, b, k, self.level_rest_back,
                self.cos_level_steady, self.cos_level_near, self.cos_level_quiet,
                self.p.still_level_steady_g, self.p.still_level_rest_bins)
        kernels.level_deviation_turned(
            dev, acc, norm, med, shape, start, b, k, self.cos_level_away, self.cos_level_near,
            self.p.hold_quiet_g2, self.cos_level_quiet)
        kernels.level_deviation_steady(
            dev, norm, med, shape, start, b, k, self.level_steady_back, self.cos_level_steady,
            self.cos_level_near, self.cos_level_quiet, self.cos_level_still,
            self.p.still_level_steady_g, self.p.still_level_steady_bins)
        return dev

    def _block_p10(self, act: FloatArray, bounds: list[int]) -> FloatArray:
        """10th percentile of ``act`` in each block [bounds[i], bounds[i + 1])."""
        return kernels.block_percentiles(act, np.array(bounds, dtype=np.int64), 10 / 100)

    def _stillness(self, final: bool) -> None:
        """Decide stillness per noise block (the block's floor must be known first).

        The floor is the quietest block's 10th percentile of activity so far: the sensor's
        noise floor.
        """
        n_act = self.act_a.n
        done = self._still_raw.n
        if done >= n_act:
            return
        # blocks are aligned on the absolute grid, so chunking cannot move them
        k0 = self._k0
        first_end = ((k0 + done) // self.block + 1) * self.block - k0
        bounds = [done, *range(first_end, n_act + 1, self.block)]
        if final and bounds[-1] < n_act:
            bounds.append(n_act)
        if len(bounds) < 2:
            return
        end = bounds[-1]
        sizes = np.diff(bounds)
        rel = [b - done for b in bounds]
        p = self.p
        # the norm's activity says whether the sensor moves up or down (a sway of its
        # orientation does not change it); the vector's, whether it turns a lot
        act_n = self.act_n.data[done:end]
        thr_n = []
        for q in self._block_p10(act_n, rel).tolist():
            self.floor_a = max(_MIN_FLOOR_ACC, min(self.floor_a, q))
            floor = self.floor_a if np.isfinite(self.floor_a) else _DEFAULT_FLOOR_ACC
            thr_n.append(max(p.rest_ratio * floor, p.still_norm_min_g2))
        still = (
            (act_n < np.repeat(thr_n, sizes))
            & (self.act_a.data[done:end] < p.still_acc_min_g2)
            & (self.dev.data[done:end] < p.still_level_g)
            & (self.turn_cos.data[done:end] > self.cos_still_turn)
        )
        if self.with_gyro:
            actg = self.act_g.data[done:end]
            thr_g = []
            for q in self._block_p10(actg, rel).tolist():
                self.floor_g = max(_MIN_FLOOR_GYRO, min(self.floor_g, q))
                thr_g.append(max(p.rest_ratio * self.floor_g, p.still_gyro_min_dps2))
            still &= actg < np.repeat(thr_g, sizes)
            for lo, hi in pairwise(rel):  # the bias, block by block
                still[lo:hi] &= self._gyro_level_still(done + lo, done + hi, still[lo:hi])
        still |= self.gap.data[done:end]
        self._still_raw.append(still)

    def _gyro_level_still(
        self, lo: int, hi: int, still: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Is the gyro near its bias? A steady turn (a bar that tilts as it moves) has no
        variance but is not still. The bias (deg/s) is the median rate over the slowest quarter
        of this block's still samples when there are ``gyro_bias_min_s`` of them, else the
        last one.
        """
        gyro = self.gyro_lp.data[lo:hi]
        if np.count_nonzero(still) * self.dt_s >= self.p.gyro_bias_min_s:
            # the quarter turning least: a steady turn can pass every other test. Every
            # fifth sample is plenty: the gyro is low-passed at 3 Hz.
            bias = kernels.gyro_bias(gyro, still, 5)
            if bias.size:
                self.gyro_bias = bias
                self._bias_ends.append(hi)
                self._biases.append(bias)
        if self.gyro_bias is None:
            return np.ones(hi - lo, dtype=bool)
        return kernels.gyro_near(gyro, self.gyro_bias, self.p.still_gyro_level_dps**2)

    def _decide_runs(self, final: bool) -> None:
        """Drop still runs shorter than ``min_rest``; decisions are final once a run has ended
        (or has already reached ``min_rest`` samples)."""
        raw = self._still_raw.data
        n = raw.shape[0]
        p = self.long_still.n
        if p >= n:
            return
        self.long_still.append(kernels.long_runs(raw, p, self.min_rest, final))

    def _integrate(self, final: bool) -> None:
        """Zero speed when still; ZUPT-integrated speed over each motion between.

        A still run only anchors the speed at zero when the motion before it arrives there
        at (nearly) zero speed: the middle of a slow, steady descent has no acceleration to
        see, but it has speed. A motion's edges reach into the rests around it as long as
        its acceleration does (``_edges``), so the last ``edge_n`` samples of a rest wait
        until the next motion is known.
        """
        self._decide_runs(final)
        ls = self.long_still.data
        n = ls.shape[0]
        i = self.speed.n
        speed: list[FloatArray] = []  # the pieces, appended once at the end
        still: list[NDArray[np.bool_]] = []

        def rest_to(stop: int) -> None:
            nonlocal i
            if stop > i:
                speed.append(np.zeros(stop - i))
                still.append(np.ones(stop - i, dtype=bool))
                i = stop

        while i < n:
            start = i
            if ls[i]:
                j = kernels.next_index(ls, i, n, False)
                if j >= n:  # the rest goes on: its last samples may be the next motion's
                    rest_to(n if final else max(i, n - self.edge_n))
                    break
                start = max(i, j - self._edge_room(j - kernels.run_start(ls, j - 1)))
                rest_to(start)
            else:
                j = i  # a motion with no rest before it (the stream's start)
            close = self._find_rest(ls, j, n, final)
            edges = None if close is None else self._edges(start, j, close, final)
            if edges is None:
                break  # the motion has not ended yet
            s, e = edges
            rest_to(s)
            speed.append(self._close_segment(s, e))
            still.append(np.zeros(e - s, dtype=bool))
            i = e
        if speed:
            self.speed.append(np.concatenate(speed))
            self.still.append(np.concatenate(still))

    def _edges(self, lo: int, j: int, close: int, final: bool) -> tuple[int, int] | None:
        """The motion the stillness test saw as [j, close), with its edges: a slow move
        starts and ends with an acceleration too small to tell from rest (a few mg), but
        integrated it is speed. The motion starts at the first sample (from ``lo``) of the
        run of samples whose vertical acceleration has the sign of its first ones, and ends
        likewise, at most ``edge_n`` samples into the rest after it. None: the samples that
        decide the end are not all in yet."""
        ls = self.long_still.data
        n = ls.shape[0]
        hi = close
        if close < n:
            r_end = kernels.next_index(ls, close, n, False)
            if r_end >= n and not final and n < close + 2 * self.edge_n + self.min_rest:
                return None  # (how long the rest is decides how far the end may reach)
            hi = close + self._edge_room(r_end - close)
        if lo == j and hi == close:
            return j, close
        a = self._accel(lo, hi, commit=False, sideways=False)  # (~0 at its gentle edges)
        k = 3
        # under this, rest: noise and the gravity model's error, which grows with the motion
        peak = float(np.abs(a[j - lo : close - lo]).max()) if close > j else 0.0
        floor = max(self.p.motion_edge_g * GRAVITY_MPS2, self.p.motion_edge_fraction * peak)
        s = j - lo
        head = math.copysign(1.0, a[s : s + k].sum())
        while s > 0 and a[s - 1] * head > floor:
            s -= 1
        e = close - lo
        tail = math.copysign(1.0, a[max(0, e - k) : e].sum())
        while e < hi - lo and a[e] * tail > floor:
            e += 1
        return lo + s, lo + e

    def _edge_room(self, rest_n: int) -> int:
        """How far a motion's edge may reach into a rest of ``rest_n`` samples: ``edge_n``,
        and no more than its share (half) of what the rest has over ``min_rest``, so the
        rest still anchors the speed."""
        return max(0, min(self.edge_n, (rest_n - self.min_rest) // 2))

    def _find_rest(
        self, ls: NDArray[np.bool_], i: int, n: int, final: bool
    ) -> int | None:
        """The first still run after motion start ``i`` that the speed reaches at ~zero."""
        j = i
        while True:
            j = kernels.next_index(ls, j, n, True)
            if j >= n:
                return n if final else None
            end = kernels.next_index(ls, j, n, False)
            run_s = (end - j) * self.dt_s
            if (self._turned(i, j)  # a rotating sensor cannot look still while moving
                    or run_s >= self.p.zupt_long_rest_s  # nor stay still that long
                    or (j - i) * self.dt_s >= self.p.zupt_max_motion_s):  # no runaway drift
                return j
            if end >= n and not final:
                return None  # the run may still grow long enough
            v = np.cumsum(self._accel(i, j, commit=False)) * self.dt_s
            # at a real rest the speed is back near zero (drift aside); in the middle of a
            # steady move it is still about its peak
            recent = np.abs(v[-self.recent_n :]).max()
            limit = max(self.p.zupt_speed_mps, self.p.zupt_peak_fraction * recent)
            if abs(v[-1]) <= limit:
                return j
            if end >= n:  # not a rest: moving through it
                return n if final else None
            if 0 < self.settled_n <= end - j:
                # a long still run that the next motion leaves speeding up the way the speed
                # goes, by a level the stillness test calls motion, was a rest: the motion
                # before it was the braking half of a move whose gentle start read as rest
                # (a slow eccentric on a bar); a steady move brakes next. (The norm against
                # the run's last samples: gravity's reading right there.)
                norm = self.norm.data
                stop = end + self.onward_n
                if stop > norm.shape[0] and not final:
                    return None
                onward = norm[end:stop]
                settled = norm[max(j, end - self.onward_n) : end]
                ahead = (onward.mean() - settled.mean()) * math.copysign(1.0, v[-1])
                if ahead > self.p.still_level_g:  # (end < n: onward has a sample)
                    return j
            j = end

    def _turned(self, i: int, j: int) -> bool:
        """Did the sensor's orientation change by more than ``zupt_turn_deg`` over [i, j]?"""
        return kernels.turned(self.acc_still.data, self.norm_still.data, i, j, self.cos_turn)

    def _accel(self, s: int, e: int, *, commit: bool, sideways: bool = True) -> FloatArray:
        """Vertical acceleration (m/s^2) over [s, e), gravity removed by the local error model
        fitted on the still moments so far and at both ends; with a gyro and ``sideways``,
        less the norm's excess over its component along gravity (``kernels.off_vertical``).
        ``commit`` keeps the two end observations for later fits."""
        n_lp = self.norm.n
        key = (s, e, n_lp, sideways)
        cached, self._accel_cache = self._accel_cache, None
        if commit and cached is not None and cached[0] == key:
            # _find_rest has just computed this motion from the same observations
            self.obs = cached[1]
            return cached[2]
        # the pool keeps the last ``gravity_obs`` observations (rows ux, uy, uz, err, w),
        # with the rests just before and just after this motion; short still moments inside
        # the motion (a brief hold at the top) show what gravity reads in orientations the
        # rests never saw; still moments in orientations near this motion's ends count most
        kept, accel = kernels.gravity_accel(
            self.acc_lp.data, self.norm.data, self._still_raw.data, self.obs, s, e, self.nb,
            self.nb_after, self.obs_gap, self.p.gravity_obs, self.p.gravity_local_deg,
            self.p.gravity_ridge)
        if sideways and self.with_gyro:  # the norm's second-order part
            off = kernels.off_vertical(self.acc_lp.data, self.norm.data, self.raw.data,
                                       self._bias_by(e), s, e, self.dt_s, self.max_rate2,
                                       self.cos_gyro_miss)
            off *= GRAVITY_MPS2  # (both fresh from their kernels: in place)
            accel -= off
        if commit:
            self.obs = kept
        else:
            self._accel_cache = (key, kept, accel)
        return accel

    def _bias_by(self, e: int) -> FloatArray:
        """The gyro bias (deg/s) learnt in the noise blocks that end by sample ``e`` (so
        chunking cannot change which one); zeros before the first."""
        k = bisect.bisect_right(self._bias_ends, e)
        return self._biases[k - 1] if k else _NO_BIAS

    def _close_segment(self, s: int, e: int) -> FloatArray:
        """The speed (m/s) over the motion [s, e), which ends at a rest."""
        return integrate_segment(self._accel(s, e, commit=True), self.dt_s)

    # -- results ------------------------------------------------------------------------

    def position_m(self) -> FloatArray:
        """Vertical position (m, up positive) by integrating the final speed; arbitrary origin."""
        return np.asarray(np.cumsum(self.speed.data) * self.dt_s)
