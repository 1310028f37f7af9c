"""Stage 3: reps from the vertical speed, and the spec's phase boundaries.

A *move* is a run of one direction of the speed (up or down) with its displacement. A rep is
a rise followed by a descent of matching size (bottom-start lifts: hip thrust, deadlift, row,
press, curl) or a descent followed by a rise (top-start lifts: squat). Which of the two a set
is, is decided by which pairing explains more of its moves.

Phase boundaries are where the speed crosses ``fraction`` (5 %) of the rep's peak concentric
speed, interpolated between grid samples. Indices are grid sample positions (fractional).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d

from sensor.engine.options import EngineParams
from sensor.samples import FloatArray


@dataclass(frozen=True)
class Move:
    """A run of speed in one direction: sign +1 up / -1 down, grid indices [i0, i1)."""

    sign: int
    i0: int
    i1: int
    peak_mps: float  # largest |speed| in the run
    disp_m: float  # displacement, signed (up positive)
    back_m: float = 0.0  # travel against ``sign`` within the run (m, >= 0; merged runs only)


@dataclass(frozen=True)
class RepCandidate:
    rise: Move
    fall: Move
    top_start: bool


@dataclass(frozen=True)
class PhaseIndices:
    """Fractional grid indices of the four boundaries and the peak concentric speed."""

    start: float
    lockout: float
    descent: float
    bottom: float
    peak_mps: float

    def shifted(self, d: float) -> PhaseIndices:
        """The same boundaries, ``d`` samples later."""
        return PhaseIndices(
            self.start + d, self.lockout + d, self.descent + d, self.bottom + d, self.peak_mps
        )


def find_moves(speed: FloatArray, dt_s: float, min_disp_m: float, merge_gap: int) -> list[Move]:
    """Runs of one sign of ``speed`` (m/s), tiny ones dropped, close ones of a sign merged."""
    if speed.size == 0:
        return []
    sign = np.sign(speed).astype(np.int8)
    edges = np.flatnonzero(np.diff(sign)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [speed.size]])
    csum = np.concatenate([[0.0], np.cumsum(speed)]) * dt_s
    disp = csum[ends] - csum[starts]
    keep = np.flatnonzero((sign[starts] != 0) & ~(np.abs(disp) < min_disp_m))
    peaks = np.maximum.reduceat(np.abs(speed), starts)[keep]
    raw = [
        Move(int(sign[a]), a, b, pk, d)
        for a, b, pk, d in zip(starts[keep].tolist(), ends[keep].tolist(), peaks.tolist(),
                               disp[keep].tolist(), strict=True)
    ]
    merged: list[Move] = []
    for m in raw:
        if merged and merged[-1].sign == m.sign and m.i0 - merged[-1].i1 <= merge_gap:
            p = merged[-1]
            against = np.minimum(speed[p.i1 : m.i0] * m.sign, 0.0).sum() * -dt_s
            merged[-1] = Move(
                m.sign, p.i0, m.i1, max(p.peak_mps, m.peak_mps), float(csum[m.i1] - csum[p.i0]),
                p.back_m + float(against),
            )
        else:
            merged.append(m)
    return merged


def cycle_detrended(
    speed: FloatArray, rest: NDArray[np.bool_], period: int, keep_rest: int
) -> FloatArray:
    """``speed`` (m/s) less its running mean over ``period`` samples (one rep cycle).

    Over a whole cycle of a set the body comes back to where it was, so the mean speed
    over a cycle is drift. Runs of ``rest`` longer than ``keep_rest`` samples are real
    rests and keep their speed (zero); shorter ones are corrected like the motion.
    """
    out: FloatArray = speed - uniform_filter1d(speed, period, mode="nearest")
    for a, b in runs(rest):
        if b - a > keep_rest:
            out[a:b] = speed[a:b]
    return out


def rep_cycle(moves: list[Move], min_disp_m: float) -> int | None:
    """A set's rep cycle (grid samples): the median interval from one rise of at least
    ``min_disp_m`` to the next, from four rises on. With fewer (drift with no rest between
    reps swallows a short rise into the descents around it), the median of the intervals
    between rises and between descents together, from three on. None: too few."""
    ups, downs = ([m.i0 for m in moves if m.sign == sign and abs(m.disp_m) >= min_disp_m]
                  for sign in (1, -1))
    gaps = np.diff(ups) if len(ups) >= 4 else np.concatenate([np.diff(ups), np.diff(downs)])
    return int(np.median(gaps)) if gaps.size >= 3 else None


def moving(activity_g2: list[float], seen: list[bool], ratio: float) -> list[bool]:
    """Which of a set's reps move like a rep: those ``seen`` on the plain speed, and the
    others whose acceleration's activity (g^2) is at least ``ratio`` times the median of the
    set's other reps'. Drift does not accelerate: de-drifting bends the slow sway at a
    set's edge into a "rep" with 0.01-0.1 times its set's activity; a rep that drift hid
    moves like the others (0.2-5 times)."""
    out = []
    for k, (a, s) in enumerate(zip(activity_g2, seen, strict=True)):
        others = activity_g2[:k] + activity_g2[k + 1 :]
        out.append(s or not others or a >= ratio * median(others))
    return out


def comes_back_evenly(rises_m: list[float], descents_m: list[float], ratio: float) -> bool:
    """Do a set's reps descend by what they rose: is the median over its reps of
    |ln(descent / rise)| (ranges, m) at most ln(``ratio``)? Each pair may differ by up to
    ``pair_ratio`` (drift, a short descent); a set whose pairs all do is not reps. De-drifting
    the shuffling between sets pairs its moves into "reps" 1.7-1.8 x apart; true sets read
    1.0-1.37 x on median."""
    logs = [abs(math.log(abs(d / r))) for r, d in zip(rises_m, descents_m, strict=True)]
    return bool(logs) and median(logs) <= math.log(ratio)


def runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) of each run of True in ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def pair_moves(
    moves: list[Move], quiet: NDArray[np.bool_], p: EngineParams, top_start: bool
) -> list[RepCandidate]:
    """Greedy pairing: rise then descent (or descent then rise for a top-start lift).

    ``quiet`` marks the grid samples where the body is at most trembling (a held lockout
    is; walking is not). Moves on in the first's direction by less than 1/``pair_ratio`` of
    it are drift in the pause (a creep in a long hold) and are passed over.
    """
    rate = p.grid_rate_hz
    want = -1 if top_start else 1
    out: list[RepCandidate] = []
    i = 0
    while i < len(moves) - 1:
        first = moves[i]
        small = abs(first.disp_m) / p.pair_ratio
        j = i + 1
        while j < len(moves) - 1 and moves[j].sign == first.sign and abs(moves[j].disp_m) < small:
            j += 1
        second = moves[j]
        if first.sign == want and second.sign == -want:
            rise, fall = (second, first) if top_start else (first, second)
            if _plausible(rise, fall, first, second, quiet=quiet, p=p, rate=rate):
                out.append(RepCandidate(rise, fall, top_start))
                i = j + 1
                continue
        i += 1
    return out


def unreturned(moves: list[Move], p: EngineParams) -> list[tuple[Move, Move]]:
    """Pairs of rep-sized moves in one direction, each the next of its direction, with no
    move between them that comes back by a rep's share (1/``pair_ratio``) of either: two
    rises with no descent between, say. The way back was there, but too slow for the
    stillness test to tell it from rest (a 3 s eccentric on a bar is under 20 mg); it lies
    between the first move's end and the second's, two rests."""
    longest = (p.max_hold_s + p.max_eccentric_s) * p.grid_rate_hz
    big = [k for k, m in enumerate(moves) if abs(m.disp_m) >= p.min_range_m]
    out = []
    for pos, k in enumerate(big):
        m = moves[k]
        j = next((j for j in big[pos + 1 :] if moves[j].sign == m.sign), None)
        if j is None or moves[j].i0 - m.i1 > longest:
            continue
        n = moves[j]
        if not 1 / p.pair_ratio <= n.disp_m / m.disp_m <= p.pair_ratio:
            continue
        share = min(abs(m.disp_m), abs(n.disp_m)) / p.pair_ratio
        if not comes_back(moves[k + 1 : j], m.sign, share):
            out.append((m, n))
    return out


def comes_back(moves: list[Move], sign: int, size_m: float) -> bool:
    """Does any of ``moves`` go against ``sign`` by at least ``size_m`` (m)?"""
    return any(x.sign != sign and abs(x.disp_m) >= size_m for x in moves)


def steady(m: Move, p: EngineParams) -> bool:
    """Does ``m`` go one way, back by at most ``max_back_fraction`` of itself along the way?
    A rep's rise and descent do; walking about goes up and down with each step."""
    return m.back_m <= p.max_back_fraction * abs(m.disp_m)


def rep_sized(rise_m: float, p: EngineParams) -> bool:
    """Is a rise of ``rise_m`` (m) a rep's size (``min_range_m`` to ``max_range_m``)?"""
    return p.min_range_m <= rise_m <= p.max_range_m


def _plausible(
    rise: Move, fall: Move, first: Move, second: Move, *, quiet: NDArray[np.bool_],
    p: EngineParams, rate: float,
) -> bool:
    up, down = rise.disp_m, -fall.disp_m
    if not (rep_sized(up, p) and down > 0):
        return False
    if not 1 / p.pair_ratio <= down / up <= p.pair_ratio:
        return False
    if not (steady(rise, p) and steady(fall, p)):
        return False
    if not p.min_phase_s <= (rise.i1 - rise.i0) / rate:
        return False
    if (rise.i1 - rise.i0) / rate > p.max_concentric_s + 1.0:
        return False
    if not p.min_phase_s <= (fall.i1 - fall.i0) / rate <= p.max_eccentric_s + 1.0:
        return False
    gap = second.i0 - first.i1
    if gap / rate > p.max_hold_s:
        return False
    # a long pause in a rep is quiet (walking between standing up and sitting down is
    # not); its edges are blurred by the filters, so judge the middle half
    middle = quiet[first.i1 + gap // 4 : second.i0 - gap // 4]
    return not (gap / rate > p.quiet_check_s and middle.mean() < p.min_quiet_hold)


def phase_indices(
    speed: FloatArray,
    rep: RepCandidate,
    fraction: float,
    *,
    flat_step_mps: float = 0.0,
    flat_min: int = 10,
    band_steps: float = 0.0,
) -> PhaseIndices:
    """The four boundaries where the speed crosses ``fraction`` of the peak rise speed.

    A held lockout that no rest anchors can keep a drift: the speed is flat there, but off
    zero, and would cross the descent's threshold right after the lockout. With
    ``flat_step_mps`` > 0 and a hold shorter than ``flat_min`` samples, the longest run of
    at least ``flat_min`` samples between the rise's peak and the descent's trough whose
    speed changes less than that per sample is the hold; when its level is off zero by more
    than half the threshold, the lockout and the descent are the crossings relative to it.
    When there is no such run, and ``band_steps`` > 0, the hold lasts until the position
    leaves a band below the lockout (``_left_top``): a wavering speed is not a descent.
    """
    r, f = rep.rise, rep.fall
    pk = r.i0 + int(speed[r.i0 : r.i1].argmax())
    vpk = float(speed[pk])
    thr = fraction * vpk
    # each boundary is the crossing nearest the move's peak: a wobble in a hold or at the
    # bottom that reaches the threshold is not the move
    up = _run_around(speed[r.i0 : r.i1] >= thr, pk - r.i0) + r.i0
    trough = f.i0 + int(speed[f.i0 : f.i1].argmin())
    if speed[trough] <= -thr:
        down = _run_around(speed[f.i0 : f.i1] <= -thr, trough - f.i0) + f.i0
    else:  # the descent never reached the threshold: use its extent
        down = np.array([f.i0, f.i1 - 1])
    lockout = _cross(speed, int(up[-1]), thr)
    descent = _cross(speed, int(down[0]) - 1, -thr)
    if flat_step_mps > 0 and not rep.top_start and descent - lockout < flat_min:
        held = _held_top(speed, rep, thr, flat_step_mps, flat_min)
        if held is not None:
            lockout, descent = held
        elif band_steps > 0:
            descent = max(descent, _left_top(speed, rep, lockout, thr, band_steps))
    return PhaseIndices(
        start=_cross(speed, int(up[0]) - 1, thr),
        lockout=lockout,
        descent=descent,
        bottom=_cross(speed, int(down[-1]), -thr),
        peak_mps=vpk,
    )


_TRIM_MIN = 1.1  # a descent this much bigger than its rise may have run on (trim_ran_on)
_TRIM_RATIO = 1.3  # ... and the rep's own ends back down within this factor of the rise
_TRIM_PEAK = 0.25  # ... and its part that is the rep's is at least this fast (of the rise's)
_TRIM_SLOW = 0.5  # ... and it stops there for a moment, or slows under this (of its peak)


def trim_ran_on(
    c: RepCandidate, seg: FloatArray, still: NDArray[np.bool_], dt_s: float,
    p: EngineParams,
) -> RepCandidate | None:
    """A bottom-start rep whose descent ran on into a further move down (the bar lowered
    to the floor, the athlete sliding down to sit, right after the last rep, with hardly a
    pause), trimmed to the rep: its descent ends at the slowest moment while the hips or bar
    are back down by 1/1.3 to 1.3 times the rise (to ``pair_ratio`` times when the move is
    bigger than that), if they are still there for a moment (a rest) or slow to under
    ``_TRIM_SLOW`` of the descent's peak speed (no pause at all).

    ``seg`` is the speed (m/s, up positive) over the descent ``c.fall``, and
    ``still`` the stillness from its first sample (to 3 past its last). None when the
    descent is not ``_TRIM_MIN`` times the rise or more, or no such moment is found.
    """
    rise, fall = c.rise, c.fall
    if c.top_start or -fall.disp_m < _TRIM_MIN * rise.disp_m:
        return None
    down = -np.cumsum(seg) * dt_s  # m, down positive
    lo = int(np.searchsorted(down, rise.disp_m / _TRIM_RATIO))
    # (one that ran on without a pause, over pair_ratio times the rise, ends further down)
    far = p.pair_ratio if -fall.disp_m > p.pair_ratio * rise.disp_m else _TRIM_RATIO
    hi = max(lo + 1, int(np.searchsorted(down, rise.disp_m * far)))
    if lo >= seg.size:
        return None
    k = lo + int(np.abs(seg[lo:hi]).argmin())
    peak = float(np.abs(seg[: k + 1]).max())
    if (k + 1) * dt_s < p.min_phase_s:
        return None
    if not still[max(0, k - 2) : k + 4].any() and abs(seg[k]) > _TRIM_SLOW * peak:
        return None  # a descent that stops there for a moment, or nearly so
    if peak < _TRIM_PEAK * rise.peak_mps:
        return None  # a creep, not a descent
    return RepCandidate(rise, Move(-1, fall.i0, fall.i0 + k + 1, peak, -float(down[k])),
                        top_start=False)


def _run_around(mask: NDArray[np.bool_], i: int) -> NDArray[np.intp]:
    """The first and last index of the run of True in ``mask`` that holds index ``i``."""
    lo = i - int(np.argmin(mask[i::-1])) + 1 if not mask[: i + 1].all() else 0
    hi = i + int(np.argmin(mask[i:])) - 1 if not mask[i:].all() else mask.size - 1
    return np.array([lo, hi])


def _held_top(
    speed: FloatArray, rep: RepCandidate, thr: float, step: float, min_n: int
) -> tuple[float, float] | None:
    """(lockout, descent) relative to a drifted hold's level, or None (see phase_indices)."""
    pk = rep.rise.i0 + int(speed[rep.rise.i0 : rep.rise.i1].argmax())
    trough = rep.fall.i0 + int(speed[rep.fall.i0 : rep.fall.i1].argmin())
    seg = speed[pk : trough + 1]
    if seg.size < min_n + 1:
        return None
    edges = np.diff(np.concatenate([[0], (np.abs(np.diff(seg)) < step).view(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return None
    lengths = (ends - starts)[::-1]
    k = starts.size - 1 - int(lengths.argmax())  # the longest; the last of equals
    a, b = int(starts[k]), int(ends[k])
    if b - a < min_n:
        return None
    level = float(np.median(seg[a : b + 1]))
    if abs(level) <= 0.5 * thr:
        return None
    rel = seg - level
    below = np.flatnonzero(rel < thr)
    if below.size == 0 or below[0] == 0:
        return None
    i_lock = int(below[0])
    down = np.flatnonzero(rel[i_lock:] <= -thr)
    if down.size == 0:
        return None
    i_desc = i_lock + int(down[0])
    return pk + _cross(rel, i_lock - 1, thr), pk + _cross(rel, i_desc - 1, -thr)


def _left_top(speed: FloatArray, rep: RepCandidate, lockout: float, thr: float,
              band_steps: float) -> float:
    """The descent of a hold that no rest anchors and whose speed wavers (it crosses the
    descent's threshold right after the lockout): the last crossing of ``-thr`` before the
    hips or bar leave the top for good, a band below where they locked out. The position is
    the running sum of the speed samples, so ``band_steps`` is the band (m) over the sample
    interval (s)."""
    i0 = int(lockout) + 1
    trough = rep.fall.i0 + int(speed[rep.fall.i0 : rep.fall.i1].argmin())
    if trough <= i0:
        return lockout
    z = np.cumsum(speed[i0 : trough + 1])  # position from the lockout, in m / dt
    out = np.flatnonzero(z < -band_steps)
    if out.size == 0:
        return lockout
    above = np.flatnonzero(speed[i0 : i0 + int(out[0])] > -thr)
    if above.size == 0:
        return lockout
    return _cross(speed, i0 + int(above[-1]), -thr)


def _cross(speed: FloatArray, i: int, level: float) -> float:
    """Fractional index where speed crosses ``level`` between samples i and i + 1."""
    if i < 0:
        return 0.0
    if i + 1 >= speed.size:
        return float(speed.size - 1)
    a, b = speed[i] - level, speed[i + 1] - level
    return float(i + (a / (a - b) if a != b else 0.0))
