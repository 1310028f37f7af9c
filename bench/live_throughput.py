"""Throughput of the live engine: samples per second through ``Engine.feed`` on one core.

A simulated session is fed in packet-sized chunks (``--chunks``, samples per ``feed`` call)
to a fresh ``Engine`` (which runs the lockout detector too); the lockout detector is also
timed alone on the same grid blocks. ``--profile`` prints where the time goes (cProfile).

    python bench/live_throughput.py
    python bench/live_throughput.py --seed 58 --chunks 10,100,1000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sensor.engine import Engine  # after the path set-up
from sensor.engine.lockout import LockoutDetector
from sensor.engine.resample import GridBlock, GridResampler
from sensor.samples import Samples
from sensor.simulate import simulate_session

TARGET_SPS = 1_000_000


def feed_all(samples: Samples, chunk: int) -> float:
    """Seconds to feed every chunk and finish."""
    blocks = samples.chunks(chunk)
    engine = Engine()
    t0 = time.perf_counter()
    for b in blocks:
        engine.feed(b)
    engine.finish()
    return time.perf_counter() - t0


def grid_blocks(samples: Samples, chunk: int) -> list[GridBlock]:
    rs = GridResampler(50.0, 1.0)
    out = [rs.push(b) for b in samples.chunks(chunk)]
    return [b for b in out if b is not None]


def detector_only(blocks: list[GridBlock]) -> float:
    det = LockoutDetector(50.0)
    t0 = time.perf_counter()
    for b in blocks:
        det.push(b)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=58)
    ap.add_argument("--rate", type=float, default=100.0, help="sensor rate of the session, Hz")
    ap.add_argument("--chunks", default="10,100", help="samples per feed() call")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    samples, _ = simulate_session(args.seed, rate_hz=args.rate)
    n = len(samples)
    print(f"session: seed {args.seed}, {n} samples at {args.rate:g} Hz "
          f"({samples.duration_s:.0f} s of training)")
    for chunk in (int(c) for c in args.chunks.split(",")):
        secs = min(feed_all(samples, chunk) for _ in range(2))
        blocks = grid_blocks(samples, chunk)
        det = min(detector_only(blocks) for _ in range(2))
        print(f"chunk {chunk:>5}: Engine.feed {n / secs:>10,.0f} samples/s "
              f"({secs * 1e6 / len(samples.chunks(chunk)):.0f} us per call; target "
              f"{TARGET_SPS:,}); lockout detector alone {n / det:>10,.0f} samples/s "
              f"({det / secs * 100:.0f} % of the engine's time)")
    if args.profile:
        chunk = int(args.chunks.split(",")[0])
        prof = cProfile.Profile()
        prof.runcall(feed_all, samples, chunk)
        print(f"\ncProfile, chunk {chunk}, by own time:")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
