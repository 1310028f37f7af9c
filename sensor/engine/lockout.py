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
    gravity_ridge: float = 0.05  # its ridge per unit of weight (see fit_gravity_error)
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

    The work is compiled (``sensor.engine.kernels``): per sample (filters, noise floor,
    stillness, integration, the search for the next phase event) and per event (a still run
    reaching its minimum or ending, a phase starting or ending: judging and pairing rises,
    the gravity-error fit). Python runs once per lockout, to make its event. Sums and
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
        # par[P_N_OBS] rows are in use
        p = self.p
        if p.baseline_obs < 1:
            raise ValueError("baseline_obs: the model needs at least one observation")
        if p.scale_reps < 1 or p.confirm_reps < 1:
            raise ValueError("scale_reps and confirm_reps: at least one rep each")
        self._obs = np.zeros((p.baseline_obs, kn.OBS_COLS))
        # the kernel's parameters (the scale and the gravity-error model change over time)
        par = np.zeros(kn.PAR_SIZE)
        for i, value in {
            kn.P_DT: self.dt_s,
            kn.P_MIN_STILL: self._min_still,
            kn.P_MOVING: p.moving_mps,
            kn.P_QUIET: p.quiet_fraction * p.moving_mps,
            kn.P_PHASE: p.phase_fraction,
            kn.P_DECEL: p.decel_fraction,
            kn.P_DECEL_SPEED: p.decel_speed_fraction,
            kn.P_MIN_RISE: p.min_rise_m,
            kn.P_MAX_RISE: p.max_rise_m,
            kn.P_LEVEL_G: p.still_level_g,
            kn.P_KNOWN_COS: math.cos(math.radians(p.known_orientation_deg)),
            kn.P_FLOOR_STEP: round(rate_hz),  # the floor is updated at whole seconds of grid
            kn.P_STILL_RATIO: p.still_ratio,
            kn.P_ACC_MIN: p.still_acc_min_g2,
            kn.P_GYRO_MIN: p.still_gyro_min_dps2,
            kn.P_FLOOR_A_MIN: _MIN_FLOOR_ACC_G2,
            kn.P_FLOOR_G_MIN: _MIN_FLOOR_GYRO_DPS2,
            kn.P_DELAY: self.delay_s,
            kn.P_MAX_LEAD: p.max_lead_s,
            kn.P_HALF_W: self._w / 2,
            kn.P_PAIR_RATIO: p.pair_ratio,
            kn.P_RANGE_RATIO: p.range_ratio,
            kn.P_PEAK_RATIO: p.peak_ratio,
            kn.P_CONFIRM: p.confirm_reps,
            kn.P_SCALE_REPS: p.scale_reps,
            kn.P_SET_GAP: p.set_gap_s,
            kn.P_MIN_REPS: p.min_reps_per_set,
            kn.P_RIDGE: p.gravity_ridge,
        }.items():
            par[i] = value
        self._par = par
        # the kernel's state: still run in progress, kinematics, the phase's running values,
        # the last rep's tempo, the scale of a rep, sets
        st = np.zeros(kn.st_size(p.scale_reps, p.confirm_reps))
        st[kn.S_T_QUIET] = math.nan
        st[kn.S_THR_A] = max(p.still_ratio * _DEFAULT_FLOOR_ACC_G2, p.still_acc_min_g2)
        st[kn.S_THR_G] = max(p.still_ratio * _DEFAULT_FLOOR_GYRO_DPS2, p.still_gyro_min_dps2)
        st[kn.S_RISE_T0] = math.nan
        st[kn.S_T_LOCKOUT] = math.nan
        st[kn.S_T_DESCENT] = math.nan
        st[kn.S_SET_INDEX] = -1.0
        st[kn.S_LAST_REP_T] = -math.inf
        self._st = st

    # -- public state ----------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return _PHASES[int(self._st[kn.S_PHASE])]

    @phase.setter
    def phase(self, phase: Phase) -> None:
        self._st[kn.S_PHASE] = _PHASE_CODES[phase]

    @property
    def tempo(self) -> LiveTempo:
        st, known = self._st, kn.S_HAS_CONC
        c, h, e = (float(st[kn.S_CONC + j]) if st[known + j] else None for j in range(3))
        return LiveTempo(c, h, e)

    @property
    def lockout_t_s(self) -> float | None:
        """Time of the current lockout while holding at the top, else None."""
        return float(self._st[kn.S_T_LOCKOUT]) if self.phase is Phase.HOLD else None

    @property
    def scale(self) -> tuple[float, float] | None:
        """The scale of a rep (median rise m, peak speed m/s of recent reps), once known."""
        if not self._par[kn.P_HAS_SCALE]:
            return None
        return float(self._st[kn.S_SCALE_R]), float(self._st[kn.S_SCALE_V])

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
        self.sets_closed(sets_closed)
        i, what = kn.lockout_step(values, k0, *args)
        return self.scanned(k0, n, i, what, leg_of_set=leg_of_set)

    def sets_closed(self, count: int) -> None:
        """The engine has closed ``count`` sets: the next lockout starts a new one."""
        self._st[kn.S_SETS_SEEN] = max(float(self._st[kn.S_SETS_SEEN]), count)  # (monotone)

    def kernel_args(self) -> tuple[FloatArray, ...] | None:
        """The detector's state as ``kernels.lockout_step`` takes it after a block's rows,
        once a block has come (None before): for a caller that runs the kernel in its own
        compiled call (``GridResampler.push_into``) and then hands the result to
        ``scanned``."""
        return self._args

    def scanned(
        self, k0: int, n: int, i: int, what: int, *, leg_of_set: LegOfSet | None = None
    ) -> list[LockoutReached]:
        """The kernel has run over ``n`` grid rows from ``k0`` and stopped at row ``i`` for
        ``what`` (SCAN_DONE or SCAN_LOCKOUT): make the lockouts' events, run on to the end
        of the block, and return them. ``leg_of_set`` gives the leg of a set index."""
        events: list[LockoutReached] = []
        sig, par, st, obs = self._sig[:n], self._par, self._st, self._obs
        while what == kn.SCAN_LOCKOUT:
            set_index = int(st[kn.S_EV_SET])
            leg = leg_of_set(set_index) if leg_of_set is not None else Leg.LEFT
            events.append(LockoutReached(t_s=float(st[kn.S_EV_T]), set_index=set_index,
                                         rep_index=int(st[kn.S_EV_REP]), leg=leg))
            i, what = kn.lockout_events(sig, k0, i, kn.SCAN_RESUME, par, st, obs)
        return events

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
                      self._obs, self._sig)
        return self._args

    def _start(self, values: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The first block: the filters start in their steady state at its first row."""
        first = values[0]
        zi = sosfilt_zi(self._sos)[0][:, None] * first[None, :3]
        zi_still = sosfilt_zi(self._sos_still)[0][:, None] * first[None, :]
        self._par[kn.P_GYRO] = values.shape[1] == 6
        return zi, zi_still, np.repeat(first[None, :], self._w - 1, axis=0)


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

