"""Signed phase-boundary errors (found - true) by the rep's true eccentric duration.

The accuracy benchmark reports absolute errors; a bias that grows with a phase's duration
(a slow eccentric starting with a few mg that reads as rest) moves the slow leg's hold and
eccentric together, and is what flips borderline hold-asymmetry flags.

    python bench/boundary_bias.py --seeds 1000:1200
    python bench/boundary_bias.py --generator alt --seeds 100:200
    python bench/boundary_bias.py --seeds 1000:1200 --param motion_edge_s=0.6
    python bench/boundary_bias.py --seeds 1000:1200 --sim noise_g=0 --sim bias_g=0
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any

import numpy as np
from accuracy import (
    GENERATORS,
    Job,
    add_override_arguments,
    checked_sim_overrides,
    param_overrides,
    run_one,
)

_BOUNDS = ("t_start", "t_lockout", "t_descent", "t_bottom")
_BINS_S = (0.0, 1.5, 2.0, 2.5, 3.0, 99.0)  # true eccentric duration bins (s)


def signed_errors(results: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(true eccentric_s per rep, found - true of each boundary (reps, 4)) for the reps found
    within 0.5 s of their true lockout; sessions that start at the top have no hold."""
    ecc: list[float] = []
    err: list[list[float]] = []
    for res in results:
        truth, doc = res["truth"], res["doc"]
        if truth["top_start"]:
            continue
        found = [r for s in doc["sets"] for r in s["reps"]]
        for ts in truth["sets"]:
            for tr in ts["reps"]:
                near = [r for r in found if abs(r["t_lockout"] - tr["t_lockout"]) < 0.5]
                if near:
                    ecc.append(tr["eccentric_s"])
                    err.append([near[0][k] - tr[k] for k in _BOUNDS])
    return np.array(ecc), np.array(err).reshape(-1, len(_BOUNDS))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1000:1200", help="range A:B of seeds")
    ap.add_argument("--generator", choices=GENERATORS, default="sim")
    ap.add_argument("--jobs", type=int, default=2)
    add_override_arguments(ap)
    args = ap.parse_args()
    overrides = param_overrides(args.param)
    sim = checked_sim_overrides(ap, args)
    a, b = (int(x) for x in args.seeds.split(":"))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        jobs: list[Job] = [(i, overrides, args.generator, sim) for i in range(a, b)]
        results = list(pool.map(run_one, jobs, chunksize=4))
    ecc, err = signed_errors(results)
    print(f"signed boundary errors, found - true (s), median per true eccentric duration "
          f"({args.generator}{''.join(' ' + x for x in args.sim + args.param)}, "
          f"seeds {a}-{b - 1}, {ecc.size} reps, "
          f"{time.perf_counter() - t0:.0f} s)")
    print("  eccentric_s      reps " + "".join(f"{k:>11}" for k in _BOUNDS))
    for lo, hi in pairwise(_BINS_S):
        m = (ecc >= lo) & (ecc < hi)
        if m.any():
            label = f"{lo:.1f}-{hi:.1f}" if hi < 99 else f">= {lo:.1f}"
            meds = np.median(err[m], axis=0)
            print(f"  {label:<12} {int(m.sum()):>8} " + "".join(f"{v:+11.3f}" for v in meds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
