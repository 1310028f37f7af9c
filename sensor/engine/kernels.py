"""Compiled per-sample loops of the live path (numba ``@njit(cache=True)``).

numpy costs about a microsecond per call whatever the array size, and the live engine is fed
a few samples at a time, so its inner loops are compiled here: the lockout detector's two
biquads, trailing-window variance, noise floor, stillness test and state machine scan, and the
grid resampler's buffer, binning and interpolation. Each kernel does the arithmetic of the
numpy/scipy code it replaced, in the same order (sums are sequential), so the results do not
depend on how the input was chunked. The detector's state machine (judging and pairing
rises, the gravity-error fit at each rest) runs in the same call; a block's kernel returns to
Python only at a lockout, to make its event.

The kernels are compiled once per machine and cached on disk (numba's ``cache=True``: next to
this file, or in the user's cache when the package folder is read-only). Each public kernel
has a signature, so it is compiled or loaded at import: no compilation or cache I/O happens
later, on an event loop. If no cache folder is writable, numba compiles in memory (about
10 s per process) and carries on. The kernels do not check bounds: their Python callers check
the shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit
from numba import types as nt
from numpy.typing import NDArray

from sensor.samples import FloatArray

_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(fn: _F, signature: Any = None) -> _F:
    """``numba.njit(cache=True)``, typed: numba's dispatcher type says nothing of the
    function's arguments (and older numba has no type hints at all); the compiled dispatcher
    is called like the Python function.

    With a ``signature`` the kernel is compiled (or loaded from the cache) right away, at
    import, and only for those types: a call with other types raises ``TypeError`` instead
    of compiling in the middle of a live session. Without any writable cache folder numba
    refuses ``cache=True``: the kernel is compiled in memory then (every process).
    """
    try:
        jit = njit(cache=True) if signature is None else njit(signature, cache=True)
        return cast(_F, jit(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(_F, njit(fn) if signature is None else njit(signature)(fn))


def _kernel(signature: Any) -> Callable[[_F], _F]:
    """``_compiled`` with a signature, as a decorator."""
    return lambda fn: _compiled(fn, signature)


# argument types: inputs are read-only views of any layout (a writable or C-contiguous array
# converts to them), state and buffers are written in place
_IN1 = nt.Array(nt.float64, 1, "A", readonly=True)
_IN2 = nt.Array(nt.float64, 2, "A", readonly=True)
_BUF1 = nt.Array(nt.float64, 1, "C")
_BUF2 = nt.Array(nt.float64, 2, "C")
_OUT2 = nt.Array(nt.float64, 2, "C")
_FLAGS = nt.Array(nt.boolean, 1, "C")
_I = nt.int64
_X = nt.float64
_B = nt.boolean
_TUPLE = cast(Any, nt.Tuple)  # (numba's type constructors have no type hints)
_UNITUPLE = cast(Any, nt.UniTuple)

GRAVITY_MPS2 = 9.80665  # as sensor.engine.velocity (imported from there would be circular)

# -- the lockout detector's signals: columns of the array ``lockout_front`` returns ---------
SIG_LP = 0  # 0..2: low-passed acceleration (g)
SIG_NORM = 3  # |lp| (g)
SIG_U = 4  # 4..6: lp / |lp|
SIG_NORM_S = 7  # |acc| after the stillness low-pass (g)
SIG_U_S = 8  # 8..10: its direction
SIG_ACT = 11  # 11, 12: (acc, gyro) activity: trailing-window variance summed over axes
SIG_THR = 13  # 13, 14: the stillness test's (acc, gyro) activity thresholds at this row
SIG_COLS = 15

# -- the detector's parameters (``par``) -----------------------------------------------
P_DT = 0
P_MIN_STILL = 1
P_MOVING = 2
P_QUIET = 3  # quiet_fraction * moving_mps
P_PHASE = 4  # phase_fraction
P_DECEL = 5
P_DECEL_SPEED = 6
P_MIN_RISE = 7
P_MAX_RISE = 8
P_RANGE_LO = 9  # scale's rise / range_ratio
P_RANGE_HI = 10  # scale's rise * range_ratio
P_PEAK_HI = 11  # scale's peak * peak_ratio
P_HAS_SCALE = 12
P_LEVEL_G = 13  # still_level_g
P_KNOWN_COS = 14
P_GYRO = 15  # 1.0 with a gyro
P_COEF = 16  # 16..19: the gravity-error model (c0, cx, cy, cz)
P_N_OBS = 20  # rows of obs in use (0: no rest seen yet)
P_FLOOR_STEP = 21  # the noise floor is updated at grid indices that are multiples of this
P_STILL_RATIO = 22  # still when the activity is under this x the floor ...
P_ACC_MIN = 23  # ... or under these (g^2, (deg/s)^2)
P_GYRO_MIN = 24
P_FLOOR_A_MIN = 25  # the floor's lower bounds (g^2, (deg/s)^2)
P_FLOOR_G_MIN = 26
P_DELAY = 27  # the speed path's filter delay, s
P_MAX_LEAD = 28  # max_lead_s
P_HALF_W = 29  # half the stillness window, samples
P_PAIR_RATIO = 30
P_RANGE_RATIO = 31
P_PEAK_RATIO = 32
P_CONFIRM = 33  # confirm_reps
P_SCALE_REPS = 34
P_SET_GAP = 35  # set_gap_s
P_MIN_REPS = 36  # min_reps_per_set
P_RIDGE = 37  # the gravity-error fit's ridge
PAR_SIZE = 38

# -- the detector's state (``st``), read by its Python side ------------------------
S_V = 0  # speed, m/s
S_Z = 1  # position, m
S_A_PREV = 2  # last vertical acceleration, m/s^2
S_STILL_RUN = 3  # samples in the still run in progress
S_RUN_ACC = 4  # 4..6: their sum of lp
S_RUN_NORM = 7  # their sum of |lp|
S_PHASE = 8  # PHASE_* code
S_RISE_Z0 = 9
S_VPK = 10
S_APK = 11
S_HAS_PREV = 12  # 1.0 when (S_PREV_T, S_PREV_V) is the rise's last sample
S_PREV_T = 13
S_PREV_V = 14
S_DESC_VMIN = 15
S_T_QUIET = 16
S_ENDED = 17  # set with a concentric phase event: the speed fell under 5 % of the peak
S_HIST_N = 18  # activity rows seen (the history ring holds the last of them)
S_THR_A = 19  # the activity thresholds in force: acc (g^2) ...
S_THR_G = 20  # ... and gyro ((deg/s)^2)
S_KTH = 21  # 21, 22: the last (acc, gyro) 10th percentiles of the history, before the bounds
# the state machine's (``lockout_events``); times in s on the grid's time base
S_RISE_T0 = 23  # the rise left rest
S_Z_DESC0 = 24  # position where the last descent started, m
S_T_LOCKOUT = 25
S_T_DESCENT = 26  # NaN: no descent from a hold in progress
S_CONC = 27  # 27..29: the last rep's concentric, hold, eccentric (s) ...
S_HAS_CONC = 30  # 30..32: ... 1.0 when known
S_PENDING = 33  # a rise waiting for its descent: 0 none, 1 refused by the scale, 2 a rep
S_PEND_RISE = 34  # its rise, m ...
S_PEND_VPK = 35  # ... and peak speed, m/s
S_SET_INDEX = 36  # the set of the last lockout (-1: none yet)
S_SET_REPS = 37  # lockouts in it
S_LAST_REP_T = 38  # last lockout, or end of a descent from a hold
S_SETS_SEEN = 39  # sets the engine had closed, as last told
S_N_RANGES = 40  # rows in the scale's list of recent reps (rise m, peak m/s) ...
S_N_REJECTED = 41  # ... and in the list of paired rises it refused
S_SCALE_R = 42  # the scale: median rise, m ...
S_SCALE_V = 43  # ... and peak speed, m/s (valid when par[P_HAS_SCALE])
S_EV_T = 44  # the last lockout event: time, s ...
S_EV_SET = 45  # ... set index ...
S_EV_REP = 46  # ... rep index in the set
ST_SIZE = 47  # then the two lists (st_size)


def st_size(scale_reps: int, confirm_reps: int) -> int:
    """Length of the detector's state: ST_SIZE, then two lists of (rise m, peak m/s) rows:
    the scale's recent reps (room for one more than either count), the refused rises."""
    return ST_SIZE + 2 * (max(scale_reps, confirm_reps) + 1) + 2 * confirm_reps

PHASE_BOTTOM = 0
PHASE_CONCENTRIC = 1
PHASE_HOLD = 2
PHASE_ECCENTRIC = 3

# what ``lockout_scan`` stopped for
SCAN_DONE = 0  # the end of the block
SCAN_STILL_LONG = 1  # the still run reached min_still at this sample (resume after it)
SCAN_RUN_END = 2  # this sample moves and ends a still run (resume at it, forced to move)
SCAN_PHASE = 3  # a phase event at this sample (resume after it)
SCAN_NO_ROOM = 4  # grid_lockout_step: the detector's signal buffer is too small (not scanned)
SCAN_NO_INPUT = 7  # grid_lockout_step: no room in the resampler's input buffer (nothing done)
# what ``lockout_events`` (and the block kernels) stop for
SCAN_LOCKOUT = 5  # a lockout was decided (st[S_EV_*]): make its event, then resume at the row
SCAN_RESUME = 6  # (an input to lockout_events) scan on from the row


@_compiled
def _biquad_row(x: float, b: FloatArray, a: FloatArray, z: FloatArray, ch: int) -> float:
    """One step of scipy's ``lfilter`` (direct form II transposed, normalised a[0] = 1)."""
    y = z[0, ch] + b[0] * x
    z[0, ch] = z[1, ch] + x * b[1] - y * a[1]
    z[1, ch] = x * b[2] - y * a[2]
    return float(y)


@_compiled
def _update_floor(hist: FloatArray, m: int, par: FloatArray, st: FloatArray) -> None:
    """The noise floor, the 10th percentile (lower) of the first ``m`` entries of each row
    of the activity history (the order does not matter), and the thresholds it gives."""
    kth = (m - 1) // 10
    q_a = _kth_smallest(hist, m, 0, kth, st[S_KTH])
    q_g = _kth_smallest(hist, m, 1, kth, st[S_KTH + 1])
    st[S_KTH] = q_a
    st[S_KTH + 1] = q_g
    floor_a = max(q_a, par[P_FLOOR_A_MIN])
    floor_g = max(q_g, par[P_FLOOR_G_MIN])
    st[S_THR_A] = max(par[P_STILL_RATIO] * floor_a, par[P_ACC_MIN])
    st[S_THR_G] = max(par[P_STILL_RATIO] * floor_g, par[P_GYRO_MIN])


_NEAR_RANKS = 64  # _kth_smallest: a guess this many ranks from the answer is near


@_compiled
def _kth_smallest(x: FloatArray, m: int, col: int, kth: int, guess: float) -> float:
    """``np.partition(x[col, :m], kth)[kth]``, the kth smallest (0-based), found from a
    ``guess`` near it (the last floor: the history has changed by a second since).

    One pass counts the values under and at the guess; when the answer is not the guess
    itself, a second pass keeps the few values between the guess and the answer (sorted,
    at most ``_NEAR_RANKS``). A guess further off, or a NaN, falls back to the partition.
    """
    if math.isnan(guess):
        return float(np.partition(x[col, :m].copy(), kth)[kth])
    below = 0
    at_most = 0
    nans = 0
    for i in range(m):  # no branch: the loop vectorises (the row is contiguous)
        v = x[col, i]
        below += v < guess
        at_most += v <= guess
        nans += math.isnan(v)
    if nans:
        return float(np.partition(x[col, :m].copy(), kth)[kth])
    if below <= kth < at_most:
        return guess
    up = kth >= at_most  # the answer is above the guess
    j = kth - at_most if up else below - 1 - kth  # its rank among those above / below
    if j >= _NEAR_RANKS:
        return float(np.partition(x[col, :m].copy(), kth)[kth])
    near = np.empty(j + 1)  # the j + 1 values nearest the guess on that side, nearest first
    size = 0
    for i in range(m):
        v = x[col, i]
        if up:
            if not (v > guess and (size <= j or v < near[j])):
                continue
            pos = min(size, j)
            while pos > 0 and near[pos - 1] > v:
                near[pos] = near[pos - 1]
                pos -= 1
        else:
            if not (v < guess and (size <= j or v > near[j])):
                continue
            pos = min(size, j)
            while pos > 0 and near[pos - 1] < v:
                near[pos] = near[pos - 1]
                pos -= 1
        near[pos] = v
        size = min(size + 1, j + 1)
    return float(near[j])


@_compiled
def _front(  # noqa: PLR0917 - as lockout_front
    values: FloatArray,
    k0: int,
    b: FloatArray,
    a: FloatArray,
    b_s: FloatArray,
    a_s: FloatArray,
    zi: FloatArray,
    zi_s: FloatArray,
    tail: FloatArray,
    hist: FloatArray,
    par: FloatArray,
    st: FloatArray,
    sig: FloatArray,
) -> None:
    """``lockout_front`` writing into ``sig`` (n, SIG_COLS), untyped: called from the
    compiled kernels."""
    n, c = values.shape
    h = tail.shape[0]  # w - 1
    w = h + 1
    gyro = c >= 6
    x = np.empty((n + h, c))  # still-filtered rows with the window history in front
    x[:h] = tail
    for r in range(n):
        s2 = 0.0
        for ch in range(3):
            y = _biquad_row(values[r, ch], b, a, zi, ch)
            sig[r, SIG_LP + ch] = y
            s2 += y * y
        norm = math.sqrt(s2)
        sig[r, SIG_NORM] = norm
        d = max(norm, 1e-9)
        for ch in range(3):
            sig[r, SIG_U + ch] = sig[r, SIG_LP + ch] / d
        s2 = 0.0
        for ch in range(c):
            y = _biquad_row(values[r, ch], b_s, a_s, zi_s, ch)
            x[h + r, ch] = y
            if ch < 3:
                s2 += y * y
        norm = math.sqrt(s2)
        sig[r, SIG_NORM_S] = norm
        d = max(norm, 1e-9)
        for ch in range(3):
            sig[r, SIG_U_S + ch] = x[h + r, ch] / d
        # trailing window r .. r + w - 1 of x: variance per channel, sequential sums
        act_a = 0.0
        act_g = 0.0
        for ch in range(c):
            total = x[r, ch]
            for j in range(1, w):
                total += x[r + j, ch]
            mean = total / w
            dev = x[r, ch] - mean
            sq = dev * dev
            for j in range(1, w):
                dev = x[r + j, ch] - mean
                sq += dev * dev
            var = sq / w
            if ch == 0:
                act_a = var
            elif ch < 3:
                act_a += var
            elif ch == 3:
                act_g = var
            elif ch < 6:
                act_g += var
        act_g = act_g if gyro else act_a
        sig[r, SIG_ACT] = act_a
        sig[r, SIG_ACT + 1] = act_g
        count = int(st[S_HIST_N])
        if (k0 + r) % int(par[P_FLOOR_STEP]) == 0 and count:
            _update_floor(hist, min(count, hist.shape[1]), par, st)
        sig[r, SIG_THR] = st[S_THR_A]
        sig[r, SIG_THR + 1] = st[S_THR_G]
        hist[0, count % hist.shape[1]] = act_a
        hist[1, count % hist.shape[1]] = act_g
        st[S_HIST_N] = count + 1
    tail[:] = x[n:]



@_kernel(_OUT2(_IN2, _I, _IN1, _IN1, _IN1, _IN1, _BUF2, _BUF2, _BUF2, _BUF2, _IN1, _BUF1))
def lockout_front(  # noqa: PLR0917 - one compiled call: arrays in, state in place
    values: FloatArray,
    k0: int,
    b: FloatArray,
    a: FloatArray,
    b_s: FloatArray,
    a_s: FloatArray,
    zi: FloatArray,
    zi_s: FloatArray,
    tail: FloatArray,
    hist: FloatArray,
    par: FloatArray,
    st: FloatArray,
) -> FloatArray:
    """The detector's per-sample signals of a grid block ``values`` (n, c): acc in g, then
    gyro in deg/s if c >= 6, row r at grid index ``k0 + r``. Returns (n, SIG_COLS); updates
    in place the filter states ``zi`` (2, 3), ``zi_s`` (2, c), the window history ``tail``
    (w - 1, c), and the activity history ``hist`` (rows acc, gyro: a ring of the last h grid
    rows' activity, (2, h)) with the
    noise floor and thresholds in ``st``.

    The floor (10th percentile of the history, lower) is updated at grid indices that are
    multiples of ``P_FLOOR_STEP``, from the rows before, so chunking cannot change it.
    """
    sig = np.empty((values.shape[0], SIG_COLS))
    _front(values, k0, b, a, b_s, a_s, zi, zi_s, tail, hist, par, st, sig)
    return sig


@_compiled
def _dot3(x: FloatArray, r: int, col: int, y: FloatArray, y0: int) -> float:
    """x[r, col:col+3] . y[y0:y0+3], summed in order."""
    return float(x[r, col] * y[y0] + x[r, col + 1] * y[y0 + 1] + x[r, col + 2] * y[y0 + 2])


@_compiled
def _still_at(sig: FloatArray, r: int, par: FloatArray, obs: FloatArray) -> bool:
    """Is grid row ``r`` still: activity under the noise floor's threshold, and |a| at the
    rest baseline where the orientation has been seen at rest."""
    if not sig[r, SIG_ACT] < sig[r, SIG_THR]:
        return False
    if par[P_GYRO] > 0.0 and not sig[r, SIG_ACT + 1] < sig[r, SIG_THR + 1]:
        return False
    n_obs = int(par[P_N_OBS])
    if n_obs == 0:
        return True
    base = (1.0 + par[P_COEF]) + _dot3(sig, r, SIG_U_S, par, P_COEF + 1)
    if abs(sig[r, SIG_NORM_S] - base) < par[P_LEVEL_G]:
        return True
    best = -np.inf
    for j in range(n_obs):
        cos = (sig[r, SIG_U_S] * obs[j, 0] + sig[r, SIG_U_S + 1] * obs[j, 1]
               + sig[r, SIG_U_S + 2] * obs[j, 2])
        best = max(best, cos)
    return not best > par[P_KNOWN_COS]  # far from every rest seen: the level is not tested


@_compiled
def _qualified(rise: float, vpk: float, par: FloatArray) -> bool:
    """A rise of ``rise`` m at peak speed ``vpk`` m/s would be a rep."""
    ok = rise >= par[P_MIN_RISE] and rise <= par[P_MAX_RISE]
    if par[P_HAS_SCALE] > 0.0:
        ok = ok and rise >= par[P_RANGE_LO] and rise <= par[P_RANGE_HI]
        ok = ok and vpk <= par[P_PEAK_HI]
    return bool(ok)


@_kernel(_UNITUPLE(_I, 2)(_BUF2, _I, _I, _B, _BUF1, _BUF1, _BUF2))
def lockout_scan(  # noqa: PLR0917 - the state machine: arrays in, state in place
    sig: FloatArray,
    k0: int,
    i: int,
    force: bool,
    par: FloatArray,
    st: FloatArray,
    obs: FloatArray,
) -> tuple[int, int]:
    """Run the detector over rows ``i..`` of ``sig`` until something happens: a still run
    reaches ``min_still`` or ends, or the phase's event (``lockout_events`` handles them).

    ``k0`` is the grid index of row 0 (row r is at ``(k0 + r) * dt`` s). ``force``: row ``i``
    moves, whatever the stillness test says (the still run before it has just ended).
    Returns (row, SCAN_* code); the state ``st`` is updated up to and including that row
    (for SCAN_RUN_END: up to the row before).
    """
    n = sig.shape[0]
    dt = par[P_DT]
    min_still = par[P_MIN_STILL]
    moving = par[P_MOVING]
    v = st[S_V]
    z = st[S_Z]
    a_prev = st[S_A_PREV]
    phase = int(st[S_PHASE])
    while i < n:
        if not force and _still_at(sig, i, par, obs):
            for ch in range(3):
                st[S_RUN_ACC + ch] += sig[i, SIG_LP + ch]
            st[S_RUN_NORM] += sig[i, SIG_NORM]
            st[S_STILL_RUN] += 1.0
            if st[S_STILL_RUN] == min_still:
                st[S_V], st[S_Z], st[S_A_PREV] = v, z, a_prev
                return i, SCAN_STILL_LONG
            i += 1
            continue
        if not force and st[S_STILL_RUN] > 0.0:
            st[S_V], st[S_Z], st[S_A_PREV] = v, z, a_prev
            return i, SCAN_RUN_END
        force = False
        # a moving row: integrate, then look for the phase's event
        base = (1.0 + par[P_COEF]) + _dot3(sig, i, SIG_U, par, P_COEF + 1)
        acc = (sig[i, SIG_NORM] - base) * GRAVITY_MPS2  # vertical, m/s^2, up positive
        v = v + 0.5 * (acc + a_prev) * dt
        z = z + v * dt
        a_prev = acc
        t = float(k0 + i) * dt
        event = False
        if phase in (PHASE_BOTTOM, PHASE_HOLD):
            if v > moving or v < -moving:
                event = True
            elif abs(v) < par[P_QUIET]:
                st[S_T_QUIET] = t  # the last moment at rest
        elif phase == PHASE_CONCENTRIC:
            vpk = max(st[S_VPK], v)
            decel = -acc
            cand = decel if v < vpk else -np.inf
            apk = max(st[S_APK], cand)
            st[S_VPK] = vpk
            st[S_APK] = apk
            ended = v < par[P_PHASE] * vpk
            settled = (
                apk > 0.0
                and decel < par[P_DECEL] * apk
                and v < par[P_DECEL_SPEED] * vpk
                and _qualified(z - st[S_RISE_Z0], vpk, par)
            )
            if ended or settled:
                st[S_ENDED] = 1.0 if ended else 0.0
                event = True
            else:
                st[S_HAS_PREV] = 1.0
                st[S_PREV_T] = t
                st[S_PREV_V] = v
        else:
            vmin = min(st[S_DESC_VMIN], v)
            st[S_DESC_VMIN] = vmin
            event = v > par[P_PHASE] * vmin  # back above -5 % of the descent's peak
        if event:
            st[S_V], st[S_Z], st[S_A_PREV] = v, z, a_prev
            return i, SCAN_PHASE
        i += 1
    st[S_V], st[S_Z], st[S_A_PREV] = v, z, a_prev
    return n, SCAN_DONE


# -- the grid resampler -------------------------------------------------------------------

NO_K = -(2**62)  # grid_push: no grid point out yet


@_kernel(_TUPLE((_OUT2, _FLAGS))(_IN1, _IN2, _I, _I, _X, _X))
def resample_rows(  # noqa: PLR0917 - as sensor.engine.resample.resample_block
    t_s: FloatArray, rows: FloatArray, k_from: int, n: int, rate_hz: float, max_gap_s: float
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Grid points ``k_from .. k_from + n - 1`` from samples ``t_s`` (m,) with values
    ``rows`` (m, c): each point's triangle-weighted mean of the samples within one grid step
    when there are two or more (and enough weight), else the linear interpolation of its
    neighbours. Returns (values (n, c), gap (n,): in a gap longer than ``max_gap_s``).

    The sums are those ``numpy.bincount`` made (in sample order, the left neighbours' pass,
    then the right neighbours'); the interpolation is ``numpy.interp``'s arithmetic. The
    times must be sorted (ties allowed): each grid point's samples are then one run of them,
    summed as it is reached (no per-point accumulators, which at an hour's samples cost
    more in memory traffic than the sums), and the interpolation's neighbours are found by
    walking forward instead of a search per point.
    """
    m, c = rows.shape
    out = np.empty((n, c))
    tg = np.empty(n)
    sparse = np.empty(n, dtype=np.int64)
    n_sparse = 0
    left = np.empty(c + 2)  # weight, count, then the weighted channels
    right = np.empty(c + 2)
    first = 0  # the first sample whose left grid point is at least i - 1
    for i in range(n):
        tg[i] = (k_from + i) / rate_hz
        while first < m and math.floor(t_s[first] * rate_hz - k_from) < i - 1:
            first += 1
        left[:] = 0.0
        right[:] = 0.0
        for s in range(first, m):
            pos = t_s[s] * rate_hz - k_from  # in grid steps from k_from
            lo = math.floor(pos)
            if lo > i:
                break
            frac = pos - lo
            acc, w = (right, frac) if lo < i else (left, 1.0 - frac)
            if w > 0:
                acc[0] += w
                acc[1] += 1.0
                for j in range(c):
                    acc[j + 2] += rows[s, j] * w
        weight = left[0] + right[0]
        count = left[1] + right[1]
        if not (count >= 2 and weight >= 0.5):  # too few samples for a weighted mean
            sparse[n_sparse] = i
            n_sparse += 1
        d = max(weight, 0.5)
        for j in range(c):
            out[i, j] = (left[j + 2] + right[j + 2]) / d
    j = 0  # those: linear interpolation, numpy.interp's
    for r in range(n_sparse):
        i = sparse[r]
        x = tg[i]
        while j < m and t_s[j] <= x:  # j: the first sample after x
            j += 1
        if not 0 < j < m or t_s[j - 1] == x:  # before the first, after the last, or at one
            out[i] = rows[max(j - 1, 0)]
            continue
        for col in range(c):
            slope = (rows[j, col] - rows[j - 1, col]) / (t_s[j] - t_s[j - 1])
            out[i, col] = slope * (x - t_s[j - 1]) + rows[j - 1, col]
    # grid times in a gap of the samples: after a sample and at or before the next one
    # (before the first sample and after the last count with the first and last intervals)
    gap = np.zeros(n, dtype=np.bool_)
    for i in range(m - 1):
        if t_s[i + 1] - t_s[i] > max_gap_s:
            lo = 0 if i == 0 else np.searchsorted(tg, t_s[i], side="right")
            hi = n if i == m - 2 else np.searchsorted(tg, t_s[i + 1], side="right")
            gap[lo:hi] = True
    return out, gap


@_kernel(_TUPLE((_I, _I, _OUT2, _FLAGS))(_BUF1, _BUF2, _I, _IN1, _IN2, _IN2, _I, _X, _X, _B))
def grid_push(  # noqa: PLR0917 - the streaming resampler's state, in place
    t_buf: FloatArray,
    v_buf: FloatArray,
    m: int,
    t_new: FloatArray,
    acc: FloatArray,
    gyro: FloatArray,
    next_k: int,
    rate_hz: float,
    max_gap_s: float,
    final: bool,
) -> tuple[int, int, FloatArray, NDArray[np.bool_]]:
    """One step of ``GridResampler``: append samples, resample the grid points now final.

    The input buffer is ``t_buf[:m]`` (times) and ``v_buf[:m]`` (values, acc then gyro);
    it must have room for the new samples (``t_new``, ``acc`` (k, 3), ``gyro`` (k, 3) when
    the buffer has 6 columns). New samples before the buffer's last one are dropped; a time
    that is not finite raises ValueError.
    ``next_k`` is the first grid point not yet out (or ``NO_K`` at the start). ``final``:
    the stream has ended, every grid point up to the last sample is out. Returns (samples
    kept in the buffer, next grid point, values (n, c), gap flags (n,)); the n grid points
    out are ``next_k`` (as passed, or the first) onwards.
    """
    c = v_buf.shape[1]
    for s in range(t_new.size):
        if not math.isfinite(t_new[s]):
            raise ValueError("sample times must be finite")
    last = t_buf[m - 1] if m else -np.inf
    r = m
    for s in range(t_new.size):
        if m and not t_new[s] >= last:
            continue
        t_buf[r] = t_new[s]
        for j in range(3):
            v_buf[r, j] = acc[s, j]
        for j in range(c - 3):
            v_buf[r, 3 + j] = gyro[s, j]
        r += 1
    m = r
    if m == 0:
        return m, next_k, np.empty((0, c)), np.zeros(0, dtype=np.bool_)
    if next_k == NO_K:
        next_k = math.ceil(t_buf[0] * rate_hz - 1e-9)
    if final:
        k_last = math.floor(t_buf[m - 1] * rate_hz + 1e-9)
    else:
        # final: grid points whose one-step support is closed (a later sample is past it)
        k_last = math.ceil(t_buf[m - 1] * rate_hz) - 2
    if k_last < next_k:
        return m, next_k, np.empty((0, c)), np.zeros(0, dtype=np.bool_)
    out, gap = resample_rows(t_buf[:m], v_buf[:m], next_k, k_last + 1 - next_k, rate_hz,
                             max_gap_s)
    next_k = k_last + 1
    if not final:
        # keep the samples still needed: those within a step of the next grid point, and
        # the last one before (for interpolation)
        t_next = (next_k - 1) / rate_hz
        first = max(0, int(np.searchsorted(t_buf[:m], t_next, side="left")) - 1)
        for r in range(m - first):  # forward: the rows move down
            t_buf[r] = t_buf[first + r]
            for j in range(c):
                v_buf[r, j] = v_buf[first + r, j]
        m -= first
    return m, next_k, out, gap


@_compiled
def _grid_count(  # noqa: PLR0917 - as grid_push
    t_buf: FloatArray, m: int, t_new: FloatArray, next_k: int, rate_hz: float, final: bool
) -> int:
    """How many grid points ``grid_push`` would put out (nothing is changed)."""
    last = t_buf[m - 1] if m else -np.inf
    end = last
    first = t_buf[0] if m else np.nan
    for s in range(t_new.size):
        if m and not t_new[s] >= last:
            continue
        if math.isnan(first):
            first = t_new[s]
        end = t_new[s]
    if math.isnan(first):
        return 0
    if next_k == NO_K:
        next_k = math.ceil(first * rate_hz - 1e-9)
    k_last = math.floor(end * rate_hz + 1e-9) if final else math.ceil(end * rate_hz) - 2
    return max(0, k_last + 1 - next_k)


@_kernel(_UNITUPLE(_I, 3)(_BUF1, _BUF2, _I, _IN1, _IN2, _IN2, _I, _X, _X, _BUF2, _FLAGS, _I))
def grid_push_into(  # noqa: PLR0917 - the streaming resampler's state, in place
    t_buf: FloatArray,
    v_buf: FloatArray,
    m: int,
    t_new: FloatArray,
    acc: FloatArray,
    gyro: FloatArray,
    next_k: int,
    rate_hz: float,
    max_gap_s: float,
    rows: FloatArray,
    gap: NDArray[np.bool_],
    at: int,
) -> tuple[int, int, int]:
    """``grid_push`` (not final) with the grid points written into ``rows[at:]`` (n, c) and
    ``gap[at:]``. Returns (samples kept, next grid point, n); when the n points do not fit,
    nothing is done and n is returned negated (make room and call again)."""
    for s in range(t_new.size):
        if not math.isfinite(t_new[s]):
            raise ValueError("sample times must be finite")
    n = _grid_count(t_buf, m, t_new, next_k, rate_hz, False)
    if at + n > min(rows.shape[0], gap.shape[0]):
        return m, next_k, -n
    m, next_k, out, flags = grid_push(t_buf, v_buf, m, t_new, acc, gyro, next_k, rate_hz,
                                      max_gap_s, False)  # (its one compiled version)
    n = out.shape[0]
    rows[at : at + n] = out
    gap[at : at + n] = flags
    return m, next_k, n


# -- the velocity tracker's block work ------------------------------------------------------
# ``sensor.engine.velocity`` works once per noise block (thousands of samples per call, on
# the live path once every 20 s). These kernels do the arithmetic of the numpy/scipy code they
# replaced bit for bit: numpy's pairwise summation where numpy summed one contiguous run,
# scipy's running window sums, sequential sums across channels and along axis 0, numpy's
# medians and linear percentiles (exact order statistics, numpy's interpolation). So the
# engine's decisions are those of the numpy code, whatever the chunking. A kernel that divides
# by data has numpy's error model: a zero norm gives inf or NaN, as numpy did, not an
# exception.


def _np_compiled(fn: _F, signature: Any = None) -> _F:
    """``_compiled`` with numpy's error model (a division by zero gives inf or NaN)."""
    try:
        opts: dict[str, Any] = {"cache": True, "error_model": "numpy"}
        jit = njit(**opts) if signature is None else njit(signature, **opts)
        return cast(_F, jit(fn))
    except RuntimeError:  # no cache folder: as _compiled
        jit = (njit(error_model="numpy") if signature is None
               else njit(signature, error_model="numpy"))
        return cast(_F, jit(fn))


_PW_BLOCK = 128  # numpy's pairwise summation: blocks of up to this many, 8 partial sums


@_compiled
def _pairwise_block(a: FloatArray, lo: int, n: int) -> float:
    """numpy's pairwise summation of ``a[lo:lo + n]``, n <= _PW_BLOCK: sequential under 8
    values, else 8 partial sums."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return float(res)
    r = np.empty(8)
    for j in range(8):
        r[j] = a[lo + j]
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return float(res)


@_compiled
def _pairwise_sum(a: FloatArray, lo: int, n: int) -> float:
    """``np.add.reduce(a[lo:lo + n])`` for a 1-D ``a`` of any stride, bit for bit: numpy
    halves a longer run (the first half a multiple of 8) until blocks of at most _PW_BLOCK.
    The halving is walked with a stack, not by recursion (numba cannot cache a recursive
    function reliably)."""
    if n <= _PW_BLOCK:
        return _pairwise_block(a, lo, n)
    depth = 64  # halving 2^63 values takes fewer levels
    los = np.empty(depth, dtype=np.int64)
    ns = np.empty(depth, dtype=np.int64)
    stage = np.zeros(depth, dtype=np.int64)  # 0: go left, 1: go right, 2: add the two
    vals = np.empty(depth + 1)
    top = 0
    los[0] = lo
    ns[0] = n
    nv = 0
    while top >= 0:
        m = ns[top]
        if m <= _PW_BLOCK:
            vals[nv] = _pairwise_block(a, los[top], m)
            nv += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[top] == 2:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
            continue
        child_lo = los[top] if stage[top] == 0 else los[top] + half
        child_n = half if stage[top] == 0 else m - half
        stage[top] += 1
        top += 1
        los[top] = child_lo
        ns[top] = child_n
        stage[top] = 0
    return float(vals[0])


@_compiled
def _window_var_into(  # noqa: PLR0917 - one channel of block_activity
    x: FloatArray, start: int, stop: int, half: int, out: FloatArray, first: bool
) -> None:
    """Add (or write, if ``first``) to ``out`` (stop - start,) the variance of ``x`` (1-D)
    over the centred windows of 2 half + 1 samples around ``start .. stop - 1``; indices
    outside ``x`` repeat its first or last value. As the tracker's numpy code computed it
    (``window_activity_ref`` in tests/test_velocity_kernels.py): deviations from the mean of
    ``x[start:stop]``, scipy's ``uniform_filter1d`` running sums (mode 'reflect' at the front
    of the padded rows, from their first row)."""
    n = stop - start
    last = x.shape[0] - 1
    size = 2 * half + 1
    mean = _pairwise_sum(x, start, n) / n
    lo = start - half  # padded row p is x[clip(lo + p)], p in [0, n + 2 half)
    s1 = 0.0
    s2 = 0.0
    for j in range(-half, half + 1):  # the window of output row 0: rows reflected at 0
        p = -j - 1 if j < 0 else j
        d = x[min(max(lo + p, 0), last)] - mean
        s1 += d
        s2 += d * d
    for q in range(half + n):  # output row q is the window centred on padded row q
        if q > 0:
            p_new = q + half
            p_old = q - half - 1
            p_old = -p_old - 1 if p_old < 0 else p_old
            d_new = x[min(max(lo + p_new, 0), last)] - mean
            d_old = x[min(max(lo + p_old, 0), last)] - mean
            s1 += d_new - d_old
            s2 += d_new * d_new - d_old * d_old
        if q >= half:
            m1 = s1 / size
            m2 = s2 / size
            var = m2 - m1 * m1
            if var < 0.0:  # noqa: PLR1730 - max() would not keep a NaN, np.maximum does
                var = 0.0
            if first:
                out[q - half] = var
            else:
                out[q - half] += var


# rows of what block_activity returns
ACT_A = 0  # the low-passed acceleration's activity, summed over axes (g^2)
ACT_N = 1  # its norm's (g^2)
ACT_TURN = 2  # cos of the turn of its direction across the window
ACT_G = 3  # the gyro's, summed over axes ((deg/s)^2); zeros without a gyro
ACT_ROWS = 4


def block_activity(  # noqa: PLR0917 - arrays in, rows out
    acc: FloatArray, norm: FloatArray, gyro: FloatArray, start: int, stop: int, half: int
) -> FloatArray:
    """The stillness detector's activity for samples ``start .. stop - 1`` of ``acc`` (n, 3)
    in g, its norm ``norm`` (n,) and ``gyro`` (n, 3) in deg/s (or (0, 3)): rows ACT_* of the
    result (ACT_ROWS, stop - start). The windows are centred, 2 half + 1 samples; samples
    past either end repeat the end ones. The turn compares the direction at the window's
    first and last samples."""
    n = stop - start
    out = np.zeros((ACT_ROWS, n))
    for ch in range(3):
        _window_var_into(acc[:, ch], start, stop, half, out[ACT_A], ch == 0)
    _window_var_into(norm, start, stop, half, out[ACT_N], True)
    if gyro.shape[0]:
        for ch in range(3):
            _window_var_into(gyro[:, ch], start, stop, half, out[ACT_G], ch == 0)
    last = norm.shape[0] - 1
    w = 2 * half
    for i in range(n):
        r0 = min(max(start - half + i, 0), last)
        r1 = min(max(start - half + i + w, 0), last)
        turn = 0.0
        for ch in range(3):
            turn += (acc[r0, ch] / norm[r0]) * (acc[r1, ch] / norm[r1])
        out[ACT_TURN, i] = turn
    return out


block_activity = _np_compiled(block_activity, _OUT2(_IN2, _IN1, _IN2, _I, _I, _I))


@_compiled
def _insertion_sort(v: FloatArray) -> None:
    """Sort a short 1-D array without NaNs in place (quicker than ``np.sort`` for a few
    dozen values)."""
    for i in range(1, v.size):
        x = v[i]
        j = i
        while j > 0 and v[j - 1] > x:
            v[j] = v[j - 1]
            j -= 1
        v[j] = x


@_compiled
def _sorted_median(v: FloatArray) -> float:
    """``np.median`` of sorted values ``v`` without NaNs, bit for bit: the middle value, or
    the mean of the two middle values."""
    m = v.size
    if m % 2:
        return float(v[m // 2])
    return float((v[m // 2 - 1] + v[m // 2]) / 2.0)


@_compiled
def _has_nan(x: FloatArray, lo: int, hi: int) -> bool:
    for i in range(lo, hi):  # noqa: SIM110 - numba compiles no any() of a generator
        if math.isnan(x[i]):
            return True
    return False


@_kernel(_BUF1(_IN1, _I, _I, _I))
def bin_medians(x: FloatArray, j: int, j_end: int, b: int) -> FloatArray:
    """Medians of the bins ``j .. j_end - 1`` of ``b`` samples of ``x``: as
    ``np.median(x[j * b : j_end * b].reshape(-1, b), axis=1)`` (NaN for a bin with one)."""
    out = np.empty(max(0, j_end - j))
    v = np.empty(b)
    for r in range(out.size):
        lo = (j + r) * b
        if _has_nan(x, lo, lo + b):
            out[r] = math.nan
            continue
        v[:] = x[lo : lo + b]
        _insertion_sort(v)
        out[r] = _sorted_median(v)
    return out


@_kernel(_BUF1(_IN1, _IN1, _I, _I, _I, _I))
def level_deviation(  # noqa: PLR0917 - arrays in, one out
    norm: FloatArray, med: FloatArray, start: int, stop: int, b: int, k: int
) -> FloatArray:
    """``|norm - ref|`` over samples ``start .. stop - 1``, where a sample's ``ref`` is the
    median of the bin medians ``med`` of its bin and the ``k`` bins either side (bins of
    ``b`` samples from sample 0; past the first and last bins the end bins repeat); NaN
    where a window holds a NaN."""
    j0 = start // b
    j1 = (stop - 1) // b + 1
    last = med.size - 1
    w = 2 * k + 1
    window = np.empty(w)  # the bins j - k .. j + k, sorted, for the j in hand
    nans = 0  # NaNs among them (kept out of the window's values)
    size = 0
    out = np.empty(stop - start)
    for j in range(j0, j1):
        if j == j0:
            for r in range(w):
                x = med[min(max(j - k + r, 0), last)]
                if math.isnan(x):
                    nans += 1
                else:
                    window[size] = x
                    size += 1
            _insertion_sort(window[:size])
        else:  # slide by one bin: drop bin j - k - 1, take in bin j + k
            old = med[min(max(j - k - 1, 0), last)]
            if math.isnan(old):
                nans -= 1
            else:
                p = 0
                while window[p] != old:
                    p += 1
                size -= 1
                for r in range(p, size):
                    window[r] = window[r + 1]
            new = med[min(max(j + k, 0), last)]
            if math.isnan(new):
                nans += 1
            else:
                p = size
                while p > 0 and window[p - 1] > new:
                    window[p] = window[p - 1]
                    p -= 1
                window[p] = new
                size += 1
        ref = math.nan if nans else _sorted_median(window)
        for i in range(max(start, j * b), min(stop, (j + 1) * b)):
            out[i - start] = abs(norm[i] - ref)
    return out


BIN_COLS = 5  # bin_shapes' columns: direction (3), variance of the norm, cos of the turn


@_kernel(_OUT2(_IN2, _IN1, _I, _I, _I))
def bin_shapes(acc: FloatArray, norm: FloatArray, lo: int, hi: int, b: int) -> FloatArray:
    """Per bin of ``b`` samples from ``lo`` (the last one may be short, ending at ``hi``):
    columns 0-2 the direction of the bin's mean acceleration ``acc`` (n, 3), column 3 the
    variance of ``norm`` (n,) over the bin (g^2), column 4 the cosine of the angle between
    its first and last samples' directions; NaN where the bin holds a NaN."""
    m = (hi - lo + b - 1) // b
    out = np.empty((max(0, m), BIN_COLS))
    for r in range(out.shape[0]):
        i0 = lo + r * b
        i1 = min(i0 + b, hi)
        if _has_nan(norm, i0, i1):
            out[r, :] = math.nan
            continue
        sx = sy = sz = sn = sn2 = 0.0
        for i in range(i0, i1):
            sx += acc[i, 0]
            sy += acc[i, 1]
            sz += acc[i, 2]
            sn += norm[i]
            sn2 += norm[i] * norm[i]
        c = i1 - i0
        size = math.sqrt(sx * sx + sy * sy + sz * sz)
        if size > 0.0:
            out[r, 0] = sx / size
            out[r, 1] = sy / size
            out[r, 2] = sz / size
        else:  # no direction (a recording of zeros)
            out[r, 0:3] = math.nan
        out[r, 3] = max(0.0, sn2 / c - (sn / c) ** 2)
        ends = norm[i0] * norm[i1 - 1]
        out[r, 4] = (acc[i0, 0] * acc[i1 - 1, 0] + acc[i0, 1] * acc[i1 - 1, 1]
                     + acc[i0, 2] * acc[i1 - 1, 2]) / ends if ends > 0.0 else math.nan
    return out


@_compiled
def _direction_sum(shape: FloatArray, lo: int, hi: int) -> tuple[float, float, float]:
    """The sum of the bins ``lo .. hi``'s directions (``bin_shapes`` columns 0-2), NaN
    bins left out: their mean direction, unnormalised."""
    cx = cy = cz = 0.0
    for jj in range(lo, hi + 1):
        if not math.isnan(shape[jj, 0]):
            cx += shape[jj, 0]
            cy += shape[jj, 1]
            cz += shape[jj, 2]
    return cx, cy, cz


@_kernel(nt.void(_BUF1, _IN2, _IN1, _IN1, _IN2, _I, _I, _I, _X, _X, _X, _X))
def level_deviation_turned(  # noqa: PLR0917 - arrays in, one buffer out
    dev: FloatArray, acc: FloatArray, norm: FloatArray, med: FloatArray, shape: FloatArray,
    start: int, b: int, k: int, cos_away: float, cos_near: float, quiet_g2: float,
    cos_quiet: float,
) -> None:
    """Redo ``dev`` (``level_deviation``'s, samples ``start ..``) where the sensor has turned
    away from the surrounding seconds (cos of the angle between its direction and their
    mean bin direction under ``cos_away``): a sensor's scale and bias errors read gravity's
    norm differently there. The reference is then the median of the bin medians ``med`` of
    the quiet bins (``bin_shapes``: the norm's variance under ``quiet_g2``, the turn's cosine
    over ``cos_quiet``) among the ``k`` either side that point its way (cos over
    ``cos_near``); with none, ``dev`` stays."""
    last = med.size - 1
    vals = np.empty(2 * k + 1)
    j_ctx = -1
    lo = hi = 0
    cx = cy = cz = 0.0
    for r in range(dev.size):
        i = start + r
        j = i // b
        if j != j_ctx:  # the bins' mean direction, once per bin
            j_ctx = j
            lo = max(0, j - k)
            hi = min(last, j + k)
            cx, cy, cz = _direction_sum(shape, lo, hi)
        size = math.sqrt(cx * cx + cy * cy + cz * cz) * norm[i]
        if not size > 0.0:
            continue
        if (cx * acc[i, 0] + cy * acc[i, 1] + cz * acc[i, 2]) / size > cos_away:
            continue
        m = 0
        for jj in range(lo, hi + 1):
            if math.isnan(med[jj]) or not (shape[jj, 3] < quiet_g2
                                            and shape[jj, 4] > cos_quiet):
                continue
            c = (shape[jj, 0] * acc[i, 0] + shape[jj, 1] * acc[i, 1]
                 + shape[jj, 2] * acc[i, 2]) / norm[i]
            if c > cos_near:
                vals[m] = med[jj]
                m += 1
        if m:
            _insertion_sort(vals[:m])
            dev[r] = abs(norm[i] - _sorted_median(vals[:m]))


@_compiled
def _cos_to_surroundings(shape: FloatArray, j: int, k: int) -> float:
    """Cosine of the angle between bin ``j``'s direction (``bin_shapes``) and the mean
    direction of the bins within ``k`` of it; NaN where either has none."""
    ux, uy, uz = shape[j, 0], shape[j, 1], shape[j, 2]
    if math.isnan(ux):
        return math.nan
    cx, cy, cz = _direction_sum(shape, max(0, j - k), min(shape.shape[0] - 1, j + k))
    size = math.sqrt(cx * cx + cy * cy + cz * cz)
    if not size > 0.0:
        return math.nan
    return float((cx * ux + cy * uy + cz * uz) / size)


@_compiled
def _points_near(  # noqa: PLR0917 - a bin, a direction and two limits
    med: FloatArray, shape: FloatArray, jj: int, ux: float, uy: float, uz: float,
    cos_near: float, cos_quiet: float,
) -> bool:
    """Has bin ``jj`` a median, a turn across it under the angle whose cosine is
    ``cos_quiet``, and a direction within ``cos_near`` of (``ux``, ``uy``, ``uz``)?"""
    return (not math.isnan(med[jj]) and shape[jj, 4] > cos_quiet
            and shape[jj, 0] * ux + shape[jj, 1] * uy + shape[jj, 2] * uz > cos_near)


@_compiled
def _densest_median(vals: FloatArray, tol_g: float, min_bins: int) -> float:
    """The median of the most ``vals`` within ``tol_g`` of one another (sorts ``vals`` in
    place), or NaN when they are fewer than ``min_bins``."""
    m = vals.size
    if m < min_bins:
        return math.nan
    _insertion_sort(vals)
    best, best_lo, best_spread = 0, 0, math.inf
    end = 0
    for a in range(m):  # the most sorted values within tol_g of one another
        end = max(end, a)
        while end + 1 < m and vals[end + 1] - vals[a] <= tol_g:
            end += 1
        spread = vals[end] - vals[a]
        if end - a + 1 > best or (end - a + 1 == best and spread < best_spread):
            best, best_lo, best_spread = end - a + 1, a, spread
    if best < min_bins:
        return math.nan
    return _sorted_median(vals[best_lo : best_lo + best])


@_compiled
def _steady_level(  # noqa: PLR0917 - arrays in, one value out
    med: FloatArray, shape: FloatArray, j: int, k: int, back: int, cos_away: float,
    cos_near: float, cos_quiet: float, cos_still: float, tol_g: float, min_bins: int,
    vals: FloatArray,
) -> float:
    """``level_deviation_steady``'s reference for bin ``j``, or NaN; ``vals`` is room for
    ``back + k + 1`` values."""
    if not _cos_to_surroundings(shape, j, k) <= cos_away:  # (NaN: no direction)
        return math.nan
    ux, uy, uz = shape[j, 0], shape[j, 1], shape[j, 2]
    m = 0
    for jj in range(max(0, j - back), min(med.size - 1, j + k) + 1):
        quiet = cos_quiet if jj >= j - k else cos_still
        if _points_near(med, shape, jj, ux, uy, uz, cos_near, quiet):
            vals[m] = med[jj]
            m += 1
    return _densest_median(vals[:m], tol_g, min_bins)


@_kernel(nt.void(_BUF1, _IN1, _IN1, _IN2, _I, _I, _I, _I, _X, _X, _X, _X, _X, _I))
def level_deviation_steady(  # noqa: PLR0917 - arrays in, one buffer out
    dev: FloatArray, norm: FloatArray, med: FloatArray, shape: FloatArray, start: int,
    b: int, k: int, back: int, cos_away: float, cos_near: float, cos_quiet: float,
    cos_still: float, tol_g: float, min_bins: int,
) -> None:
    """Redo ``dev`` (samples ``start ..``) where the sample's bin has turned away from the
    surrounding seconds (cos of the angle between its direction and their mean bin
    direction under ``cos_away``), against the level the norm holds steady at in its
    direction: among the bins from ``back`` before to ``k`` after (its own included) that
    point within ``cos_near`` of its bin and turn less than ``cos_quiet`` across
    (``bin_shapes``; those more than ``k`` before, less than ``cos_still``), the most bin
    medians ``med`` within ``tol_g`` of one another, at least ``min_bins`` of them; the
    reference is their median. A rest holds one level for several bins; a move's gentle
    parts pass through levels. A short lockout has too few bins of its own, but the set's
    earlier lockouts point its way too; so do its reps' braking, which passes through the
    same levels each rep, hence the stricter turn for the bins further back. Where there are
    no such bins, ``dev`` stays. Computed once per bin, from the bin's own direction."""
    last = med.size - 1
    vals = np.empty(back + k + 1)
    j_ctx = -1
    ref = math.nan
    for r in range(dev.size):
        i = start + r
        j = min(i // b, last)
        if j != j_ctx:  # the reference, once per bin
            j_ctx = j
            ref = _steady_level(med, shape, j, k, back, cos_away, cos_near, cos_quiet,
                                cos_still, tol_g, min_bins, vals)
        if not math.isnan(ref):
            dev[r] = abs(norm[i] - ref)


_REST_EVERY = 4  # level_deviation_rest's reference is computed for every 4th bin (1 s)
_REST_BUCKET_G = 0.0005  # ... from bin medians counted in buckets this wide (g)
_REST_BUCKETS = 512  # ... this many, centred on the bin's own median (+-128 mg)


@_compiled
def _rest_level(  # noqa: PLR0917 - arrays in, one value out
    med: FloatArray, shape: FloatArray, j: int, k: int, back: int, cos_steady: float,
    cos_near: float, cos_quiet: float, tol_g: float, min_bins: int, counts: FloatArray,
) -> float:
    """``level_deviation_rest``'s reference for bin ``j``, or NaN; ``counts`` is room for
    ``_REST_BUCKETS`` counts."""
    own = med[j]
    if math.isnan(own) or not _cos_to_surroundings(shape, j, k) >= cos_steady:
        return math.nan
    ux, uy, uz = shape[j, 0], shape[j, 1], shape[j, 2]
    counts[:] = 0.0
    half = _REST_BUCKETS // 2
    first, hi = max(0, j - back), min(med.size - 1, j + k)
    for jj in range(first, hi + 1):
        if _points_near(med, shape, jj, ux, uy, uz, cos_near, cos_quiet):
            q = math.floor((med[jj] - own) / _REST_BUCKET_G) + half
            if 0 <= q < _REST_BUCKETS:
                counts[q] += 1.0
    w = round(tol_g / _REST_BUCKET_G)  # a window of w + 1 buckets: tol_g and up to one more
    run = 0.0
    for q in range(w + 1):
        run += counts[q]
    best, best_q = run, 0
    for q in range(1, _REST_BUCKETS - w):  # the window's start
        run += counts[q + w] - counts[q - 1]
        if run > best:
            best, best_q = run, q
    if best < min_bins:
        return math.nan
    total = 0.0
    for jj in range(first, hi + 1):  # the mean of the bin medians in the densest window
        if _points_near(med, shape, jj, ux, uy, uz, cos_near, cos_quiet):
            q = math.floor((med[jj] - own) / _REST_BUCKET_G) + half
            if best_q <= q <= best_q + w:
                total += med[jj]
    return total / best


@_kernel(nt.void(_BUF1, _BUF1, _IN1, _IN1, _IN2, _I, _I, _I, _I, _X, _X, _X, _X, _I))
def level_deviation_rest(  # noqa: PLR0917 - arrays in, one buffer out
    dev: FloatArray, last_ref: FloatArray, norm: FloatArray, med: FloatArray,
    shape: FloatArray, start: int, b: int, k: int, back: int, cos_steady: float,
    cos_near: float, cos_quiet: float, tol_g: float, min_bins: int,
) -> None:
    """Redo ``dev`` (samples ``start ..``) where the sample's bin points the way the
    surrounding seconds do (cos of the angle between its direction and their mean bin
    direction at least ``cos_steady``: a bar, a hip at rest), against the level its rests
    hold: among the bins from ``back`` before to ``k`` after that point within ``cos_near``
    of it and turn less than ``cos_quiet`` across (``bin_shapes``), the most bin medians
    ``med`` within ``tol_g`` of one another (counted in ``_REST_BUCKET_G`` buckets, so
    within up to one bucket more), at least ``min_bins`` of them; the reference is their
    mean. The median of the surrounding seconds is a move's level when a set's rests are
    short: a slow descent's first 10-20 mg then read as rest, and its hold as motion.
    Where there are no such bins, ``dev`` stays. The reference is computed for every
    ``_REST_EVERY``-th bin (counted from the first, so chunking cannot move them) and
    serves the bins up to the next that point within ``cos_near`` of it. ``last_ref``
    (bin, reference) keeps the last one computed, for the next call (its bins are final:
    it is the same whichever call computes it)."""
    last = med.size - 1
    counts = np.empty(_REST_BUCKETS)
    j_ctx = -1
    ja_ctx = int(last_ref[0])
    ref = last_ref[1]
    near = False
    for r in range(dev.size):
        i = start + r
        j = min(i // b, last)
        if j != j_ctx:
            j_ctx = j
            ja = j - j % _REST_EVERY  # the reference, once per _REST_EVERY bins
            if ja != ja_ctx:
                ja_ctx = ja
                ref = _rest_level(med, shape, ja, k, back, cos_steady, cos_near, cos_quiet,
                                  tol_g, min_bins, counts)
            # (for the bins that point its way)
            near = (shape[j, 0] * shape[ja, 0] + shape[j, 1] * shape[ja, 1]
                    + shape[j, 2] * shape[ja, 2]) > cos_near
        if near and not math.isnan(ref):
            dev[r] = abs(norm[i] - ref)
    last_ref[0], last_ref[1] = ja_ctx, ref


@_compiled
def _percentile_lin(a: FloatArray, lo: int, hi: int, q: float) -> float:
    """``np.percentile(a[lo:hi], 100 q)`` (method 'linear'), bit for bit: numpy's virtual
    index ``(n - 1) q``, its order statistics and its interpolation; NaN if any is NaN."""
    n = hi - lo
    top = -np.inf
    for i in range(lo, hi):
        if math.isnan(a[i]):
            return math.nan
        top = max(top, a[i])
    vi = (n - 1) * q
    prev = math.floor(vi)
    if vi >= n - 1:  # numpy takes the last (largest) value twice, as index -1
        prev = -1
    gamma = vi - prev
    if prev < 0:
        x0 = x1 = top
    else:
        v = np.partition(a[lo:hi], prev)  # a copy
        x0 = v[prev]
        x1 = v[prev + 1:].min()
    diff = x1 - x0
    if gamma >= 0.5:
        return float(x1 - diff * (1.0 - gamma))
    return float(x0 + diff * gamma)


@_kernel(_BUF1(_IN1, nt.Array(nt.int64, 1, "A", readonly=True), _X))
def block_percentiles(a: FloatArray, bounds: NDArray[np.int64], q: float) -> FloatArray:
    """``np.percentile(a[bounds[i]:bounds[i + 1]], 100 q)`` for each block i."""
    out = np.empty(bounds.size - 1)
    for i in range(out.size):
        out[i] = _percentile_lin(a, bounds[i], bounds[i + 1], q)
    return out


# -- the velocity tracker's gravity baseline over a motion ----------------------------------
# The fit's products are sums in order (numpy's go through BLAS, with fused multiply-adds),
# and exp / arccos are the C library's: these differ from the numpy code's by rounding
# (~1e-16 relative), not bit for bit.

OBS_COLS = 5  # an observation: gravity direction (ux, uy, uz), |m| - 1 (g), weight


@_np_compiled
def _observe_into(  # noqa: PLR0917 - the arrays and the row
    acc: FloatArray, norm: FloatArray, lo: int, hi: int, out: FloatArray, r: int
) -> None:
    """Row ``r`` of ``out``: the still stretch ``lo .. hi - 1`` of ``acc`` (n, 3) in g and
    ``norm`` (n,): the mean's direction, the mean norm minus 1 g, the sample count."""
    m = hi - lo
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    for i in range(lo, hi):  # numpy's axis-0 sum: row after row
        a0 += acc[i, 0]
        a1 += acc[i, 1]
        a2 += acc[i, 2]
    a0 /= m
    a1 /= m
    a2 /= m
    length = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
    out[r, 0] = a0 / length
    out[r, 1] = a1 / length
    out[r, 2] = a2 / length
    out[r, 3] = _pairwise_sum(norm, lo, m) / m - 1.0
    out[r, 4] = m


@_np_compiled
def _clip_unit(x: float) -> float:
    """``min(max(x, -1), 1)``, NaN kept (as np.minimum / np.maximum)."""
    if math.isnan(x):
        return x
    return min(max(x, -1.0), 1.0)


@_np_compiled
def _solve4(a: FloatArray, b: FloatArray) -> FloatArray:
    """The solution of the 4 x 4 system ``a x = b``: Gaussian elimination with partial
    pivoting (as LAPACK's gesv; ``a`` and ``b`` are overwritten)."""
    n = 4
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(a[r, col]) > abs(a[piv, col]):
                piv = r
        if piv != col:
            for c in range(n):
                a[col, c], a[piv, c] = a[piv, c], a[col, c]
            b[col], b[piv] = b[piv], b[col]
        for r in range(col + 1, n):
            f = a[r, col] / a[col, col]
            for c in range(col + 1, n):
                a[r, c] -= f * a[col, c]
            b[r] -= f * b[col]
    x = np.empty(n)
    for r in range(n - 1, -1, -1):
        s = b[r]
        for c in range(r + 1, n):
            s -= a[r, c] * x[c]
        x[r] = s / a[r, r]
    return x


@_np_compiled
def _fit_gravity(obs: FloatArray, w: FloatArray, ridge: float) -> FloatArray:
    """``velocity.fit_gravity_error`` of observations ``obs`` (k, OBS_COLS) with weights
    ``w`` (k,) instead of their last column: (c0, cx, cy, cz)."""
    k = obs.shape[0]
    um = np.zeros(3)
    for i in range(k):
        for j in range(3):
            um[j] += obs[i, j]
    for j in range(3):
        um[j] /= k
    a = np.zeros((4, 4))
    b = np.zeros(4)
    x = np.empty(4)
    for i in range(k):
        x[0] = 1.0
        for j in range(3):
            x[j + 1] = obs[i, j] - um[j]
        for p in range(4):
            xw = x[p] * w[i]
            for q in range(4):
                a[p, q] += xw * x[q]
            b[p] += xw * obs[i, 3]
    total = _pairwise_sum(w, 0, k)
    for p in range(4):
        if p:
            a[p, p] += ridge * total
        a[p, p] += 1e-12  # keeps the normal equations regular
    c = _solve4(a, b)
    c[0] = c[0] - (c[1] * um[0] + c[2] * um[1] + c[3] * um[2])
    return c


@_np_compiled
def _inner_count(still: NDArray[np.bool_], s: int, e: int, min_run: int) -> int:
    """Still runs of at least ``min_run`` samples within ``s .. e - 1``."""
    count = 0
    i = s
    while i < e:
        if still[i]:
            j = i
            while j < e and still[j]:
                j += 1
            count += j - i >= min_run
            i = j
        else:
            i += 1
    return count


_IN_FLAGS = nt.Array(nt.boolean, 1, "A", readonly=True)


def gravity_accel(  # noqa: PLR0917 - arrays and the motion's bounds in
    acc: FloatArray,
    norm: FloatArray,
    still: NDArray[np.bool_],
    old: FloatArray,
    s: int,
    e: int,
    nb: int,
    end_n: int,
    gap: int,
    keep: int,
    local_deg: float,
    ridge: float,
) -> tuple[FloatArray, FloatArray]:
    """Vertical acceleration (m/s^2, up positive) over the motion ``s .. e - 1``: the norm
    of the low-passed acceleration ``acc`` (n, 3) in g (``norm`` (n,)) minus gravity as the
    local error model reads it, fitted on the still observations ``old`` (k, OBS_COLS), the
    rests before (``nb`` samples) and after (``end_n``) and the still runs of 3 or more
    samples of ``still`` (n,) within the motion. The rests are read ``gap`` samples away
    from the motion (the low-pass spreads its first and last acceleration into them) and
    only while ``still``. Returns (the pool ``old`` with the two rests,
    its last ``keep`` rows (0: all), the acceleration (e - s,)); as the numpy code of
    ``VelocityTracker._accel`` did, to rounding.
    """
    n_lp = norm.shape[0]
    # the rests just before and just after the motion
    ends = np.empty((2, 2), dtype=np.int64)
    n_ends = 0
    for before in (True, False):
        if before:
            hi = s - gap
            lo = max(0, hi - nb)
            for i in range(hi - 1, lo - 1, -1):
                if not still[i]:
                    lo = i + 1
                    break
        else:
            lo = e + gap
            hi = min(n_lp, lo + end_n)
            for i in range(lo, hi):
                if i >= still.shape[0] or not still[i]:  # (not decided yet: not still)
                    hi = i
                    break
        if lo < hi and lo < n_lp:
            ends[n_ends, 0] = lo
            ends[n_ends, 1] = hi
            n_ends += 1
    n_old = old.shape[0]
    rows = n_old + n_ends
    first = rows - keep if 0 < keep < rows else 0  # the pool keeps the last ``keep``
    kept = np.empty((rows - first, OBS_COLS))
    for r in range(first, n_old):
        for c in range(OBS_COLS):
            kept[r - first, c] = old[r, c]
    for r in range(n_ends):
        if n_old + r >= first:
            _observe_into(acc, norm, ends[r, 0], ends[r, 1], kept, n_old + r - first)
    # still moments inside the motion: gravity in orientations the rests never saw
    n_inner = _inner_count(still, s, e, 3)
    n_obs = kept.shape[0] + n_inner
    obs = np.empty((max(n_obs, 1), OBS_COLS))
    obs[: kept.shape[0]] = kept
    r = kept.shape[0]
    i = s
    while i < e:
        if still[i]:
            j = i
            while j < e and still[j]:
                j += 1
            if j - i >= 3:
                _observe_into(acc, norm, i, j, obs, r)
                r += 1
            i = j
        else:
            i += 1
    if n_obs == 0:  # nothing seen yet: this motion's start, as if at rest
        for c in range(3):
            obs[0, c] = acc[s, c] / norm[s]
        obs[0, 3] = 0.0
        obs[0, 4] = 1.0
    # local fit: still moments in orientations near this motion's ends count most
    u0 = np.empty(3)
    u1 = np.empty(3)
    for c in range(3):
        u0[c] = acc[s, c] / norm[s]
        u1[c] = acc[e - 1, c] / norm[e - 1]
    w = np.empty(obs.shape[0])
    for r in range(obs.shape[0]):
        c0 = _clip_unit(obs[r, 0] * u0[0] + obs[r, 1] * u0[1] + obs[r, 2] * u0[2])
        c1 = _clip_unit(obs[r, 0] * u1[0] + obs[r, 1] * u1[1] + obs[r, 2] * u1[2])
        cos = c0 + c1 if math.isnan(c0) or math.isnan(c1) else max(c0, c1)  # np.maximum
        z = math.degrees(math.acos(cos)) / local_deg
        w[r] = obs[r, 4] * (math.exp(-(z * z)) + 1e-6)
    coef = _fit_gravity(obs, w, ridge)
    accel = np.empty(e - s)
    for i in range(s, e):
        dot = (acc[i, 0] / norm[i] * coef[1] + acc[i, 1] / norm[i] * coef[2]
               + acc[i, 2] / norm[i] * coef[3])
        accel[i - s] = (norm[i] - (1.0 + coef[0] + dot)) * GRAVITY_MPS2
    return kept, accel


gravity_accel = _np_compiled(
    gravity_accel,
    _TUPLE((_OUT2, _BUF1))(_IN2, _IN1, _IN_FLAGS, _IN2, _I, _I, _I, _I, _I, _I, _X, _X),
)


@_kernel(_BUF1(_IN2, _IN1, _IN2, _IN1, _I, _I, _X, _X, _X))
def off_vertical(  # noqa: PLR0917 - arrays, the motion's bounds and limits in
    acc: FloatArray, norm: FloatArray, raw: FloatArray, bias: FloatArray, s: int, e: int,
    dt: float, max_rate2: float, cos_miss: float,
) -> FloatArray:
    """How much the norm of the low-passed acceleration ``acc`` (n, 3), g, ``norm`` (n,)
    exceeds its component along gravity over the motion ``s .. e - 1`` (g, never much under
    zero): ``|f| - f . u``, the second-order part of a horizontal acceleration (0.3 g
    sideways reads 44 mg "up" in the norm). Gravity's direction ``u`` starts from the
    acceleration's direction at the motion's first sample and is carried forward by the
    body rates (``raw`` (n, 6) columns 3-5, deg/s, less ``bias`` (3,)), and likewise back
    from its last sample; the two are blended linearly in time, so neither end's gyro drift
    runs on. Zeros (the norm alone) where a rate's square exceeds ``max_rate2`` ((deg/s)^2:
    too fast to follow on the grid) or is not finite, where an end has no direction, and
    where the direction carried forward misses the last sample's by more than the angle
    whose cosine is ``cos_miss`` (the gyro did not follow the motion)."""
    n = e - s
    out = np.zeros(n)
    if n < 2 or not (norm[s] > 0.0 and norm[e - 1] > 0.0):
        return out
    deg = math.pi / 180.0
    # forward: a fixed world direction seen from the turning sensor moves by -w x v per s
    fwd = np.empty((n, 3))
    for c in range(3):
        fwd[0, c] = acc[s, c] / norm[s]
    for k in range(n):
        w0 = raw[s + k, 3] - bias[0]
        w1 = raw[s + k, 4] - bias[1]
        w2 = raw[s + k, 5] - bias[2]
        if not w0 * w0 + w1 * w1 + w2 * w2 <= max_rate2:
            return out
        if k == n - 1:
            break
        w0, w1, w2 = w0 * deg, w1 * deg, w2 * deg
        v0, v1, v2 = fwd[k, 0], fwd[k, 1], fwd[k, 2]
        x0 = v0 - (w1 * v2 - w2 * v1) * dt
        x1 = v1 - (w2 * v0 - w0 * v2) * dt
        x2 = v2 - (w0 * v1 - w1 * v0) * dt
        m = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
        fwd[k + 1, 0], fwd[k + 1, 1], fwd[k + 1, 2] = x0 / m, x1 / m, x2 / m
    last = norm[e - 1]
    b0, b1, b2 = acc[e - 1, 0] / last, acc[e - 1, 1] / last, acc[e - 1, 2] / last
    if fwd[n - 1, 0] * b0 + fwd[n - 1, 1] * b1 + fwd[n - 1, 2] * b2 < cos_miss:
        return out
    for k in range(n - 1, -1, -1):
        if k < n - 1:  # back one step, through the rates of sample k
            w0 = (raw[s + k, 3] - bias[0]) * deg
            w1 = (raw[s + k, 4] - bias[1]) * deg
            w2 = (raw[s + k, 5] - bias[2]) * deg
            x0 = b0 + (w1 * b2 - w2 * b1) * dt
            x1 = b1 + (w2 * b0 - w0 * b2) * dt
            x2 = b2 + (w0 * b1 - w1 * b0) * dt
            m = math.sqrt(x0 * x0 + x1 * x1 + x2 * x2)
            b0, b1, b2 = x0 / m, x1 / m, x2 / m
        t = k / (n - 1)
        u0 = (1.0 - t) * fwd[k, 0] + t * b0
        u1 = (1.0 - t) * fwd[k, 1] + t * b1
        u2 = (1.0 - t) * fwd[k, 2] + t * b2
        m = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        i = s + k
        if m > 0.0:
            out[k] = norm[i] - (acc[i, 0] * u0 + acc[i, 1] * u1 + acc[i, 2] * u2) / m
    return out


# -- the velocity tracker's gyro level ------------------------------------------------------
# Bit for bit numpy's: order statistics, sums of three squares in order.


@_np_compiled
def _sum_sq3(x: FloatArray, r: int) -> float:
    """``np.add.reduce(x[r] * x[r])`` for a row of 3 (numpy sums a short row in order)."""
    return float(-0.0 + x[r, 0] * x[r, 0] + x[r, 1] * x[r, 1] + x[r, 2] * x[r, 2])


def gyro_bias(gyro: FloatArray, still: NDArray[np.bool_], step: int) -> FloatArray:
    """The gyro's bias (3,) in deg/s from its rates ``gyro`` (n, 3) at the ``still`` samples:
    every ``step``-th still sample, the quarter with the smallest rates (magnitude at most the
    quarter's order statistic), then per axis the upper median. Empty (0,) when no sample
    qualifies (no still sample, or NaN rates)."""
    idx = np.flatnonzero(still)[::step]
    m = idx.size
    if m == 0:
        return np.empty(0)
    mag2 = np.empty(m)
    for r in range(m):
        mag2[r] = _sum_sq3(gyro, idx[r])
    limit = np.partition(mag2, m // 4)[m // 4]
    count = 0
    for r in range(m):
        count += mag2[r] <= limit
    if count == 0:
        return np.empty(0)
    bias = np.empty(3)
    col = np.empty(count)
    for c in range(3):
        k = 0
        for r in range(m):
            if mag2[r] <= limit:
                col[k] = gyro[idx[r], c]
                k += 1
        bias[c] = np.sort(col)[count // 2]
    return bias


gyro_bias = _np_compiled(gyro_bias, _BUF1(_IN2, _IN_FLAGS, _I))


def gyro_near(gyro: FloatArray, bias: FloatArray, level2: float) -> NDArray[np.bool_]:
    """Rows of ``gyro`` (n, 3) whose squared distance to ``bias`` (3,) is under ``level2``."""
    n = gyro.shape[0]
    out = np.empty(n, dtype=np.bool_)
    d = np.empty((1, 3))
    for r in range(n):
        for c in range(3):
            d[0, c] = gyro[r, c] - bias[c]
        out[r] = _sum_sq3(d, 0) < level2
    return out


gyro_near = _np_compiled(gyro_near, _FLAGS(_IN2, _IN1, _X))


@_kernel(nt.void(_IN2, _IN2, _BUF2, _BUF2, _BUF1, _BUF2, _BUF1, _I))
def filtered_rows_into(  # noqa: PLR0917 - the tracker's buffers, in place
    y: FloatArray,
    ys: FloatArray,
    acc_lp: FloatArray,
    acc_still: FloatArray,
    norm_still: FloatArray,
    gyro_lp: FloatArray,
    norm: FloatArray,
    at: int,
) -> None:
    """Write the filters' channel rows into the tracker's sample rows from row ``at``:
    ``y`` (3, n), the speed's low-pass of the acceleration (g), into ``acc_lp`` and its norm
    into ``norm``; ``ys`` (c, n), the stillness low-pass, acceleration into ``acc_still``
    and its norm into ``norm_still``, gyro (c = 6, deg/s) into ``gyro_lp``. Norms as numpy
    computes them (squares summed over the axes in order)."""
    n = y.shape[1]
    gyro = ys.shape[0] >= 6
    for i in range(n):
        s2 = 0.0
        s2s = 0.0
        for c in range(3):
            acc_lp[at + i, c] = y[c, i]
            s2 += y[c, i] * y[c, i]
            acc_still[at + i, c] = ys[c, i]
            s2s += ys[c, i] * ys[c, i]
        norm[at + i] = math.sqrt(s2)
        norm_still[at + i] = math.sqrt(s2s)
        if gyro:
            for c in range(3):
                gyro_lp[at + i, c] = ys[3 + c, i]


# -- the velocity tracker's zero-velocity updates -------------------------------------------
# Run scans and the integration are exact (logic, elementwise arithmetic, sums in order);
# the turn test's dot products are in order where numpy's went through BLAS (to rounding).

_MASK = nt.Array(nt.boolean, 1, "A", readonly=True)


@_kernel(_I(_MASK, _I, _I, _B))
def next_index(mask: NDArray[np.bool_], start: int, stop: int, value: bool) -> int:
    """First index in [start, stop) where ``mask`` equals ``value``; ``stop`` if none."""
    for i in range(start, stop):
        if mask[i] == value:
            return i
    return stop


@_kernel(_I(_MASK, _I))
def run_start(mask: NDArray[np.bool_], p: int) -> int:
    """Start of the run of equal values that contains index ``p``."""
    value = mask[p]
    i = p
    while i > 0 and mask[i - 1] == value:
        i -= 1
    return i


@_kernel(_FLAGS(_MASK, _I, _I, _B))
def long_runs(raw: NDArray[np.bool_], p: int, min_run: int, final: bool) -> NDArray[np.bool_]:
    """Decisions from sample ``p`` of ``raw`` (n,) on: True in the still runs of at least
    ``min_run`` samples. A still run at the end that is shorter is undecided (the result
    stops at its start) unless ``final``; then it counts only if it is the run that contains
    ``p`` (nothing moved since the decisions so far)."""
    n = raw.shape[0]
    q = run_start(raw, p) if p > 0 else p  # the start of the run that contains p
    out = np.zeros(n - q, dtype=np.bool_)
    stop = n - q
    a = q
    while a < n:
        b = a + 1
        while b < n and raw[b] == raw[a]:
            b += 1
        if raw[a]:
            long_enough = b - a >= min_run
            if b == n and not final and not long_enough:
                stop = a - q  # still run at the end: too early to tell
                break
            if long_enough or (final and b == n and a == q):
                out[a - q : b - q] = True
        a = b
    return out[p - q : stop]


@_kernel(_BUF1(_IN1, _X))
def integrate_segment(accel_mps2: FloatArray, dt_s: float) -> FloatArray:
    """Speed (m/s) over a motion from its acceleration (m/s^2) by the trapezoidal rule, zero
    just before and just after: the final residual is spread linearly (as numpy computed
    it: cumulative sum, then times dt, then the ramp ``v_end * k / (n + 1)``)."""
    n = accel_mps2.size
    v = np.empty(n + 1)
    total = 0.0
    prev = 0.0
    for k in range(n + 1):
        a = accel_mps2[k] if k < n else 0.0
        total += (a + prev) * 0.5
        v[k] = total
        prev = a
    end = v[n] * dt_s
    out = np.empty(n)
    for k in range(n):
        out[k] = v[k] * dt_s - end * (k + 1) / (n + 1)
    return out


def turned(acc: FloatArray, norm: FloatArray, i: int, j: int, cos_turn: float) -> bool:
    """Did the direction of ``acc`` (n, 3) (norms ``norm``) turn by more than the angle of
    cosine ``cos_turn`` from sample ``i`` at any sample up to ``j`` included? NaN: no."""
    u0 = acc[i, 0] / norm[i]
    u1 = acc[i, 1] / norm[i]
    u2 = acc[i, 2] / norm[i]
    low = np.inf
    for k in range(i, j + 1):
        c = acc[k, 0] / norm[k] * u0 + acc[k, 1] / norm[k] * u1 + acc[k, 2] / norm[k] * u2
        if math.isnan(c):
            return False
        low = min(low, c)
    return bool(low < cos_turn)


turned = _np_compiled(turned, _B(_IN2, _IN1, _I, _I, _X))


# -- the lockout detector's state machine: its events --------------------------------------
# ``lockout_scan`` stops where something happens; these handle it (they were the detector's
# Python methods, in the same order and arithmetic). They run in the block's compiled call,
# so Python only sees the lockouts, to make their events.


@_compiled
def _py_max(a: float, b: float) -> float:
    """Python's ``max(a, b)`` (the first unless the second is greater: NaN first stays)."""
    return b if b > a else a


@_compiled
def _py_min(a: float, b: float) -> float:
    """Python's ``min(a, b)``."""
    return b if b < a else a


@_compiled
def _reset_speed(st: FloatArray) -> None:
    st[S_V] = 0.0
    st[S_A_PREV] = 0.0


@_compiled
def _observe_run(par: FloatArray, st: FloatArray, obs: FloatArray) -> None:
    """A still run has ended: what gravity reads at rest in its orientation, as an
    observation row (ux, uy, uz, |a| - 1, samples) of ``obs`` (the oldest goes when it is
    full), and the gravity-error model refitted on them (``par[P_COEF:]``).

    The still test then checks |a| against that model (within ``still_level_g`` of the rest
    baseline, where the orientation has been seen at rest: a constant acceleration, the
    middle of a slow rise, has no variance but is not rest).
    """
    run = st[S_STILL_RUN]
    if run < par[P_MIN_STILL]:
        return
    a0 = st[S_RUN_ACC] / run
    a1 = st[S_RUN_ACC + 1] / run
    a2 = st[S_RUN_ACC + 2] / run
    norm = st[S_RUN_NORM] / run
    m = int(par[P_N_OBS])
    if m == obs.shape[0]:  # full: the oldest goes
        for r in range(m - 1):
            for c in range(OBS_COLS):
                obs[r, c] = obs[r + 1, c]
    else:
        m += 1
    d = max(math.sqrt(a0 * a0 + a1 * a1 + a2 * a2), 1e-9)
    obs[m - 1, 0] = a0 / d
    obs[m - 1, 1] = a1 / d
    obs[m - 1, 2] = a2 / d
    obs[m - 1, 3] = norm - 1.0
    obs[m - 1, 4] = run
    coef = _fit_gravity(obs[:m], obs[:m, 4], par[P_RIDGE])
    for j in range(4):
        par[P_COEF + j] = coef[j]
    par[P_N_OBS] = m


@_compiled
def _judge(par: FloatArray, st: FloatArray) -> bool:
    """Is the rise that just ended a rep? A refused one waits for its descent."""
    rise = st[S_Z] - st[S_RISE_Z0]
    ok = _qualified(rise, st[S_VPK], par)
    if not ok and par[P_MIN_RISE] <= rise <= par[P_MAX_RISE]:  # refused by the scale only
        st[S_PENDING] = 1.0
        st[S_PEND_RISE] = rise
        st[S_PEND_VPK] = st[S_VPK]
    return ok


@_compiled
def _set_scale(par: FloatArray, st: FloatArray, lst: int, k: int) -> None:
    """The scale is the median (rise, peak) of the ``k`` rows of the list at ``st[lst:]``."""
    rises = np.empty(k)
    peaks = np.empty(k)
    for j in range(k):
        rises[j] = st[lst + 2 * j]
        peaks[j] = st[lst + 2 * j + 1]
    r_med = np.median(rises)
    v_med = np.median(peaks)
    st[S_SCALE_R] = r_med
    st[S_SCALE_V] = v_med
    par[P_HAS_SCALE] = 1.0
    par[P_RANGE_LO] = r_med / par[P_RANGE_RATIO]
    par[P_RANGE_HI] = r_med * par[P_RANGE_RATIO]
    par[P_PEAK_HI] = v_med * par[P_PEAK_RATIO]


@_compiled
def _pair(par: FloatArray, st: FloatArray) -> None:
    """A descent ended: a rise followed by a descent of its size was a rep (or the
    athlete's reps are not what the scale says, after ``confirm_reps`` refusals). The scale
    is the median of the last ``scale_reps`` reps, once there are ``confirm_reps``."""
    pending = st[S_PENDING]
    if pending == 0.0:
        return
    st[S_PENDING] = 0.0
    rise, vpk = st[S_PEND_RISE], st[S_PEND_VPK]
    drop = st[S_Z_DESC0] - st[S_Z]
    r = par[P_PAIR_RATIO]
    if not rise / r <= drop <= rise * r:
        return
    keep = int(par[P_SCALE_REPS])
    ranges = ST_SIZE  # the recent reps' list, then the refused rises' (st_size)
    rejected = ST_SIZE + 2 * (max(keep, int(par[P_CONFIRM])) + 1)
    n = int(st[S_N_RANGES])
    if pending == 2.0:  # accepted: one more rep of the scale
        st[ranges + 2 * n] = rise
        st[ranges + 2 * n + 1] = vpk
        n += 1
        st[S_N_REJECTED] = 0.0
    else:
        k = int(st[S_N_REJECTED])
        st[rejected + 2 * k] = rise
        st[rejected + 2 * k + 1] = vpk
        k += 1
        st[S_N_REJECTED] = k
        if k < par[P_CONFIRM]:
            return
        for j in range(2 * k):  # the refused rises are the athlete's reps
            st[ranges + j] = st[rejected + j]
        n = k
        st[S_N_REJECTED] = 0.0
    drop_n = max(n - keep, 0)  # keep the last scale_reps
    if drop_n:
        for j in range(2 * (n - drop_n)):
            st[ranges + j] = st[ranges + 2 * drop_n + j]
        n -= drop_n
    st[S_N_RANGES] = n
    if n >= par[P_CONFIRM]:
        _set_scale(par, st, ranges, n)


@_compiled
def _lockout(t_lock: float, par: FloatArray, st: FloatArray) -> None:
    """The rise ended at ``t_lock``: the hold starts; the event's fields go to st[S_EV_*].
    A lockout starts a new set after ``set_gap_s`` or once the engine has closed the set."""
    rise = st[S_Z] - st[S_RISE_Z0]
    t_start = st[S_RISE_T0] - par[P_DELAY]
    st[S_T_LOCKOUT] = t_lock
    st[S_CONC] = t_lock - t_start
    st[S_HAS_CONC] = 1.0
    st[S_HAS_CONC + 1] = 0.0
    st[S_HAS_CONC + 2] = 0.0
    st[S_PHASE] = PHASE_HOLD
    _reset_speed(st)
    st[S_HAS_PREV] = 0.0
    set_index = st[S_SET_INDEX]
    if (set_index < 0 or t_lock - st[S_LAST_REP_T] > par[P_SET_GAP]
            or st[S_SETS_SEEN] > set_index):
        nxt = set_index + (1.0 if st[S_SET_REPS] >= par[P_MIN_REPS] else 0.0)
        st[S_SET_INDEX] = max(st[S_SETS_SEEN], nxt, 0.0)
        st[S_SET_REPS] = 0.0
    st[S_PENDING] = 2.0
    st[S_PEND_RISE] = rise
    st[S_PEND_VPK] = st[S_VPK]
    st[S_EV_T] = t_lock
    st[S_EV_SET] = st[S_SET_INDEX]
    st[S_EV_REP] = st[S_SET_REPS]
    st[S_SET_REPS] += 1.0
    st[S_LAST_REP_T] = t_lock


@_compiled
def _bottom(t_bottom: float, par: FloatArray, st: FloatArray) -> None:
    """The descent ended at ``t_bottom``: pair it with its rise; the rep's eccentric."""
    _pair(par, st)
    if not math.isnan(st[S_T_DESCENT]) and st[S_HAS_CONC + 1] > 0.0:
        st[S_CONC + 2] = t_bottom - st[S_T_DESCENT]
        st[S_HAS_CONC + 2] = 1.0
        st[S_LAST_REP_T] = t_bottom
    st[S_T_DESCENT] = math.nan
    st[S_PHASE] = PHASE_BOTTOM
    _reset_speed(st)


@_compiled
def _on_still(t: float, par: FloatArray, st: FloatArray) -> bool:
    """A still run has become long enough at ``t``: speed is zero; a qualified rise has
    ended (its lockout: True), a descent has."""
    _reset_speed(st)
    phase = int(st[S_PHASE])
    if phase == PHASE_CONCENTRIC:
        if _judge(par, st):
            t_est = t - (st[S_STILL_RUN] + par[P_HALF_W]) * par[P_DT]
            _lockout(_py_max(t_est, st[S_RISE_T0]), par, st)
            return True
        st[S_PHASE] = PHASE_BOTTOM
    elif phase == PHASE_ECCENTRIC:
        _bottom(t - st[S_STILL_RUN] * par[P_DT], par, st)
    return False


@_compiled
def _rest_event(t: float, par: FloatArray, st: FloatArray) -> None:
    """At the bottom or holding the top, the speed passed +-``moving_mps`` at ``t``."""
    v = st[S_V]
    moving = par[P_MOVING]
    phase = int(st[S_PHASE])
    if v > moving and phase == PHASE_BOTTOM:
        st[S_PHASE] = PHASE_CONCENTRIC
        quiet = st[S_T_QUIET]
        st[S_RISE_T0] = quiet if t - quiet <= par[P_MAX_LEAD] else t  # (False if NaN)
        st[S_RISE_Z0] = st[S_Z]
        st[S_VPK] = v
        st[S_APK] = 0.0
        st[S_HAS_PREV] = 0.0
        st[S_PENDING] = 0.0
    elif v < -moving:
        st[S_PHASE] = PHASE_ECCENTRIC
        st[S_DESC_VMIN] = v
        st[S_Z_DESC0] = st[S_Z]
        if phase == PHASE_HOLD:
            t_descent = _py_max(st[S_T_QUIET] - par[P_DELAY], st[S_T_LOCKOUT])
            st[S_T_DESCENT] = t_descent
            st[S_CONC + 1] = t_descent - st[S_T_LOCKOUT]
            st[S_HAS_CONC + 1] = 1.0
    else:  # rising again from the top: drift or a second push
        _reset_speed(st)


@_compiled
def _rise_event(t: float, par: FloatArray, st: FloatArray) -> bool:
    """The rise's speed fell under 5 % of its peak at ``t`` (S_ENDED), or its deceleration
    died out with a rep-sized rise behind it. True: a lockout."""
    v = st[S_V]
    if st[S_ENDED] == 0.0:
        _lockout(t - par[P_DELAY], par, st)
        return True
    thr = par[P_PHASE] * st[S_VPK]
    if _judge(par, st):
        t_cross = t
        if st[S_HAS_PREV] > 0.0:  # linear interpolation of the crossing
            t0, v0 = st[S_PREV_T], st[S_PREV_V]
            frac = (v0 - thr) / (v0 - v) if v0 != v else 1.0
            t_cross = t0 + _py_min(_py_max(frac, 0.0), 1.0) * (t - t0)
        _lockout(t_cross - par[P_DELAY], par, st)
        return True
    st[S_PHASE] = PHASE_BOTTOM if v > -par[P_MOVING] else PHASE_ECCENTRIC
    st[S_DESC_VMIN] = min(v, 0.0)
    st[S_Z_DESC0] = st[S_Z]
    _reset_speed(st)
    return False


@_kernel(_UNITUPLE(_I, 2)(_BUF2, _I, _I, _I, _BUF1, _BUF1, _BUF2))
def lockout_events(  # noqa: PLR0917 - the state machine: arrays in, state in place
    sig: FloatArray,
    k0: int,
    i: int,
    what: int,
    par: FloatArray,
    st: FloatArray,
    obs: FloatArray,
) -> tuple[int, int]:
    """Handle what ``lockout_scan`` stopped for (row ``i``, SCAN_* ``what``; SCAN_RESUME:
    nothing, scan on from row ``i``) and scan on, until the end of the block (SCAN_DONE) or
    a lockout (SCAN_LOCKOUT, its fields in st[S_EV_*]: call again with SCAN_RESUME at the
    returned row). ``obs`` is the gravity-error model's observations (rows in use:
    par[P_N_OBS])."""
    while what != SCAN_DONE:
        force = False
        lockout = False
        t = float(k0 + i) * par[P_DT]
        if what == SCAN_STILL_LONG:
            lockout = _on_still(t, par, st)
            i += 1
        elif what == SCAN_RUN_END:
            _observe_run(par, st, obs)
            for j in range(S_STILL_RUN, S_RUN_NORM + 1):
                st[j] = 0.0
            force = True  # row i moves, whatever the new baseline says
        elif what == SCAN_PHASE:
            phase = int(st[S_PHASE])
            if phase == PHASE_CONCENTRIC:
                lockout = _rise_event(t, par, st)
            elif phase == PHASE_ECCENTRIC:
                _bottom(t - par[P_DELAY], par, st)
            else:
                _rest_event(t, par, st)
            i += 1
        if lockout:
            return i, SCAN_LOCKOUT
        i, what = lockout_scan(sig, k0, i, force, par, st, obs)
    return i, SCAN_DONE


# -- one block in one call --------------------------------------------------------------------


@_kernel(_UNITUPLE(_I, 2)(_IN2, _I, _IN2, _BUF2, _BUF2, _BUF2, _BUF2, _BUF1, _BUF1, _BUF2,
                          _BUF2))
def lockout_step(  # noqa: PLR0917 - the detector's state, in place
    values: FloatArray,
    k0: int,
    ba: FloatArray,
    zi: FloatArray,
    zi_s: FloatArray,
    tail: FloatArray,
    hist: FloatArray,
    par: FloatArray,
    st: FloatArray,
    obs: FloatArray,
    sig: FloatArray,
) -> tuple[int, int]:
    """One grid block through the detector in one call: ``lockout_front`` (its filters
    ``ba`` rows b, a, b_s, a_s) into the first n rows of ``sig`` (at least (n, SIG_COLS)),
    then ``lockout_scan`` and ``lockout_events`` from row 0. Returns where they stopped
    (SCAN_DONE, or SCAN_LOCKOUT and the row to resume at, on ``sig[:n]``)."""
    rows = sig[: values.shape[0]]
    _front(values, k0, ba[0], ba[1], ba[2], ba[3], zi, zi_s, tail, hist, par, st, rows)
    i, what = lockout_scan(rows, k0, 0, False, par, st, obs)  # (its one compiled version)
    return lockout_events(rows, k0, i, what, par, st, obs)


_STATE_I = nt.Array(nt.int64, 1, "C")


@_kernel(_UNITUPLE(_I, 4)(_IN1, _IN2, _IN2, _BUF2, _FLAGS, _I, _BUF1, _BUF2, _STATE_I, _X, _X,
                          _IN2, _BUF2, _BUF2, _BUF2, _BUF2, _BUF1, _BUF1, _BUF2, _BUF2))
def grid_lockout_step(  # noqa: PLR0917 - the resampler's and the detector's state, in place
    t_new: FloatArray,
    acc: FloatArray,
    gyro: FloatArray,
    rows: FloatArray,
    gap: NDArray[np.bool_],
    at: int,
    t_buf: FloatArray,
    v_buf: FloatArray,
    grid_state: NDArray[np.int64],
    rate_hz: float,
    max_gap_s: float,
    ba: FloatArray,
    zi: FloatArray,
    zi_s: FloatArray,
    tail: FloatArray,
    hist: FloatArray,
    par: FloatArray,
    st: FloatArray,
    obs: FloatArray,
    sig: FloatArray,
) -> tuple[int, int, int, int]:
    """A live block in one call: ``grid_push_into`` (its two counters in ``grid_state``:
    samples kept, next grid point), then ``lockout_step`` on the new rows. The live engine
    is fed a few samples at a time, so one call instead of two (and no Python between them)
    is a good part of its time.

    Returns (grid index of the first new row, n, the detector's row, SCAN_* code: DONE, or
    LOCKOUT as ``lockout_step``). n < 0: no room in ``rows`` (nothing done, as
    grid_push_into). SCAN_NO_INPUT: no room for the samples in ``t_buf``, or ``v_buf`` has
    other columns (nothing done). SCAN_NO_ROOM: the rows are out but ``sig`` is too small
    for them; the detector has not seen them.
    """
    m = grid_state[0]
    if t_new.size and (m + t_new.size > t_buf.shape[0]
                       or v_buf.shape[1] != (6 if gyro.shape[0] else 3)):
        return 0, 0, 0, SCAN_NO_INPUT
    m, next_k, n = grid_push_into(t_buf, v_buf, m, t_new, acc, gyro, grid_state[1], rate_hz,
                                  max_gap_s, rows, gap, at)
    if n < 0:
        return next_k, n, 0, SCAN_DONE
    grid_state[0] = m
    grid_state[1] = next_k
    k0 = next_k - n
    if n == 0:
        return k0, 0, 0, SCAN_DONE
    if n > sig.shape[0]:
        return k0, n, 0, SCAN_NO_ROOM
    i, what = lockout_step(rows[at : at + n], k0, ba, zi, zi_s, tail, hist, par, st, obs, sig)
    return k0, n, i, what
