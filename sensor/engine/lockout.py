"""Low-latency lockout detection: is the rise of a rep over? Causal, for the live display.

The engine's reps are final only once a set has closed (seconds later), because its speed
is de-drifted between still periods. This detector answers sooner, from the past alone:

- the accelerometer is low-passed with a causal IIR filter (``sosfilt`` with carried state);
- the vertical acceleration is ``(|a| - baseline) * g`` where the baseline is what the norm
  reads at rest in the current orientation (the engine's gravity-error model, fitted on the
  still periods seen so far, so a bias that depends on orientation cancels);
- that is integrated forward to a speed (m/s, up positive) and a position (m), from zero at
  the last still period or the last phase end (lockout, bottom);
- once a rise has reached ``min_rise_m``, the lockout is where the speed falls below
  ``phase_fraction`` (the spec's 5 %) of the rise's peak speed, or where the deceleration has
  died out (robust to a drifting speed), or at the latest where the sensor becomes still.

The event's ``t_s`` estimates the lockout time (the filter's delay taken off); it comes out
when the grid sample that decides it is fed. Times are on the grid ``t = k / rate_hz`` of
the recording's time base. ``tempo`` gives the live tempo of the last rep (concentric, hold,
eccentric) and ``phase`` the current phase, for the terminal's hold timer.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from scipy.signal import butter, sosfilt, sosfilt_zi

from sensor.engine.resample import GridBlock
from sensor.engine.velocity import GRAVITY_MPS2, Growable, fit_gravity_error
from sensor.events import LockoutReached
from sensor.samples import FloatArray
from sensor.summary import Leg, Phase

if TYPE_CHECKING:
    from sensor.engine.engine import Engine

LegOfSet = Callable[[int], Leg]


_DEFAULT_FLOOR_ACC_G2 = 1.5e-6  # before a floor is learnt (the engine's default too)
_DEFAULT_FLOOR_GYRO_DPS2 = 0.05


@dataclass(frozen=True)
class LockoutParams:
    """Tuning constants of the detector (units in the names)."""

    lowpass_hz: float = 6.0  # 2nd-order Butterworth on the accelerometer (speed path)
    still_lowpass_hz: float = 2.5  # heavier, for the stillness test (hold tremor out)
    still_window_s: float = 0.3  # trailing window of the stillness test
    still_ratio: float = 6.0  # still when activity < ratio x the noise floor ...
    still_acc_min_g2: float = 1.5e-5  # ... or under this
    still_gyro_min_dps2: float = 0.5
    floor_history_s: float = 20.0  # the noise floor: 10th percentile of this much activity
    min_still_s: float = 0.12  # a still run this long resets the speed and feeds the baseline
    baseline_obs: int = 40  # still observations kept for the gravity-error model
    moving_mps: float = 0.04  # a phase starts when the speed passes this
    min_rise_m: float = 0.07  # smallest rise that is a rep
    max_rise_m: float = 1.2
    range_ratio: float = 1.75  # a rise this far from the session's recent median is not a rep
    peak_ratio: float = 2.5  # nor one whose peak speed is this much higher
    confirm_reps: int = 3  # lockouts of a set with this many reps are reps: they set the scale
    phase_fraction: float = 0.05  # the spec's 5 % of the peak speed
    quiet_fraction: float = 0.25  # at rest while |speed| < this share of ``moving_mps``
    max_lead_s: float = 1.5  # a phase starts at most this long before its speed passes moving_mps
    decel_fraction: float = 0.2  # the deceleration has died out under this share of its peak
    decel_speed_fraction: float = 0.3  # ... while the speed is under this share of the peak
    set_gap_s: float = 8.0  # a lockout this long after the previous one starts a new set
    min_reps_per_set: int = 2


@dataclass(frozen=True)
class LiveTempo:
    """The live estimate of the last rep's phases, in seconds (None: not seen yet)."""

    concentric_s: float | None
    hold_s: float | None
    eccentric_s: float | None


def _group_delay_s(cutoff_hz: float) -> float:
    """Low-frequency group delay of a 2nd-order Butterworth low-pass: sqrt(2) / (2 pi fc)."""
    return math.sqrt(2.0) / (2.0 * math.pi * cutoff_hz)


class LockoutDetector:
    """Streaming: grid blocks in, ``LockoutReached`` events out as soon as a rise ends.

    ``push`` takes a grid block (``k``, ``values`` = acc in g, then gyro in deg/s if any),
    the number of sets the engine has closed so far and a function giving the leg of a set
    index, and returns the lockouts decided by that block.
    """

    def __init__(self, rate_hz: float, params: LockoutParams | None = None) -> None:
        self.rate_hz = rate_hz
        self.p = params or LockoutParams()
        self.dt_s = 1.0 / rate_hz
        nyquist = rate_hz / 2.0
        self._sos = butter(2, min(self.p.lowpass_hz, 0.9 * nyquist), fs=rate_hz, output="sos")
        self._sos_still = butter(
            2, min(self.p.still_lowpass_hz, 0.9 * nyquist), fs=rate_hz, output="sos"
        )
        self.delay_s = _group_delay_s(min(self.p.lowpass_hz, 0.9 * nyquist))
        self._zi: FloatArray | None = None
        self._zi_still: FloatArray | None = None
        self._w = max(2, round(self.p.still_window_s * rate_hz))
        self._tail: FloatArray | None = None  # last w-1 still-filtered rows (window history)
        self._floor_n = max(10, round(self.p.floor_history_s * rate_hz))
        self._act = Growable(2)  # (acc, gyro) activity history for the noise floor
        self._floor_a = _DEFAULT_FLOOR_ACC_G2
        self._floor_g = _DEFAULT_FLOOR_GYRO_DPS2
        self._min_still = max(1, round(self.p.min_still_s * rate_hz))
        self._obs: list[FloatArray] = []
        self._coef: FloatArray = np.zeros(4)
        # still run in progress: count, sums for its observation
        self._still_run = 0
        self._run_acc = np.zeros(3)
        self._run_norm = 0.0
        # kinematics
        self._v = 0.0
        self._z = 0.0
        self._a_prev = 0.0
        self.phase: Phase = Phase.BOTTOM
        self._rise_t0 = math.nan  # time the rise started (left rest)
        self._rise_z0 = 0.0
        self._vpk = 0.0
        self._apk = 0.0  # peak deceleration (positive number) during the rise
        self._v_hist: list[tuple[float, float]] = []  # (t, v) during the rise
        self._desc_vmin = 0.0
        self._t_lockout = math.nan
        self._t_descent = math.nan
        self._t_quiet = math.nan
        self._t_start = math.nan
        self._concentric_s: float | None = None
        self._hold_s: float | None = None
        self._eccentric_s: float | None = None
        self._ranges: list[tuple[float, float]] = []  # (rise m, peak m/s) of confirmed reps
        self._set_ranges: list[tuple[float, float]] = []  # ... of the current set's lockouts
        # sets
        self._set_index = -1
        self._set_reps = 0
        self._last_lockout_t = -math.inf
        self._sets_closed_seen = 0
        self.t_last_s = math.nan

    # -- public state ----------------------------------------------------------------------

    @property
    def tempo(self) -> LiveTempo:
        return LiveTempo(self._concentric_s, self._hold_s, self._eccentric_s)

    @property
    def lockout_t_s(self) -> float | None:
        """Time of the current lockout while holding at the top, else None."""
        return self._t_lockout if self.phase is Phase.HOLD else None

    # -- input -----------------------------------------------------------------------------

    def push(
        self,
        block: GridBlock,
        *,
        sets_closed: int = 0,
        leg_of_set: LegOfSet | None = None,
    ) -> list[LockoutReached]:
        n = block.k.size
        if n == 0:
            return []
        values = block.values
        acc = values[:, :3]
        gyro = values[:, 3:6] if values.shape[1] >= 6 else None
        if self._zi is None:
            self._zi = sosfilt_zi(self._sos)[:, :, None] * acc[0][None, None, :]
            first = values[0]
            self._zi_still = sosfilt_zi(self._sos_still)[:, :, None] * first[None, None, :]
            self._tail = np.repeat(first[None, :], self._w - 1, axis=0)
        lp, self._zi = sosfilt(self._sos, acc, axis=0, zi=self._zi)
        ls, self._zi_still = sosfilt(self._sos_still, values, axis=0, zi=self._zi_still)
        norm = np.sqrt((lp * lp).sum(axis=1))
        still = self._stillness(ls, block.k, gyro is not None)
        t: FloatArray = block.k.astype(np.float64) * self.dt_s
        self._sets_closed_seen = max(self._sets_closed_seen, sets_closed)
        return self._run(t, lp, norm, still, leg_of_set)

    def _stillness(
        self, ls: FloatArray, k: NDArray[np.int64], with_gyro: bool
    ) -> NDArray[np.bool_]:
        """Trailing-window activity (variance) against a learnt noise floor.

        The floor (10th percentile of the last ``floor_history_s`` of activity, never rising)
        is updated at whole seconds of the grid, so chunking the input cannot change it.
        """
        if self._tail is None:
            raise RuntimeError("push() initialises the window first")
        x = np.concatenate([self._tail, ls])
        self._tail = x[-(self._w - 1) :]
        win = sliding_window_view(x, self._w, axis=0)  # (n, c, w)
        dev = win - win.mean(axis=2, keepdims=True)
        var = (dev * dev).mean(axis=2)  # (n, c)
        act_a = var[:, :3].sum(axis=1)
        act_g = var[:, 3:6].sum(axis=1) if with_gyro else act_a
        thr = np.empty((act_a.size, 2))
        step = round(self.rate_hz)
        cuts = np.flatnonzero(k % step == 0)
        bounds = [0, *[int(c) for c in cuts if c > 0], act_a.size]
        for lo, hi in itertools.pairwise(bounds):
            if lo > 0 or (k[0] % step == 0 and self._act.n):
                self._update_floor()
            thr[lo:hi, 0] = max(self.p.still_ratio * self._floor_a, self.p.still_acc_min_g2)
            thr[lo:hi, 1] = max(self.p.still_ratio * self._floor_g, self.p.still_gyro_min_dps2)
            self._act.append(np.stack([act_a[lo:hi], act_g[lo:hi]], axis=1))
        still: NDArray[np.bool_] = np.less(act_a, thr[:, 0])
        if with_gyro:
            still &= np.less(act_g, thr[:, 1])
        return still

    def _update_floor(self) -> None:
        hist: FloatArray = np.asarray(self._act.data[-self._floor_n :], dtype=np.float64)
        floor = np.percentile(hist, 10, axis=0)
        self._floor_a = min(self._floor_a, max(float(floor[0]), 1e-7))
        self._floor_g = min(self._floor_g, max(float(floor[1]), 0.002))
        if self._act.n > 4 * self._floor_n:  # keep the buffer bounded
            keep = self._act.data[-self._floor_n :].copy()
            self._act = Growable(2)
            self._act.append(keep)

    # -- the state machine -----------------------------------------------------------------

    def _base(self, acc: FloatArray) -> float:
        u = acc / max(float(np.linalg.norm(acc)), 1e-9)
        return 1.0 + float(self._coef[0] + u @ self._coef[1:])

    def _observe_run(self) -> None:
        if self._still_run < self._min_still:
            return
        acc = self._run_acc / self._still_run
        norm = self._run_norm / self._still_run
        u = acc / max(float(np.linalg.norm(acc)), 1e-9)
        self._obs.append(np.array([*u, norm - 1.0, float(self._still_run)]))
        del self._obs[: -self.p.baseline_obs]
        self._coef = fit_gravity_error(np.vstack(self._obs))

    def _run(
        self,
        t: FloatArray,
        lp: FloatArray,
        norm: FloatArray,
        still: NDArray[np.bool_],
        leg_of_set: LegOfSet | None,
    ) -> list[LockoutReached]:
        events: list[LockoutReached] = []
        dt = self.dt_s
        g = GRAVITY_MPS2
        still_l = still.tolist()
        norm_l = norm.tolist()
        t_l = t.tolist()
        # The baseline only changes when a still run ends; compute it per sample lazily.
        u = lp / np.maximum(norm, 1e-9)[:, None]
        base_fixed = 1.0 + self._coef[0] + u @ self._coef[1:]
        base_l = base_fixed.tolist()
        coef_version = len(self._obs), self._coef[0]
        for i in range(t.size):
            ti = t_l[i]
            if still_l[i]:
                self._still_run += 1
                self._run_acc += lp[i]
                self._run_norm += norm_l[i]
                if self._still_run >= self._min_still:
                    ev = self._on_still(ti, leg_of_set)
                    if ev is not None:
                        events.append(ev)
                continue
            if self._still_run:
                self._observe_run()
                self._still_run = 0
                self._run_acc = np.zeros(3)
                self._run_norm = 0.0
                if (len(self._obs), self._coef[0]) != coef_version:
                    base_l = (1.0 + self._coef[0] + u @ self._coef[1:]).tolist()
                    coef_version = len(self._obs), self._coef[0]
            a = (norm_l[i] - base_l[i]) * g
            v = self._v + 0.5 * (a + self._a_prev) * dt
            self._a_prev = a
            self._v = v
            self._z += v * dt
            ev = self._step(ti, v, a, leg_of_set)
            if ev is not None:
                events.append(ev)
        if t.size:
            self.t_last_s = t_l[-1]
        return events

    def _reset_speed(self) -> None:
        self._v = 0.0
        self._a_prev = 0.0

    def _on_still(self, t: float, leg_of_set: LegOfSet | None) -> LockoutReached | None:
        """A still run has become long enough: speed is zero; a qualified rise has ended."""
        self._reset_speed()
        ev = None
        if self.phase is Phase.CONCENTRIC:
            if self._qualified():
                t_est = t - (self._still_run + self._w / 2) * self.dt_s
                ev = self._lockout(max(t_est, self._rise_t0), leg_of_set)
            else:
                self.phase = Phase.BOTTOM
        elif self.phase is Phase.ECCENTRIC:
            self._bottom(t - self._still_run * self.dt_s)
        return ev

    def _qualified(self) -> bool:
        rise = self._z - self._rise_z0
        if rise < self.p.min_rise_m or rise > self.p.max_rise_m:
            return False
        confirmed = self._ranges + (
            self._set_ranges if len(self._set_ranges) >= self.p.confirm_reps else []
        )
        if len(confirmed) >= self.p.confirm_reps:
            recent = np.array(confirmed[-12:])  # (range m, peak speed m/s)
            med = np.median(recent, axis=0)
            r = self.p.range_ratio
            if not (
                med[0] / r <= rise <= med[0] * r
                and self._vpk <= med[1] * self.p.peak_ratio
            ):
                return False
        return True

    def _step(
        self, t: float, v: float, a: float, leg_of_set: LegOfSet | None
    ) -> LockoutReached | None:
        p = self.p
        phase = self.phase
        if phase is Phase.BOTTOM or phase is Phase.HOLD:
            if abs(v) < p.quiet_fraction * p.moving_mps:
                self._t_quiet = t  # the last moment at rest: where the next phase starts
            if v > p.moving_mps and phase is Phase.BOTTOM:
                self.phase = Phase.CONCENTRIC
                quiet = self._t_quiet
                self._rise_t0 = quiet if t - quiet <= p.max_lead_s else t  # (False if NaN)
                self._rise_z0 = self._z
                self._vpk = v
                self._apk = 0.0
                self._v_hist = [(t, v)]
            elif v < -p.moving_mps:
                self.phase = Phase.ECCENTRIC
                self._desc_vmin = v
                if phase is Phase.HOLD:
                    self._t_descent = max(self._t_quiet - self.delay_s, self._t_lockout)
                    self._hold_s = self._t_descent - self._t_lockout
            elif v > p.moving_mps:  # rising again from the top: drift or a second push
                self._reset_speed()
            return None
        if phase is Phase.CONCENTRIC:
            self._v_hist.append((t, v))
            self._vpk = max(self._vpk, v)
            decel = -a
            if v < self._vpk and decel > self._apk:
                self._apk = decel
            thr = p.phase_fraction * self._vpk
            if v < thr:
                if self._qualified():
                    return self._lockout(self._crossing(thr) - self.delay_s, leg_of_set)
                self.phase = Phase.BOTTOM if v > -p.moving_mps else Phase.ECCENTRIC
                self._desc_vmin = min(v, 0.0)
                self._reset_speed()
                return None
            if (
                self._apk > 0
                and decel < p.decel_fraction * self._apk
                and v < p.decel_speed_fraction * self._vpk
                and self._qualified()
            ):
                return self._lockout(t - self.delay_s, leg_of_set)
            return None
        # eccentric
        self._desc_vmin = min(self._desc_vmin, v)
        if v > p.phase_fraction * self._desc_vmin:  # back above -5 % of the descent's peak
            self._bottom(t - self.delay_s)
        return None

    def _crossing(self, thr: float) -> float:
        """Time the rise's speed fell through ``thr`` (linear interpolation)."""
        if len(self._v_hist) < 2:
            return self._v_hist[-1][0]
        (t0, v0), (t1, v1) = self._v_hist[-2], self._v_hist[-1]
        frac = (v0 - thr) / (v0 - v1) if v0 != v1 else 1.0
        return t0 + min(max(frac, 0.0), 1.0) * (t1 - t0)

    def _start_time(self) -> float:
        return self._rise_t0 - self.delay_s

    def _lockout(self, t_lock: float, leg_of_set: LegOfSet | None) -> LockoutReached:
        p = self.p
        rise = self._z - self._rise_z0
        self._t_start = self._start_time()
        self._t_lockout = t_lock
        self._concentric_s = t_lock - self._t_start
        self._hold_s = None
        self._eccentric_s = None
        self.phase = Phase.HOLD
        self._reset_speed()
        self._v_hist = []
        new_set = (
            self._set_index < 0
            or t_lock - self._last_lockout_t > p.set_gap_s
            or self._sets_closed_seen > self._set_index
        )
        if new_set:
            nxt = self._set_index + (1 if self._set_reps >= p.min_reps_per_set else 0)
            self._set_index = max(self._sets_closed_seen, nxt, 0)
            self._set_reps = 0
            if len(self._set_ranges) >= p.confirm_reps:  # a real set: its reps set the scale
                self._ranges += self._set_ranges
            self._set_ranges = []
        self._set_ranges.append((rise, self._vpk))
        rep = self._set_reps
        self._set_reps += 1
        self._last_lockout_t = t_lock
        leg = leg_of_set(self._set_index) if leg_of_set is not None else Leg.LEFT
        return LockoutReached(t_s=t_lock, set_index=self._set_index, rep_index=rep, leg=leg)

    def _bottom(self, t_bottom: float) -> None:
        if not math.isnan(self._t_descent) and self._hold_s is not None:
            self._eccentric_s = t_bottom - self._t_descent
        self._t_descent = math.nan
        self.phase = Phase.BOTTOM
        self._reset_speed()


# -- the engine's hook --------------------------------------------------------------------

_DETECTORS: weakref.WeakKeyDictionary[Engine, LockoutDetector] = weakref.WeakKeyDictionary()


def detector_of(engine: Engine) -> LockoutDetector:
    """The lockout detector of ``engine`` (created on first use)."""
    det = _DETECTORS.get(engine)
    if det is None:
        det = LockoutDetector(engine.p.grid_rate_hz)
        _DETECTORS[engine] = det
    return det


def lockout_events(engine: Engine, block: GridBlock | None) -> list[LockoutReached]:
    """Feed the engine's new grid block to its detector; the lockouts it decided."""
    if block is None:
        return []
    return detector_of(engine).push(
        block, sets_closed=len(engine.sets), leg_of_set=engine._leg
    )
