"""Lockout latency of the live engine on simulated hip-thrust sessions (bottom start).

For each session, the samples are fed to ``Engine.feed`` in chunks of ``--chunk-s`` seconds
of stream time; every ``LockoutReached`` event is stamped with the time of the last sample
fed when it came out. Each event is matched to the nearest true lockout (``t_lockout`` of the
simulator's truth, on the same time base) within ``--match-s``; the latency is the emission
time minus the true lockout time. Unmatched events are false lockouts, unmatched truths are
missed ones.

    python bench/latency.py                    # 30 sessions, 20 ms chunks
    python bench/latency.py --seeds 5000-5059 --chunk-s 0.1 --show-misses
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor.engine import AnalysisOptions, Engine  # after the path set-up
from sensor.events import LockoutReached
from sensor.simulate import Lift, simulate_session

TARGET_MEDIAN_S = 0.150
TARGET_P95_S = 0.250


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    estimate_errors_s: list[float] = field(default_factory=list)
    reps: int = 0
    missed: list[tuple[int, float]] = field(default_factory=list)  # (seed, true t)
    false: list[tuple[int, float]] = field(default_factory=list)  # (seed, event t)


def run_session(seed: int, chunk_s: float, match_s: float, tally: Tally) -> None:
    samples, truth = simulate_session(seed, lift=Lift.HIP_THRUST)
    true_t = np.array([r["t_lockout"] for s in truth["sets"] for r in s["reps"]])
    engine = Engine(AnalysisOptions())
    t = samples.t_s
    edges = np.searchsorted(t, np.arange(t[0], t[-1] + chunk_s, chunk_s), side="right")
    events: list[tuple[float, LockoutReached]] = []
    start = 0
    for stop in edges:
        if stop <= start:
            continue
        chunk = samples.slice(start, stop)
        for ev in engine.feed(chunk):
            if isinstance(ev, LockoutReached):
                events.append((float(t[stop - 1]), ev))
        start = stop
    tally.reps += true_t.size
    used = np.zeros(true_t.size, dtype=bool)
    for emitted_s, ev in events:
        d = np.abs(true_t - ev.t_s)
        j = int(np.argmin(d)) if d.size else -1
        if j < 0 or d[j] > match_s or used[j]:
            tally.false.append((seed, ev.t_s - float(t[0])))
            continue
        used[j] = True
        tally.latencies_s.append(emitted_s - float(true_t[j]))
        tally.estimate_errors_s.append(ev.t_s - float(true_t[j]))
    for j in np.flatnonzero(~used):
        tally.missed.append((seed, float(true_t[j] - t[0])))


def parse_seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="4000-4029", help="seed range, e.g. 4000-4029")
    ap.add_argument("--chunk-s", type=float, default=0.02, help="stream time per feed() call")
    ap.add_argument("--match-s", type=float, default=0.5)
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args()
    tally = Tally()
    t0 = time.perf_counter()
    for seed in parse_seeds(args.seeds):
        run_session(seed, args.chunk_s, args.match_s, tally)
    lat = np.array(tally.latencies_s)
    err = np.array(tally.estimate_errors_s)
    print(f"sessions {len(parse_seeds(args.seeds))}, true lockouts {tally.reps}, "
          f"chunk {args.chunk_s * 1000:.0f} ms, {time.perf_counter() - t0:.1f} s")
    if lat.size:
        med, p95 = float(np.median(lat)), float(np.percentile(lat, 95))
        print(f"latency after the true lockout: median {med * 1000:.0f} ms "
              f"(target <= {TARGET_MEDIAN_S * 1000:.0f}), p95 {p95 * 1000:.0f} ms "
              f"(target <= {TARGET_P95_S * 1000:.0f}), min {lat.min() * 1000:.0f} ms, "
              f"max {lat.max() * 1000:.0f} ms")
        print(f"estimated t_s - true t_lockout: median {np.median(err) * 1000:+.0f} ms, "
              f"median |error| {np.median(np.abs(err)) * 1000:.0f} ms")
    print(f"detected {lat.size}/{tally.reps}, missed {len(tally.missed)}, "
          f"false {len(tally.false)}")
    if args.show_misses:
        for seed, ts in tally.missed:
            print(f"  missed: seed {seed} at {ts:.2f} s")
        for seed, ts in tally.false:
            print(f"  false:  seed {seed} at {ts:.2f} s")
    ok = lat.size and np.median(lat) <= TARGET_MEDIAN_S and np.percentile(lat, 95) <= TARGET_P95_S
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
