"""Low-latency lockout detection: is the rise of a rep over? Causal, for the live display.

The engine's reps are final only once a set has closed (seconds later), because its speed
is de-drifted between still periods. This detector answers sooner, from the past alone:

- the accelerometer is low-passed with a causal IIR filter (a biquad, ``lfilter`` with
  carried state);
- the vertical acceleration is ``(|a| - baseline) * g`` where the baseline is what the norm
  reads at rest in the current orientation (the engine's gravity-error model, fitted on the
  still periods seen so far, so a bias that depends on orientation cancels);
- that is integrated forward to a speed (m/s, up positive) and a position (m), from zero at
  the last still period or the last phase end (lockout, bottom);
- still means no vibration (trailing-window variance under a learnt noise floor) *and* |a|
  at the rest baseline: the middle of a slow rise has a steady acceleration and little
  variance, and must not reset the speed;
- once a rise has reached ``min_rise_m``, the lockout is where the speed falls below
  ``phase_fraction`` (the spec's 5 %) of the rise's peak speed, or where the deceleration has
  died out (robust to a drifting speed), or at the latest where the sensor becomes still;
- a rise is a rep when its size is plausible (``min_rise_m``..``max_rise_m``; standing up
  from the floor is bigger) and, once the athlete's scale is known, within ``range_ratio`` of
  it. The scale is the median of recent rises that were followed by a descent of their own
  size (a rep goes back down; standing up is followed by walking), so setup moves cannot
  set it; ``confirm_reps`` paired rises in a row that it refused replace it.

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
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray
from scipy.signal import butter, lfilter, sosfilt_zi

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
    still_level_g: float = 0.015  # ... and |a| within this of the rest baseline
    known_orientation_deg: float = 20.0  # (tested only this close to an orientation seen at rest)
    min_still_s: float = 0.12  # a still run this long resets the speed and feeds the baseline
    baseline_obs: int = 40  # still observations kept for the gravity-error model
    moving_mps: float = 0.04  # a phase starts when the speed passes this
    min_rise_m: float = 0.10  # smallest rise that is a rep
    max_rise_m: float = 0.5  # standing up from the floor raises the hips about 0.55 m
    range_ratio: float = 1.75  # a rise this far from the recent reps' median is not a rep
    peak_ratio: float = 2.5  # nor one whose peak speed is this much higher
    pair_ratio: float = 1.8  # a rise is a rep for that scale when the next descent matches it
    confirm_reps: int = 3  # this many paired rises set the scale (or replace a wrong one)
    scale_reps: int = 12  # the scale is the median of this many recent reps
    phase_fraction: float = 0.05  # the spec's 5 % of the peak speed
    quiet_fraction: float = 0.25  # at rest while |speed| < this share of ``moving_mps``
    max_lead_s: float = 1.5  # a phase starts at most this long before its speed passes moving_mps
    decel_fraction: float = 0.2  # the deceleration has died out under this share of its peak
    decel_speed_fraction: float = 0.3  # ... while the speed is under this share of the peak
    set_gap_s: float = 8.0  # a lockout this long after the previous rep's end starts a new set
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

    The work is numpy over spans of the block; Python runs once per event (a still run
    starting or ending, a phase starting or ending), not once per sample. Sums and
    integrals are sequential (``cumsum`` seeded with the carried state), so the events do
    not depend on how the grid was cut into blocks.
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
        if self._sos.shape[0] != 1 or self._sos_still.shape[0] != 1:
            raise ValueError("the lockout filters are single biquads")
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
        self._known_cos = math.cos(math.radians(self.p.known_orientation_deg))
        self._obs: list[FloatArray] = []
        self._obs_u: FloatArray = np.zeros((0, 3))
        self._coef: FloatArray = np.zeros(4)
        self._coef_version = 0  # bumped whenever the gravity-error model changes
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
        self._prev_tv: tuple[float, float] | None = None  # last (t, v) of the rise
        self._desc_vmin = 0.0
        self._z_desc0 = 0.0  # position where the last descent started
        self._t_lockout = math.nan
        self._t_descent = math.nan
        self._t_quiet = math.nan
        self._t_start = math.nan
        self._concentric_s: float | None = None
        self._hold_s: float | None = None
        self._eccentric_s: float | None = None
        # the scale of a rep: (rise m, peak m/s) of recent rises paired with their descent
        self._ranges: list[tuple[float, float]] = []
        self._scale: tuple[float, float] | None = None  # their median, once there are enough
        self._pending: tuple[float, float, bool] | None = None  # (rise, peak, accepted)
        self._rejected: list[tuple[float, float]] = []  # paired rises the scale refused
        # sets
        self._set_index = -1
        self._set_reps = 0
        self._last_rep_t = -math.inf  # last lockout, or end of a descent from a hold
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
        with_gyro = values.shape[1] >= 6
        if self._zi is None:
            self._zi = sosfilt_zi(self._sos)[0][:, None] * acc[0][None, :]
            first = values[0]
            self._zi_still = sosfilt_zi(self._sos_still)[0][:, None] * first[None, :]
            self._tail = np.repeat(first[None, :], self._w - 1, axis=0)
        # one 2nd-order section each: lfilter is sosfilt's arithmetic (to rounding) without
        # its per-call overhead
        lp, self._zi = lfilter(self._sos[0, :3], self._sos[0, 3:], acc, axis=0, zi=self._zi)
        ls, self._zi_still = lfilter(
            self._sos_still[0, :3], self._sos_still[0, 3:], values, axis=0, zi=self._zi_still
        )
        norm = np.sqrt((lp * lp).sum(axis=1))
        ls_acc = ls[:, :3]
        norm_s = np.sqrt((ls_acc * ls_acc).sum(axis=1))
        quiet = self._stillness(ls, block.k, with_gyro)
        t: FloatArray = block.k.astype(np.float64) * self.dt_s
        self._sets_closed_seen = max(self._sets_closed_seen, sets_closed)
        span = _Block(
            t=t,
            lp=lp,
            norm=norm,
            u=lp / np.maximum(norm, 1e-9)[:, None],
            norm_s=norm_s,
            u_s=ls_acc / np.maximum(norm_s, 1e-9)[:, None],
            quiet=quiet,
        )
        events = self._run(span, leg_of_set)
        self.t_last_s = float(t[-1])
        return events

    def _stillness(
        self, ls: FloatArray, k: NDArray[np.int64], with_gyro: bool
    ) -> NDArray[np.bool_]:
        """Trailing-window activity (variance) under the noise floor: no vibration.

        The floor (10th percentile of the last ``floor_history_s`` of activity) is updated
        at whole seconds of the grid, so chunking the input cannot change it.
        """
        if self._tail is None:
            raise RuntimeError("push() initialises the window first")
        x = np.concatenate([self._tail, ls])
        self._tail = x[-(self._w - 1) :]
        var = _window_variance(x, self._w)  # (n, c)
        act = np.empty((var.shape[0], 2))  # (acc, gyro) activity, as the history keeps it
        act_a, act_g = act[:, 0], act[:, 1]
        np.add.reduce(var[:, :3], axis=1, out=act_a)
        if with_gyro:
            np.add.reduce(var[:, 3:6], axis=1, out=act_g)
        else:
            act_g[:] = act_a
        thr = np.empty((act_a.size, 2))
        step = round(self.rate_hz)
        cuts = np.flatnonzero(k % step == 0)
        bounds = [0, *[int(c) for c in cuts if c > 0], act_a.size]
        for lo, hi in itertools.pairwise(bounds):
            if lo > 0 or (k[0] % step == 0 and self._act.n):
                self._update_floor()
            thr[lo:hi, 0] = max(self.p.still_ratio * self._floor_a, self.p.still_acc_min_g2)
            thr[lo:hi, 1] = max(self.p.still_ratio * self._floor_g, self.p.still_gyro_min_dps2)
            self._act.append(act[lo:hi])
        still: NDArray[np.bool_] = np.less(act_a, thr[:, 0])
        if with_gyro:
            still &= np.less(act_g, thr[:, 1])
        return still

    def _update_floor(self) -> None:
        """The floor follows the recent quiet moments (a noisier sensor raises it)."""
        hist: FloatArray = np.asarray(self._act.data[-self._floor_n :], dtype=np.float64)
        kth = (hist.shape[0] - 1) // 10
        floor = np.partition(hist, kth, axis=0)[kth]  # the 10th percentile (lower)
        self._floor_a = max(float(floor[0]), 1e-7)
        self._floor_g = max(float(floor[1]), 0.002)
        if self._act.n > 4 * self._floor_n:  # keep the buffer bounded
            keep = self._act.data[-self._floor_n :].copy()
            self._act = Growable(2)
            self._act.append(keep)

    # -- still runs and the gravity baseline -----------------------------------------------

    def _level_ok(self, b: _Block) -> NDArray[np.bool_]:
        """|a| within ``still_level_g`` of the rest baseline (g), where that is known.

        A constant acceleration (the middle of a slow rise) has no variance but is not rest.
        The test is skipped far from every orientation seen at rest (the baseline model
        would be extrapolating) and before the first rest.
        """
        if not self._obs:
            return np.ones(b.t.size, dtype=bool)
        base = 1.0 + self._coef[0] + b.u_s @ self._coef[1:]
        near: NDArray[np.bool_] = np.abs(b.norm_s - base) < self.p.still_level_g
        known: NDArray[np.bool_] = (b.u_s @ self._obs_u.T).max(axis=1) > self._known_cos
        out: NDArray[np.bool_] = near | ~known
        return out

    def _observe_run(self) -> None:
        if self._still_run < self._min_still:
            return
        acc = self._run_acc / self._still_run
        norm = self._run_norm / self._still_run
        u = acc / max(float(np.linalg.norm(acc)), 1e-9)
        self._obs.append(np.array([*u, norm - 1.0, float(self._still_run)]))
        del self._obs[: -self.p.baseline_obs]
        obs = np.vstack(self._obs)
        self._obs_u = obs[:, :3]
        self._coef = fit_gravity_error(obs)
        self._coef_version += 1

    def _still_span(
        self, b: _Block, i: int, j: int, leg_of_set: LegOfSet | None
    ) -> LockoutReached | None:
        """Samples i..j-1 are still: accumulate the run; it resets the speed once long enough."""
        r0 = self._still_run
        self._run_acc = np.cumsum(np.vstack([self._run_acc, b.lp[i:j]]), axis=0)[-1]
        self._run_norm = float(np.cumsum(np.concatenate([[self._run_norm], b.norm[i:j]]))[-1])
        ev = None
        if r0 < self._min_still <= r0 + (j - i):
            self._still_run = self._min_still
            ev = self._on_still(float(b.t[i + self._min_still - r0 - 1]), leg_of_set)
        self._still_run = r0 + (j - i)
        return ev

    def _end_still_run(self) -> None:
        self._observe_run()
        self._still_run = 0
        self._run_acc = np.zeros(3)
        self._run_norm = 0.0

    # -- the state machine -----------------------------------------------------------------

    def _run(self, b: _Block, leg_of_set: LegOfSet | None) -> list[LockoutReached]:
        events: list[LockoutReached] = []
        n = b.t.size
        version = -1
        accel: FloatArray = np.empty(0)
        still: NDArray[np.bool_] = np.empty(0, dtype=bool)
        i = 0
        while i < n:
            if version != self._coef_version:  # the baseline changed: recompute what uses it
                version = self._coef_version
                base = 1.0 + self._coef[0] + b.u @ self._coef[1:]
                accel = (b.norm - base) * GRAVITY_MPS2  # vertical, m/s^2, up positive
                still = b.quiet & self._level_ok(b)
            if still[i]:
                j = i + int(still[i:].argmin())
                if still[j]:  # argmin of an all-True slice is its start
                    j = n
                ev = self._still_span(b, i, j, leg_of_set)
                if ev is not None:
                    events.append(ev)
                i = j
                continue
            if self._still_run:
                self._end_still_run()  # sample i moves, whatever the new baseline says
                if version != self._coef_version:
                    version = self._coef_version
                    base = 1.0 + self._coef[0] + b.u @ self._coef[1:]
                    accel = (b.norm - base) * GRAVITY_MPS2
                    still = b.quiet & self._level_ok(b)
            j = i + 1 + int(still[i + 1 :].argmax()) if i + 1 < n else n
            if j < n and not still[j]:  # argmax of an all-False slice is its start
                j = n
            while i < j:
                i, ev = self._motion(b, accel, i, min(j, i + _MAX_SPAN), leg_of_set)
                if ev is not None:
                    events.append(ev)
        return events

    def _motion(
        self, b: _Block, accel: FloatArray, i: int, j: int, leg_of_set: LegOfSet | None
    ) -> tuple[int, LockoutReached | None]:
        """Integrate samples i..j-1 (all moving) up to the first phase event; handle it.

        Returns the next sample to process and the lockout decided, if any.
        """
        p = self.p
        dt = self.dt_s
        a = accel[i:j]
        t = b.t[i:j]
        a_before = np.empty(a.size)
        a_before[0] = self._a_prev
        a_before[1:] = a[:-1]
        v = _running(np.add, self._v, 0.5 * (a + a_before) * dt)
        z = _running(np.add, self._z, v * dt)
        phase = self.phase
        if phase is Phase.BOTTOM or phase is Phase.HOLD:
            hit = (v > p.moving_mps) | (v < -p.moving_mps)
            e = _first(hit)
            quiet = np.flatnonzero(np.abs(v[:e]) < p.quiet_fraction * p.moving_mps)
            if quiet.size:
                self._t_quiet = float(t[quiet[-1]])  # the last moment at rest
        elif phase is Phase.CONCENTRIC:
            vpk = _running(np.maximum, self._vpk, v)
            decel = -a
            cand = np.where(v < vpk, decel, -np.inf)
            apk = _running(np.maximum, self._apk, cand)
            rise = z - self._rise_z0
            ended = v < p.phase_fraction * vpk
            settled = (
                (apk > 0)
                & (decel < p.decel_fraction * apk)
                & (v < p.decel_speed_fraction * vpk)
                & self._qualified_many(rise, vpk)
            )
            e = _first(ended | settled)
            if e < t.size:
                self._vpk, self._apk = float(vpk[e]), float(apk[e])
            else:
                self._vpk, self._apk = float(vpk[-1]), float(apk[-1])
                self._prev_tv = (float(t[-1]), float(v[-1]))
        else:
            vmin = _running(np.minimum, self._desc_vmin, v)
            e = _first(v > p.phase_fraction * vmin)  # back above -5 % of the descent's peak
            self._desc_vmin = float(vmin[min(e, t.size - 1)])
        if e >= t.size:  # no event: carry the state to the end of the span
            self._v, self._a_prev, self._z = float(v[-1]), float(a[-1]), float(z[-1])
            return j, None
        self._v, self._a_prev, self._z = float(v[e]), float(a[e]), float(z[e])
        te, ve = float(t[e]), float(v[e])
        if phase is Phase.CONCENTRIC:
            prev = (float(t[e - 1]), float(v[e - 1])) if e > 0 else self._prev_tv
            ev = self._rise_event(te, ve, prev, bool(ended[e]), leg_of_set)
        elif phase is Phase.ECCENTRIC:
            self._bottom(te - self.delay_s)
            ev = None
        else:
            self._rest_event(te, ve)
            ev = None
        return i + e + 1, ev

    def _rest_event(self, t: float, v: float) -> None:
        """At the bottom or holding the top, the speed passed +-``moving_mps``."""
        p = self.p
        phase = self.phase
        if v > p.moving_mps and phase is Phase.BOTTOM:
            self.phase = Phase.CONCENTRIC
            quiet = self._t_quiet
            self._rise_t0 = quiet if t - quiet <= p.max_lead_s else t  # (False if NaN)
            self._rise_z0 = self._z
            self._vpk = v
            self._apk = 0.0
            self._prev_tv = None
            self._pending = None
        elif v < -p.moving_mps:
            self.phase = Phase.ECCENTRIC
            self._desc_vmin = v
            self._z_desc0 = self._z
            if phase is Phase.HOLD:
                self._t_descent = max(self._t_quiet - self.delay_s, self._t_lockout)
                self._hold_s = self._t_descent - self._t_lockout
        else:  # rising again from the top: drift or a second push
            self._reset_speed()

    def _rise_event(
        self,
        t: float,
        v: float,
        prev: tuple[float, float] | None,
        ended: bool,
        leg_of_set: LegOfSet | None,
    ) -> LockoutReached | None:
        """The rise's speed fell under 5 % of its peak (``ended``), or its deceleration
        died out with a rep-sized rise behind it."""
        p = self.p
        if not ended:
            return self._lockout(t - self.delay_s, leg_of_set)
        thr = p.phase_fraction * self._vpk
        if self._judge():
            t_cross = t
            if prev is not None:  # linear interpolation of the crossing
                t0, v0 = prev
                frac = (v0 - thr) / (v0 - v) if v0 != v else 1.0
                t_cross = t0 + min(max(frac, 0.0), 1.0) * (t - t0)
            return self._lockout(t_cross - self.delay_s, leg_of_set)
        self.phase = Phase.BOTTOM if v > -p.moving_mps else Phase.ECCENTRIC
        self._desc_vmin = min(v, 0.0)
        self._z_desc0 = self._z
        self._reset_speed()
        return None

    def _reset_speed(self) -> None:
        self._v = 0.0
        self._a_prev = 0.0

    def _on_still(self, t: float, leg_of_set: LegOfSet | None) -> LockoutReached | None:
        """A still run has become long enough: speed is zero; a qualified rise has ended."""
        self._reset_speed()
        ev = None
        if self.phase is Phase.CONCENTRIC:
            if self._judge():
                t_est = t - (self._still_run + self._w / 2) * self.dt_s
                ev = self._lockout(max(t_est, self._rise_t0), leg_of_set)
            else:
                self.phase = Phase.BOTTOM
        elif self.phase is Phase.ECCENTRIC:
            self._bottom(t - self._still_run * self.dt_s)
        return ev

    # -- is it a rep? ----------------------------------------------------------------------

    def _qualified_many(self, rise: FloatArray, vpk: FloatArray) -> NDArray[np.bool_]:
        """Per sample: a rise of ``rise`` m at peak speed ``vpk`` m/s would be a rep."""
        p = self.p
        ok: NDArray[np.bool_] = (rise >= p.min_rise_m) & (rise <= p.max_rise_m)
        if self._scale is not None:
            r_med, v_med = self._scale
            ok &= (rise >= r_med / p.range_ratio) & (rise <= r_med * p.range_ratio)
            ok &= vpk <= v_med * p.peak_ratio
        return ok

    def _judge(self) -> bool:
        """Is the rise that just ended a rep? A refused one waits for its descent."""
        rise = self._z - self._rise_z0
        ok = bool(self._qualified_many(np.array([rise]), np.array([self._vpk]))[0])
        p = self.p
        if not ok and p.min_rise_m <= rise <= p.max_rise_m:
            self._pending = (rise, self._vpk, False)  # refused by the scale only
        return ok

    def _pair(self) -> None:
        """A descent ended: a rise followed by a descent of its size was a rep (or the
        athlete's reps are not what the scale says, after ``confirm_reps`` refusals)."""
        if self._pending is None:
            return
        rise, vpk, accepted = self._pending
        self._pending = None
        drop = self._z_desc0 - self._z
        r = self.p.pair_ratio
        if not rise / r <= drop <= rise * r:
            return
        if accepted:
            self._ranges.append((rise, vpk))
            self._rejected = []
        else:
            self._rejected.append((rise, vpk))
            if len(self._rejected) < self.p.confirm_reps:
                return
            self._ranges = self._rejected
            self._rejected = []
        del self._ranges[: -self.p.scale_reps]
        if len(self._ranges) >= self.p.confirm_reps:
            med = np.median(np.array(self._ranges), axis=0)
            self._scale = (float(med[0]), float(med[1]))

    # -- phase ends ------------------------------------------------------------------------

    def _lockout(self, t_lock: float, leg_of_set: LegOfSet | None) -> LockoutReached:
        p = self.p
        rise = self._z - self._rise_z0
        self._t_start = self._rise_t0 - self.delay_s
        self._t_lockout = t_lock
        self._concentric_s = t_lock - self._t_start
        self._hold_s = None
        self._eccentric_s = None
        self.phase = Phase.HOLD
        self._reset_speed()
        self._prev_tv = None
        new_set = (
            self._set_index < 0
            or t_lock - self._last_rep_t > p.set_gap_s
            or self._sets_closed_seen > self._set_index
        )
        if new_set:
            nxt = self._set_index + (1 if self._set_reps >= p.min_reps_per_set else 0)
            self._set_index = max(self._sets_closed_seen, nxt, 0)
            self._set_reps = 0
        self._pending = (rise, self._vpk, True)
        rep = self._set_reps
        self._set_reps += 1
        self._last_rep_t = t_lock
        leg = leg_of_set(self._set_index) if leg_of_set is not None else Leg.LEFT
        return LockoutReached(t_s=t_lock, set_index=self._set_index, rep_index=rep, leg=leg)

    def _bottom(self, t_bottom: float) -> None:
        self._pair()
        if not math.isnan(self._t_descent) and self._hold_s is not None:
            self._eccentric_s = t_bottom - self._t_descent
            self._last_rep_t = t_bottom
        self._t_descent = math.nan
        self.phase = Phase.BOTTOM
        self._reset_speed()


_MAX_SPAN = 128  # samples integrated per step of the state machine (bounds re-work)
_FEW_ROWS = 32  # _window_variance: up to this many windows, one strided pass is cheaper


@dataclass(frozen=True)
class _Block:
    """One pushed block's per-sample signals (all on the grid)."""

    t: FloatArray  # s
    lp: FloatArray  # (n, 3) low-passed acceleration, g
    norm: FloatArray  # |lp|, g
    u: FloatArray  # lp / |lp|
    norm_s: FloatArray  # |acc| after the heavier stillness low-pass, g
    u_s: FloatArray
    quiet: NDArray[np.bool_]  # activity under the noise floor


def _window_variance(x: FloatArray, w: int) -> FloatArray:
    """Variance of each trailing window of ``w`` rows of ``x`` (n + w - 1, c) -> (n, c).

    Sums of shifted slices, always in the same order, so a window's value does not depend
    on where the block boundaries fell (and it is ten times faster than strided views).
    """
    n = x.shape[0] - w + 1
    if n <= _FEW_ROWS:  # a short block: whole windows at once (the same sums, in order)
        s0, s1 = x.strides
        win = as_strided(x, shape=(n, x.shape[1], w), strides=(s0, s1, s0), writeable=False)
        mean_w = win.sum(axis=2) / w
        dev_w = win - mean_w[:, :, None]
        return np.asarray((dev_w * dev_w).sum(axis=2) / w)
    total = x[:n].copy()
    for j in range(1, w):
        total += x[j : j + n]
    mean = total / w
    dev = x[:n] - mean
    sq = dev * dev
    for j in range(1, w):
        dev = x[j : j + n] - mean
        sq += dev * dev
    out: FloatArray = sq / w
    return out


def _running(op: np.ufunc, first: float, x: FloatArray) -> FloatArray:
    """``op.accumulate([first, *x])[1:]``: a running sum (or max, min) that carries state,
    in one buffer."""
    buf = np.empty(x.size + 1)
    buf[0] = first
    buf[1:] = x
    return np.asarray(op.accumulate(buf, out=buf)[1:])


def _first(mask: NDArray[np.bool_]) -> int:
    """Index of the first True, or ``mask.size`` if none."""
    i = int(mask.argmax())
    return i if mask.size and mask[i] else mask.size


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
