"""Small synthetic session summaries for the MQTT/store/review tests (built with the real
``sensor.summary`` dataclasses and ``to_dict``, so they are the spec's documents)."""

from __future__ import annotations

from typing import Any

from sensor.summary import (
    Asymmetry,
    Leg,
    LegStats,
    Mount,
    PhaseAsymmetry,
    Rep,
    SessionSummary,
    SetResult,
    to_dict,
)


def make_summary(session_id: str, *, left_hold_s: float = 2.0, right_hold_s: float = 1.5,
                 reps_per_set: int = 3) -> SessionSummary:
    """Two sets (left, right) with known phase times: concentric 1.0 s, eccentric 1.5 s."""
    sets = []
    for index, (leg, hold_s) in enumerate(((Leg.LEFT, left_hold_s), (Leg.RIGHT, right_hold_s))):
        reps = []
        t = 100.0 * index
        for i in range(reps_per_set):
            reps.append(Rep(index=i, t_start=t, t_lockout=t + 1.0, t_descent=t + 1.0 + hold_s,
                            t_bottom=t + 2.5 + hold_s, concentric_s=1.0, hold_s=hold_s,
                            eccentric_s=1.5, peak_speed_mps=0.5, range_m=0.2))
            t += 5.0 + hold_s
        sets.append(SetResult(index=index, leg=leg, reps=tuple(reps)))
    legs = {
        Leg.LEFT: LegStats(reps_per_set, 1.0, left_hold_s, 1.5, 0.0, 0.0, 0.0),
        Leg.RIGHT: LegStats(reps_per_set, 1.0, right_hold_s, 1.5, 0.0, 0.0, 0.0),
    }
    hold_pct = abs(left_hold_s - right_hold_s) / ((left_hold_s + right_hold_s) / 2) * 100
    asym = Asymmetry(15.0, (
        PhaseAsymmetry("concentric_s", 0.0, 0.0, False),
        PhaseAsymmetry("hold_s", hold_pct, 0.0, hold_pct > 15.0),
        PhaseAsymmetry("eccentric_s", 0.0, 0.0, False),
    ))
    return SessionSummary(session_id=session_id, mount=Mount.HIP, sets=tuple(sets), legs=legs,
                          asymmetry=asym, source="synthetic")


def make_doc(session_id: str, **kwargs: Any) -> dict[str, Any]:
    return to_dict(make_summary(session_id, **kwargs))


def make_rep(index: int = 0) -> Rep:
    """One rep with known phase times: concentric 1.0 s, hold 2.0 s, eccentric 1.5 s."""
    return Rep(index=index, t_start=1.0, t_lockout=2.0, t_descent=4.0, t_bottom=5.5,
               concentric_s=1.0, hold_s=2.0, eccentric_s=1.5, peak_speed_mps=0.4, range_m=0.2)
