"""Accuracy benchmark: the engine against simulated sessions with known truth.

Runs the engine over simulated sessions drawn from the whole grid (mount x rate x gyro x
orientation x nuisances x lifts) and prints the product spec's metrics. The engine was tuned
on seeds 1000-1199 (``--seeds 1000:1200``); the figures in the README use seeds 0-299.

    python bench/accuracy.py --seeds 0:300
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields, replace
from typing import Any

import numpy as np

from sensor.engine import AnalysisOptions, EngineParams, analyze
from sensor.samples import Samples
from sensor.simulate import SimConfig, simulate_session
from sensor.summary import PHASE_METRICS, Leg, to_dict

GENERATORS = ("sim", "alt", "plain")


def make_session(
    seed: int, generator: str, sim: Mapping[str, float] | None = None
) -> tuple[Samples, dict[str, Any]]:
    """One session of ``generator`` (see ``GENERATORS``) and its truth document. ``sim``
    overrides the simulator's sensor and athlete (``SimConfig`` fields) after the seed has
    drawn them, so that one nuisance at a time can be switched off."""
    if sim and generator != "sim":
        raise ValueError("simulator overrides apply to the sim generator only")
    if generator == "alt":  # the independent generator beside this file
        from alt_sessions import make_session as make_alt  # noqa: PLC0415 - only when asked

        return make_alt(seed)
    if generator == "plain":  # the third generator, written from the spec only
        from plain_sessions import make_session as make_plain  # noqa: PLC0415 - only when asked

        return make_plain(seed)
    return simulate_session(seed, **(sim or {}))


def param_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` as EngineParams overrides, each of its field's type."""
    defaults = EngineParams()
    split = (p.split("=", 1) for p in pairs)
    return {k: type(getattr(defaults, k))(float(v)) for k, v in split}


def sim_overrides(pairs: list[str]) -> dict[str, float]:
    """``["NAME=VALUE", ...]`` as overrides of the simulator's numeric ``SimConfig`` fields
    (``noise_g=0``: a noiseless sensor)."""
    numeric = {f.name for f in fields(SimConfig) if f.type in ("float", "float | None")}
    out: dict[str, float] = {}
    for name, _, value in (p.partition("=") for p in pairs):
        if name not in numeric:
            raise ValueError(f"--sim {name}: not one of {', '.join(sorted(numeric))}")
        out[name] = float(value)
    return out


def options_for(truth: dict[str, Any]) -> AnalysisOptions:
    """What a user would tell the engine about the session: the first leg and the pause."""
    return AnalysisOptions(first_leg=Leg(truth["first_leg"]), pause_s=truth["pause_s"])


Job = tuple[int, dict[str, Any], str, dict[str, float]]  # seed, params, generator, sim


def run_one(job: Job) -> dict[str, Any]:
    seed, overrides, generator, sim = job
    samples, truth = make_session(seed, generator, sim)
    options = options_for(truth)
    params = replace(EngineParams(), **overrides)
    doc = to_dict(analyze(samples, options, params=params))
    return {"seed": seed, "truth": truth, "doc": doc}


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    sets_total = sets_exact = legs_right = phantom = 0
    lift_sets = lift_exact = 0
    errors: dict[str, list[float]] = {m: [] for m in PHASE_METRICS}
    asym_right = 0
    tilt_limit = AnalysisOptions().tilt_threshold_deg
    tilt_right = 0
    tilt_err: list[float] = []  # hip reps: |engine - truth| tilt, degrees
    bad: list[str] = []
    for res in results:
        truth, doc = res["truth"], res["doc"]
        t_sets = truth["sets"]
        d_sets = doc["sets"]
        used: set[int] = set()
        ok_session = True
        for ts in t_sets:
            t0 = min(min(r["t_start"], r["t_descent"]) for r in ts["reps"])
            t1 = max(max(r["t_bottom"], r["t_lockout"]) for r in ts["reps"])
            best, best_ov = None, 0.0
            for j, ds in enumerate(d_sets):
                ov = _overlap(t0, t1, ds["t_start"] or 0, ds["t_end"] or 0)
                if ds["reps"]:
                    d0 = min(min(r["t_start"], r["t_descent"]) for r in ds["reps"])
                    d1 = max(max(r["t_bottom"], r["t_lockout"]) for r in ds["reps"])
                    ov = _overlap(t0, t1, d0, d1)
                if ov > best_ov:
                    best, best_ov = j, ov
            sets_total += 1
            is_lift = truth["lift"] != "hip_thrust"
            lift_sets += is_lift
            if best is None:
                ok_session = False
                continue
            used.add(best)
            ds = d_sets[best]
            exact = ds["rep_count"] == ts["rep_count"]
            sets_exact += exact
            lift_exact += exact and is_lift
            ok_session &= exact
            legs_right += ds["leg"] == ts["leg"]
            for tr in ts["reps"]:
                cands = [r for r in ds["reps"] if abs(r["t_lockout"] - tr["t_lockout"]) < 1.0]
                if not cands:
                    continue
                r = min(cands, key=lambda r: abs(r["t_lockout"] - tr["t_lockout"]))
                for m in PHASE_METRICS:
                    if truth["top_start"] and m == "hold_s":
                        continue
                    errors[m].append(abs(r[m] - tr[m]))
                if tr.get("tilt_deg") is not None and r["tilt_deg"] is not None:
                    tilt_err.append(abs(r["tilt_deg"] - tr["tilt_deg"]))
                    tilt_right += ("pelvic_tilt" in r["flags"]) == (tr["tilt_deg"] > tilt_limit)
        phantom += len(d_sets) - len(used)
        ok_session &= len(d_sets) == len(used)
        t_flags = set(truth["asymmetry"]["flags"])
        d_flags = set(doc["asymmetry"]["flags"])
        asym_right += t_flags == d_flags
        if not ok_session or t_flags != d_flags:
            bad.append(
                f"seed {res['seed']}: {truth['mount']} {truth['lift']} {truth['rate_hz']:g} Hz "
                f"{'gyro' if truth['with_gyro'] else 'no gyro'} truth "
                f"{[s['rep_count'] for s in t_sets]} got {[s['rep_count'] for s in d_sets]} "
                f"asym {sorted(t_flags)} got {sorted(d_flags)}"
            )
    n = len(results)
    out: dict[str, Any] = {
        "sessions": n,
        "sets": sets_total,
        "exact_sets_pct": 100 * sets_exact / max(1, sets_total),
        "leg_right_pct": 100 * legs_right / max(1, sets_total),
        "phantom_sets": phantom,
        "asymmetry_right_pct": 100 * asym_right / max(1, n),
        "other_lift_sets": lift_sets,
        "other_lift_exact_pct": 100 * lift_exact / max(1, lift_sets),
        "tilt_reps": len(tilt_err),
        "tilt_flag_right_pct": 100 * tilt_right / max(1, len(tilt_err)),
        "tilt_median_err_deg": float(np.median(tilt_err)) if tilt_err else math.nan,
        "bad": bad,
    }
    for m in PHASE_METRICS:
        e = np.array(errors[m]) if errors[m] else np.array([math.nan])
        out[f"{m}_median_err"] = float(np.median(e))
        out[f"{m}_p95_err"] = float(np.percentile(e, 95))
    return out


def add_override_arguments(ap: argparse.ArgumentParser) -> None:
    """``--param`` (the engine's) and ``--sim`` (the simulator's), shared by the bench tools."""
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override an EngineParams field (for tuning)")
    ap.add_argument("--sim", action="append", default=[], metavar="NAME=VALUE",
                    help="sim generator: override a SimConfig number (noise_g=0, bias_g=0, "
                    "scale_err=0: which sensor error causes a bias)")


def checked_sim_overrides(ap: argparse.ArgumentParser, args: argparse.Namespace
                          ) -> dict[str, float]:
    """``--sim`` as overrides, or a usage error (unknown field, or not the sim generator)."""
    if args.sim and args.generator != "sim":
        ap.error("--sim applies to --generator sim only")
    try:
        return sim_overrides(args.sim)
    except ValueError as exc:
        ap.error(str(exc))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0:300", help="range A:B of simulator seeds")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--generator", choices=GENERATORS, default="sim",
                    help="sim: sensor.simulate; alt: the independent bench/alt_sessions.py; "
                    "plain: bench/plain_sessions.py (from the spec only)")
    ap.add_argument("--show-bad", action="store_true", help="list the sessions not all right")
    ap.add_argument("--json", action="store_true")
    add_override_arguments(ap)
    args = ap.parse_args()
    sim = checked_sim_overrides(ap, args)
    a, b = (int(x) for x in args.seeds.split(":"))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        overrides = param_overrides(args.param)
        jobs: list[Job] = [(i, overrides, args.generator, sim) for i in range(a, b)]
        results = list(pool.map(run_one, jobs, chunksize=4))
    s = score(results)
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({k: v for k, v in s.items() if k != "bad"}, indent=2))
        return 0
    print(f"hipthrust accuracy on simulated sessions ({args.generator}), seeds {a}-{b - 1} "
          f"({elapsed:.0f} s)")
    print(f"  sessions                     {s['sessions']}")
    print(f"  sets                         {s['sets']}")
    print(f"  exact rep count (sets)       {s['exact_sets_pct']:.1f} %   target >= 99 %")
    print(f"  leg right (sets)             {s['leg_right_pct']:.1f} %")
    print(f"  phantom sets                 {s['phantom_sets']}       target 0")
    print(f"  asymmetry flags right        {s['asymmetry_right_pct']:.1f} %   target >= 95 %")
    if s["other_lift_sets"]:
        print(f"  other lifts, exact count     {s['other_lift_exact_pct']:.1f} %   "
              f"({s['other_lift_sets']} sets of squat/deadlift/row/press/curl)")
    else:
        print("  other lifts, exact count     n/a (hip thrusts only)")
    if s["tilt_reps"]:
        print(f"  pelvic tilt flag right       {s['tilt_flag_right_pct']:.1f} %   "
              f"({s['tilt_reps']} hip reps; median error {s['tilt_median_err_deg']:.2f} deg)")
    else:
        print("  pelvic tilt flag right       n/a (no tilt truth from this generator)")
    for m in PHASE_METRICS:
        print(f"  {m:<13} error median {s[m + '_median_err']:.3f} s  p95 "
              f"{s[m + '_p95_err']:.3f} s   target median <= 0.1 s")
    if args.show_bad:
        for line in s["bad"]:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
