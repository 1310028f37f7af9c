"""Stage 5: per-leg statistics, the asymmetry test, and per-rep flags. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

import numpy as np

from sensor.summary import (
    PHASE_METRICS,
    Asymmetry,
    Leg,
    LegStats,
    PhaseAsymmetry,
    Rep,
    RepFlag,
    SetResult,
)


def leg_for_set(index: int, first_leg: Leg, legs: Sequence[Leg] | None) -> Leg:
    """The leg of set ``index``: the explicit list, then alternation from its last leg."""
    if legs:
        if index < len(legs):
            return legs[index]
        last = legs[-1]
        return last if (index - len(legs)) % 2 == 1 else last.other
    return first_leg if index % 2 == 0 else first_leg.other


def leg_stats(reps: Sequence[Rep]) -> LegStats:
    """Means and sample standard deviations (s) of the phase durations."""
    def mean_sd(name: str) -> tuple[float, float]:
        x = np.array([r.metric(name) for r in reps])
        return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0

    (c, cs), (h, hs), (e, es) = (mean_sd(m) for m in PHASE_METRICS)
    return LegStats(len(reps), c, h, e, cs, hs, es)


def asymmetry_index_pct(left: float, right: float) -> float | None:
    """``|L - R| / ((L + R) / 2) * 100``; None when the mean is zero."""
    mean = (left + right) / 2
    return abs(left - right) / mean * 100 if mean > 0 else None


def asymmetry(
    legs: dict[Leg, LegStats], threshold_pct: float, noise_floor_sd_s: float
) -> Asymmetry:
    """Index per phase, flagged when over the threshold and over the rep-to-rep noise.

    The noise floor is two standard errors of the difference of the two means, with each
    leg's standard deviation floored at ``noise_floor_sd_s`` (the timing resolution), as a
    percentage of the mean of the two means.
    """
    phases: list[PhaseAsymmetry] = []
    left, right = legs.get(Leg.LEFT), legs.get(Leg.RIGHT)
    for m in PHASE_METRICS:
        if left is None or right is None or left.reps < 2 or right.reps < 2:
            phases.append(PhaseAsymmetry(m, None, None, False))
            continue
        lm, rm = getattr(left, m), getattr(right, m)
        ls = max(getattr(left, m.removesuffix("_s") + "_sd_s"), noise_floor_sd_s)
        rs = max(getattr(right, m.removesuffix("_s") + "_sd_s"), noise_floor_sd_s)
        idx = asymmetry_index_pct(lm, rm)
        se = math.sqrt(ls**2 / left.reps + rs**2 / right.reps)
        mean = (lm + rm) / 2
        noise = 2 * se / mean * 100 if mean > 0 else None
        flagged = idx is not None and noise is not None and idx > threshold_pct and idx > noise
        phases.append(PhaseAsymmetry(m, idx, noise, flagged))
    return Asymmetry(threshold_pct, tuple(phases))


def flag_reps(
    reps: Sequence[Rep], *, pause_s: float | None, bounce_hold_s: float,
    meant_to_hold_s: float, tilt_threshold_deg: float | None,
) -> tuple[tuple[RepFlag, ...], ...]:
    """Flags per rep: missed pause target, bounced lockout, pelvic tilt over the threshold."""
    holds = [r.hold_s for r in reps]
    median_hold = float(median(holds)) if holds else 0.0  # (statistics: np.median's value)
    meant_to_hold = pause_s is not None or median_hold >= meant_to_hold_s
    out = []
    for r in reps:
        f: list[RepFlag] = []
        if pause_s is not None and r.hold_s < pause_s:
            f.append(RepFlag.PAUSE_MISSED)
        if meant_to_hold and r.hold_s < bounce_hold_s:
            f.append(RepFlag.BOUNCE)
        tilt_limit = math.inf if tilt_threshold_deg is None else tilt_threshold_deg
        if r.tilt_deg is not None and r.tilt_deg > tilt_limit:
            f.append(RepFlag.PELVIC_TILT)
        out.append(tuple(f))
    return tuple(out)


def per_leg(sets: Sequence[SetResult]) -> dict[Leg, LegStats]:
    out: dict[Leg, LegStats] = {}
    for leg in Leg:
        reps = [r for s in sets if s.leg is leg for r in s.reps]
        if reps:
            out[leg] = leg_stats(reps)
    return out
