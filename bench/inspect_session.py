"""Look inside the engine on one generated session, to find why a set or a flag is wrong.

``sets``: each true set whose count the engine got wrong, with the reps it missed and the
ones it added (start times), and the found sets that match no true set.
``reps``: the true and the found phase boundaries of one set, rep by rep, and the per-leg
means and asymmetry indices beside the truth's. ``still``: the vertical speed, the position
and each stillness test against its threshold, every ``--step`` seconds of a time window.
Pick the session from ``python bench/accuracy.py --show-bad``.

    python bench/inspect_session.py sets plain 312
    python bench/inspect_session.py reps plain 151 --set 1
    python bench/inspect_session.py still plain 151 34571 34576 --step 0.1
    python bench/inspect_session.py still alt 113 4252 4254 --param still_gyro_level_dps=3
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from typing import Any

import numpy as np
from accuracy import (
    GENERATORS,
    add_override_arguments,
    checked_sim_overrides,
    make_session,
    options_for,
    param_overrides,
)

from sensor.engine import EngineParams
from sensor.engine.engine import Engine
from sensor.summary import PHASE_METRICS, to_dict

_BOUNDS = ("t_start", "t_lockout", "t_descent", "t_bottom")


def _row(tag: str, rep: dict[str, Any], ref: dict[str, Any] | None = None) -> str:
    cells = [f"{rep[k]:9.2f}" for k in _BOUNDS]
    if ref is not None:  # the error of each boundary, found - true (s)
        cells += [f"{rep[k] - ref[k]:+.3f}" for k in _BOUNDS]
    return f"  {tag} " + " ".join(cells)


_SAME_REP_S = 1.0  # a found rep starting this close to a true one is that rep


def match_sets(
    true_starts: list[list[float]], found_starts: list[list[float]],
    tol_s: float = _SAME_REP_S,
) -> list[tuple[int | None, int | None, list[float], list[float]]]:
    """Each true set (by its reps' ``t_start``, s) against the found set that shares most
    reps with it (a start within ``tol_s``): (true set, found set, true starts missed, found
    starts added), for the sets that differ; then (None, k, [], starts) for each other found
    set: a phantom, or a piece of a true set that was split (``show_sets`` tells which)."""
    def shared(a: list[float], b: list[float]) -> int:
        return sum(any(abs(x - y) < tol_s for y in b) for x in a)

    out: list[tuple[int | None, int | None, list[float], list[float]]] = []
    used: set[int] = set()
    for i, ts in enumerate(true_starts):
        best = max(range(len(found_starts)), key=lambda k: shared(ts, found_starts[k]),
                   default=None)
        if best is not None and shared(ts, found_starts[best]) == 0:
            best = None
        fs = [] if best is None else found_starts[best]
        if best is not None:
            used.add(best)
        missed = [x for x in ts if all(abs(x - y) >= tol_s for y in fs)]
        added = [y for y in fs if all(abs(x - y) >= tol_s for x in ts)]
        if missed or added:
            out.append((i, best, missed, added))
    out += [(None, k, [], fs) for k, fs in enumerate(found_starts)
            if k not in used and fs]
    return out


def show_sets(engine: Engine, truth: dict[str, Any]) -> None:
    """The sets the engine miscounted (``match_sets``), or that it found from nothing."""
    doc = to_dict(engine.summary())
    true_starts = [[r["t_start"] for r in s["reps"]] for s in truth["sets"]]
    found_starts = [[r["t_start"] for r in s["reps"]] for s in doc["sets"]]
    print(f"{len(true_starts)} true sets, {len(found_starts)} found")
    rows = match_sets(true_starts, found_starts)
    for i, k, missed, added in rows:
        if i is None:
            part = [j for j, ts in enumerate(true_starts)
                    if any(abs(x - y) < _SAME_REP_S for x in ts for y in added)]
            what = f"part of true set {part[0]} (split)" if part else "from no true set (phantom)"
            print(f"  found set {k}: {len(added)} reps {what}, at "
                  + ", ".join(f"{x:.2f}" for x in added))
            continue
        got = "none" if k is None else f"found set {k}: {len(found_starts[k])}"
        print(f"  true set {i}: {len(true_starts[i])} reps, {got}")
        if missed:
            print("    missed  " + ", ".join(f"{x:.2f}" for x in missed))
        if added:
            print("    added   " + ", ".join(f"{x:.2f}" for x in added))
    if not rows:
        print("  every set counted exactly")


def show_reps(engine: Engine, truth: dict[str, Any], set_index: int) -> None:
    """Truth against the engine for one set, then the legs and the asymmetry."""
    doc = to_dict(engine.summary())
    ts = truth["sets"][set_index]
    t0 = min(r["t_start"] for r in ts["reps"]) - 5.0
    t1 = max(r["t_bottom"] for r in ts["reps"]) + 5.0
    found = [r for s in doc["sets"] for r in s["reps"] if t0 < r["t_lockout"] < t1]
    print(f"set {set_index}: {ts['leg']} leg, {ts['rep_count']} true reps, {len(found)} found "
          f"within 5 s of it")
    print("        " + " ".join(f"{k:>9}" for k in _BOUNDS) + "   (found - true, s)")
    for tr in ts["reps"]:
        near = [r for r in found if abs(r["t_lockout"] - tr["t_lockout"]) < 1.0]
        print(_row("T", tr))
        if near:
            print(_row("E", min(near, key=lambda r: abs(r["t_lockout"] - tr["t_lockout"])), tr))
        else:
            print("  E   (missed)")
    extra = [r for r in found
             if all(abs(r["t_lockout"] - tr["t_lockout"]) >= 1.0 for tr in ts["reps"])]
    for r in extra:
        print(_row("+", r) + "   (no true rep)")
    print("asymmetry: true flags", truth["asymmetry"]["flags"], "found", doc["asymmetry"]["flags"])
    legs_t, legs_d = truth["legs"], doc["legs"]
    for m in PHASE_METRICS:
        if "left" not in legs_d or "right" not in legs_d:
            break
        name = m.removesuffix("_s")
        print(f"  {m:<13} true L {legs_t['left'][m]:.3f} R {legs_t['right'][m]:.3f} "
              f"index {truth['asymmetry'][name + '_pct']:5.1f} %  |  found "
              f"L {legs_d['left'][m]:.3f} R {legs_d['right'][m]:.3f} "
              f"index {doc['asymmetry'][name + '_pct']:5.1f} % "
              f"(noise {doc['asymmetry']['phases'][m]['noise_pct']:.1f} %)")


def show_still(engine: Engine, p: EngineParams, t0: float, t1: float, step_s: float) -> None:
    """Each stillness test (velocity.VelocityTracker._stillness) against its threshold."""
    tr = engine._tracker  # a look inside, for diagnosis
    if tr is None:
        return
    trace = engine.trace()
    k = max(1, round(step_s / tr.dt_s))
    raw = tr._still_raw.data  # the stillness decision before run lengths count
    print(f"norm noise floor {tr.floor_a:.1e} g^2; thresholds: norm activity "
          f"max({p.rest_ratio} x floor, {p.still_norm_min_g2:.0e}), vector activity "
          f"{p.still_acc_min_g2:.0e} g^2, level {p.still_level_g} g, turn {p.still_turn_deg} deg"
          + (f", gyro level {p.still_gyro_level_dps} deg/s" if tr.with_gyro else ""))
    print("        t  speed m/s  pos m  raw still  act_n    act_a    level g  turn deg"
          + ("  gyro-bias deg/s" if tr.with_gyro else ""))
    for i in range(0, trace.t_s.size, k):
        if not t0 <= trace.t_s[i] <= t1:
            continue
        turn = math.degrees(math.acos(min(1.0, float(tr.turn_cos.data[i]))))
        line = (f"{trace.t_s[i]:9.2f}  {trace.speed_mps[i]:+.3f}  {trace.position_m[i]:+.3f}"
                f"   {int(raw[i])}    {int(tr.long_still.data[i])}   {tr.act_n.data[i]:.1e}  "
                f"{tr.act_a.data[i]:.1e}  {tr.dev.data[i]:.4f}   {turn:5.2f}")
        if tr.with_gyro and tr.gyro_bias is not None:
            line += f"   {float(np.linalg.norm(tr.gyro_lp.data[i] - tr.gyro_bias)):6.2f}"
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("sets", "reps", "still"))
    ap.add_argument("generator", choices=GENERATORS)
    ap.add_argument("seed", type=int)
    ap.add_argument("window", nargs="*", type=float, metavar="T",
                    help="still: the window's start and end (s, the recording's time base)")
    ap.add_argument("--set", type=int, default=0, dest="set_index", help="reps: which set")
    ap.add_argument("--step", type=float, default=0.2, help="still: seconds between rows")
    add_override_arguments(ap)
    args = ap.parse_args()
    if args.what == "still" and len(args.window) != 2:
        ap.error("still needs a window: T0 T1")
    samples, truth = make_session(args.seed, args.generator, checked_sim_overrides(ap, args))
    if args.what == "reps" and not 0 <= args.set_index < len(truth["sets"]):
        ap.error(f"--set: this session has {len(truth['sets'])} sets")
    params = replace(EngineParams(), **param_overrides(args.param))
    engine = Engine(options_for(truth), params, live=False)
    engine.feed(samples)
    engine.finish()
    if args.what == "sets":
        show_sets(engine, truth)
    elif args.what == "reps":
        show_reps(engine, truth, args.set_index)
    else:
        show_still(engine, params, args.window[0], args.window[1], args.step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
