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

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import butter, sosfilt_zi

from sensor.engine import kernels as kn
from sensor.engine.resample import GridBlock
from sensor.engine.velocity import fit_gravity_error
from sensor.events import LockoutReached
from sensor.samples import FloatArray
from sensor.summary import Leg, Phase

if TYPE_CHECKING:
    from sensor.engine.engine import Engine

LegOfSet = Callable[[int], Leg]


_DEFAULT_FLOOR_ACC_G2 = 1.5e-6  # before a floor is learnt (the engine's default too)
_DEFAULT_FLOOR_GYRO_DPS2 = 0.05
_MIN_FLOOR_ACC_G2 = 1e-7  # a learnt floor is never lower
_MIN_FLOOR_GYRO_DPS2 = 0.002


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

    The per-sample work (filters, noise floor, stillness, integration, the search for the
    next phase event) is compiled (``sensor.engine.kernels``); Python runs once per event (a
    still run reaching its minimum or ending, a phase starting or ending). Sums and
    integrals are sequential, carried from block to block, so the events do not depend on
    how the grid was cut into blocks.
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
        if self._sos[0, 3] != 1.0 or self._sos_still[0, 3] != 1.0:
            raise ValueError("the lockout filters are normalised (a[0] = 1)")
        # rows b, a of the speed path's biquad, then of the stillness one: as the kernel takes them
        self._ba = np.vstack([self._sos[0, :3], self._sos[0, 3:],
                              self._sos_still[0, :3], self._sos_still[0, 3:]])
        self.delay_s = _group_delay_s(min(self.p.lowpass_hz, 0.9 * nyquist))
        # the filters' states (speed path, stillness) and the last w-1 still-filtered rows
        # (the window's history), from the first block on
        self._filters: tuple[FloatArray, FloatArray, FloatArray] | None = None
        self._sig = np.empty((64, kn.SIG_COLS))  # the kernel's signals of the last block
        self._c = 0  # columns of the blocks: 3 (acc) or 6 (acc, gyro), from the first on
        self._args: tuple[FloatArray, ...] | None = None  # _kernel_args, once known
        self._w = max(2, round(self.p.still_window_s * rate_hz))
        # (acc, gyro) activity of the last floor_history_s, a ring: the noise floor's history
        self._hist = np.zeros((2, max(10, round(self.p.floor_history_s * rate_hz))))
        self._min_still = max(1, round(self.p.min_still_s * rate_hz))
        # still observations, oldest first: rows (ux, uy, uz, err_g, samples); the first
        # _n_obs rows are in use
        if self.p.baseline_obs < 1:
            raise ValueError("baseline_obs: the model needs at least one observation")
        self._obs = np.zeros((self.p.baseline_obs, 5))
        self._n_obs = 0
        self._obs_u: FloatArray = self._obs[:, :3]  # (the kernel reads par[P_N_OBS] rows)
        self._coef: FloatArray = np.zeros(4)  # the gravity-error model (the kernel's copy: par)
        # the kernel's parameters (the scale and the gravity-error model change over time)
        par = np.zeros(kn.PAR_SIZE)
        p = self.p
        par[kn.P_DT] = self.dt_s
        par[kn.P_MIN_STILL] = self._min_still
        par[kn.P_MOVING] = p.moving_mps
        par[kn.P_QUIET] = p.quiet_fraction * p.moving_mps
        par[kn.P_PHASE] = p.phase_fraction
        par[kn.P_DECEL] = p.decel_fraction
        par[kn.P_DECEL_SPEED] = p.decel_speed_fraction
        par[kn.P_MIN_RISE] = p.min_rise_m
        par[kn.P_MAX_RISE] = p.max_rise_m
        par[kn.P_LEVEL_G] = p.still_level_g
        par[kn.P_KNOWN_COS] = math.cos(math.radians(p.known_orientation_deg))
        par[kn.P_FLOOR_STEP] = round(rate_hz)  # the floor is updated at whole seconds of grid
        par[kn.P_STILL_RATIO] = p.still_ratio
        par[kn.P_ACC_MIN] = p.still_acc_min_g2
        par[kn.P_GYRO_MIN] = p.still_gyro_min_dps2
        par[kn.P_FLOOR_A_MIN] = _MIN_FLOOR_ACC_G2
        par[kn.P_FLOOR_G_MIN] = _MIN_FLOOR_GYRO_DPS2
        self._par = par
        # the kernel's state: still run in progress, kinematics, the phase's running values
        st = np.zeros(kn.ST_SIZE)
        st[kn.S_T_QUIET] = math.nan
        st[kn.S_THR_A] = max(p.still_ratio * _DEFAULT_FLOOR_ACC_G2, p.still_acc_min_g2)
        st[kn.S_THR_G] = max(p.still_ratio * _DEFAULT_FLOOR_GYRO_DPS2, p.still_gyro_min_dps2)
        self._st = st
        self._rise_t0 = math.nan  # time the rise started (left rest)
        self._z_desc0 = 0.0  # position where the last descent started
        self._t_lockout = math.nan
        self._t_descent = math.nan
        self._t_start = math.nan
        self._concentric_s: float | None = None
        self._hold_s: float | None = None
        self._eccentric_s: float | None = None
        # the scale of a rep: (rise m, peak m/s) of recent rises paired with their descent
        self._ranges: list[tuple[float, float]] = []
        self._scale_v: tuple[float, float] | None = None  # their median, once there are enough
        self._pending: tuple[float, float, bool] | None = None  # (rise, peak, accepted)
        self._rejected: list[tuple[float, float]] = []  # paired rises the scale refused
        # sets
        self._set_index = -1
        self._set_reps = 0
        self._last_rep_t = -math.inf  # last lockout, or end of a descent from a hold
        self._sets_closed_seen = 0

    # -- public state ----------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return _PHASES[int(self._st[kn.S_PHASE])]

    @phase.setter
    def phase(self, phase: Phase) -> None:
        self._st[kn.S_PHASE] = _PHASE_CODES[phase]

    @property
    def tempo(self) -> LiveTempo:
        return LiveTempo(self._concentric_s, self._hold_s, self._eccentric_s)

    @property
    def lockout_t_s(self) -> float | None:
        """Time of the current lockout while holding at the top, else None."""
        return self._t_lockout if self.phase is Phase.HOLD else None

    # -- the kernel's state, by name (for the event handlers) --------------------------------

    def _get(self, i: int) -> float:
        return float(self._st[i])

    @property
    def _v(self) -> float:
        return self._get(kn.S_V)

    @property
    def _z(self) -> float:
        return self._get(kn.S_Z)

    @property
    def _still_run(self) -> int:
        return int(self._st[kn.S_STILL_RUN])

    @property
    def _vpk(self) -> float:
        return self._get(kn.S_VPK)

    @property
    def _t_quiet(self) -> float:
        return self._get(kn.S_T_QUIET)

    @property
    def _rise_z0(self) -> float:
        return self._get(kn.S_RISE_Z0)

    @property
    def _scale(self) -> tuple[float, float] | None:
        return self._scale_v

    @_scale.setter
    def _scale(self, scale: tuple[float, float] | None) -> None:
        self._scale_v = scale
        par, p = self._par, self.p
        par[kn.P_HAS_SCALE] = scale is not None
        if scale is not None:
            r_med, v_med = scale
            par[kn.P_RANGE_LO] = r_med / p.range_ratio
            par[kn.P_RANGE_HI] = r_med * p.range_ratio
            par[kn.P_PEAK_HI] = v_med * p.peak_ratio

    # -- input -----------------------------------------------------------------------------

    def push(
        self,
        block: GridBlock,
        *,
        sets_closed: int = 0,
        leg_of_set: LegOfSet | None = None,
    ) -> list[LockoutReached]:
        if block.k.size == 0:
            return []
        values = np.ascontiguousarray(block.values, dtype=np.float64)  # the kernel's layout
        return self.push_values(int(block.k[0]), values, sets_closed=sets_closed,
                                leg_of_set=leg_of_set)

    def push_values(
        self,
        k0: int,
        values: FloatArray,
        *,
        sets_closed: int = 0,
        leg_of_set: LegOfSet | None = None,
    ) -> list[LockoutReached]:
        """``push`` for the grid rows ``values`` (n, c) float64 from grid index ``k0`` on."""
        n, c = values.shape
        args = self._args
        if args is None or c != self._c or n > self._sig.shape[0]:
            args = self._kernel_args(values)
        i, what = kn.lockout_step(values, k0, *args)
        return self.scanned(k0, n, i, what, sets_closed=sets_closed, leg_of_set=leg_of_set)

    def kernel_args(self) -> tuple[FloatArray, ...] | None:
        """The detector's state as ``kernels.lockout_step`` takes it after a block's rows,
        once a block has come (None before): for a caller that runs the kernel in its own
        compiled call (``GridResampler.push_into``) and then hands the result to
        ``scanned``."""
        return self._args

    def scanned(
        self,
        k0: int,
        n: int,
        i: int,
        what: int,
        *,
        sets_closed: int = 0,
        leg_of_set: LegOfSet | None = None,
    ) -> list[LockoutReached]:
        """The kernel has scanned ``n`` grid rows from ``k0`` and stopped at row ``i`` for
        ``what`` (SCAN_*): handle that, scan on, and return the lockouts."""
        if what == kn.SCAN_DONE:
            return []
        self._sets_closed_seen = max(self._sets_closed_seen, sets_closed)  # (monotone)
        return self._run(self._sig[:n], k0, i, what, leg_of_set)

    def _kernel_args(self, values: FloatArray) -> tuple[FloatArray, ...]:
        """The kernel's arguments after the block's (its state, in place): the filters start
        at the first block; checks the block's columns; room for its signals."""
        n, c = values.shape
        if c not in (3, 6):  # (the kernels do not check bounds)
            raise ValueError("grid values are acc in g (3 columns), then gyro (3) if any")
        filters = self._filters
        if filters is None:
            filters = self._filters = self._start(values)
            self._c = c
        elif c != self._c:
            raise ValueError("every block must have the gyro, or none")
        if n > self._sig.shape[0]:
            self._sig = np.empty((max(n, 2 * self._sig.shape[0]), kn.SIG_COLS))
        zi, zi_still, tail = filters
        self._args = (self._ba, zi, zi_still, tail, self._hist, self._par, self._st,
                      self._obs_u, self._sig)
        return self._args

    def _start(self, values: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The first block: the filters start in their steady state at its first row."""
        first = values[0]
        zi = sosfilt_zi(self._sos)[0][:, None] * first[None, :3]
        zi_still = sosfilt_zi(self._sos_still)[0][:, None] * first[None, :]
        self._par[kn.P_GYRO] = values.shape[1] == 6
        return zi, zi_still, np.repeat(first[None, :], self._w - 1, axis=0)

    # -- still runs and the gravity baseline -----------------------------------------------

    def _observe_run(self) -> None:
        """A still run has ended: what gravity reads at rest in its orientation.

        The still test then checks |a| against the model fitted on these (within
        ``still_level_g`` of the rest baseline, where the orientation has been seen at rest:
        a constant acceleration, the middle of a slow rise, has no variance but is not rest).
        """
        run = self._still_run
        if run < self._min_still:
            return
        st = self._st
        acc = st[kn.S_RUN_ACC : kn.S_RUN_ACC + 3] / run
        norm = float(st[kn.S_RUN_NORM]) / run
        all_obs = self._obs
        m = self._n_obs
        if m == all_obs.shape[0]:  # full: the oldest goes
            all_obs[:-1] = all_obs[1:]
        else:
            m = self._n_obs = m + 1
        row = all_obs[m - 1]
        row[:3] = acc / max(math.sqrt(acc.dot(acc)), 1e-9)  # as np.linalg.norm
        row[3] = norm - 1.0
        row[4] = run
        self._coef = fit_gravity_error(all_obs[:m])
        self._par[kn.P_COEF : kn.P_COEF + 4] = self._coef
        self._par[kn.P_N_OBS] = m

    def _end_still_run(self) -> None:
        self._observe_run()
        self._st[kn.S_STILL_RUN : kn.S_RUN_NORM + 1] = 0.0

    # -- the state machine -----------------------------------------------------------------

    def _run(
        self, sig: FloatArray, k0: int, i: int, what: int, leg_of_set: LegOfSet | None
    ) -> list[LockoutReached]:
        """Handle what the scan stopped for (row ``i``, SCAN_* ``what``), and scan on to the
        end of the block."""
        events: list[LockoutReached] = []
        par, st, dt = self._par, self._st, self.dt_s
        while True:
            t = float(k0 + i) * dt
            ev = None
            force = False
            if what == kn.SCAN_STILL_LONG:
                ev = self._on_still(t, leg_of_set)
                i += 1
            elif what == kn.SCAN_RUN_END:
                self._end_still_run()
                force = True  # row i moves, whatever the new baseline says
            else:
                ev = self._phase_event(t, leg_of_set)
                i += 1
            if ev is not None:
                events.append(ev)
            i, what = kn.lockout_scan(sig, k0, i, force, par, st, self._obs_u)
            if what == kn.SCAN_DONE:
                return events

    def _phase_event(self, t: float, leg_of_set: LegOfSet | None) -> LockoutReached | None:
        """The kernel found the current phase's event at time ``t``: handle it."""
        st = self._st
        phase = self.phase
        v = self._v
        if phase is Phase.CONCENTRIC:
            prev = (self._get(kn.S_PREV_T), self._get(kn.S_PREV_V)) if st[kn.S_HAS_PREV] else None
            return self._rise_event(t, v, prev, bool(st[kn.S_ENDED]), leg_of_set)
        if phase is Phase.ECCENTRIC:
            self._bottom(t - self.delay_s)
        else:
            self._rest_event(t, v)
        return None

    def _rest_event(self, t: float, v: float) -> None:
        """At the bottom or holding the top, the speed passed +-``moving_mps``."""
        p = self.p
        phase = self.phase
        st = self._st
        if v > p.moving_mps and phase is Phase.BOTTOM:
            self.phase = Phase.CONCENTRIC
            quiet = self._t_quiet
            self._rise_t0 = quiet if t - quiet <= p.max_lead_s else t  # (False if NaN)
            st[kn.S_RISE_Z0] = self._z
            st[kn.S_VPK] = v
            st[kn.S_APK] = 0.0
            st[kn.S_HAS_PREV] = 0.0
            self._pending = None
        elif v < -p.moving_mps:
            self.phase = Phase.ECCENTRIC
            st[kn.S_DESC_VMIN] = v
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
        self._st[kn.S_DESC_VMIN] = min(v, 0.0)
        self._z_desc0 = self._z
        self._reset_speed()
        return None

    def _reset_speed(self) -> None:
        self._st[kn.S_V] = 0.0
        self._st[kn.S_A_PREV] = 0.0

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

    def _qualified(self, rise: float, vpk: float) -> bool:
        """A rise of ``rise`` m at peak speed ``vpk`` m/s would be a rep (the kernel's test)."""
        p = self.p
        ok = p.min_rise_m <= rise <= p.max_rise_m
        if self._scale is not None:
            r_med, v_med = self._scale
            ok = ok and r_med / p.range_ratio <= rise <= r_med * p.range_ratio
            ok = ok and vpk <= v_med * p.peak_ratio
        return ok

    def _judge(self) -> bool:
        """Is the rise that just ended a rep? A refused one waits for its descent."""
        rise = self._z - self._rise_z0
        ok = self._qualified(rise, self._vpk)
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
        self._st[kn.S_HAS_PREV] = 0.0
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


_PHASES = (Phase.BOTTOM, Phase.CONCENTRIC, Phase.HOLD, Phase.ECCENTRIC)  # by kernel code
_PHASE_CODES = {
    Phase.BOTTOM: kn.PHASE_BOTTOM,
    Phase.CONCENTRIC: kn.PHASE_CONCENTRIC,
    Phase.HOLD: kn.PHASE_HOLD,
    Phase.ECCENTRIC: kn.PHASE_ECCENTRIC,
}


# -- the engine's hook --------------------------------------------------------------------

_DETECTORS: weakref.WeakKeyDictionary[Engine, LockoutDetector] = weakref.WeakKeyDictionary()


def detector_of(engine: Engine) -> LockoutDetector:
    """The lockout detector of ``engine`` (created on first use)."""
    det = _DETECTORS.get(engine)
    if det is None:
        det = LockoutDetector(engine.p.grid_rate_hz)
        _DETECTORS[engine] = det
    return det

