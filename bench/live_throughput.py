"""Throughput of the live engine: samples per second through ``Engine.feed`` on one core.

A simulated session is fed in packet-sized chunks (samples per ``feed`` call) to a fresh
``Engine`` (which runs the lockout detector too); the lockout detector is also timed alone
on the same grid blocks. Each sensor rate in ``--rates`` is run with the fixed chunk sizes of
``--chunks`` and with the chunks that hold ``--stream-s`` seconds of stream (the granularity a
live gateway feeds at: 0.04 s and 0.1 s by default). ``--profile`` prints where the time goes
(cProfile) for the first rate and chunk.

    python bench/live_throughput.py
    python bench/live_throughput.py --seed 58 --rates 100 --chunks 10,100,1000 --profile
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


def feed_all(samples: Samples, chunk: int) -> tuple[float, float]:
    """Seconds to feed every chunk (the stream), and then to finish (once per session)."""
    blocks = samples.chunks(chunk)
    engine = Engine()
    t0 = time.perf_counter()
    for b in blocks:
        engine.feed(b)
    t1 = time.perf_counter()
    engine.finish()
    return t1 - t0, time.perf_counter() - t1


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


def chunk_sizes(rate_hz: float, fixed: str, stream_s: str) -> list[tuple[int, str]]:
    """(samples per call, label): the fixed sizes, then those holding ``stream_s`` seconds."""
    out = [(int(c), "") for c in fixed.split(",") if c]
    out += [(max(1, round(float(s) * rate_hz)), f"= {float(s):g} s") for s in stream_s.split(",")
            if s]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=58)
    ap.add_argument("--rates", default="100,400", help="sensor rates of the session, Hz")
    ap.add_argument("--chunks", default="10,100,1000", help="samples per feed() call")
    ap.add_argument("--stream-s", default="0.04,0.1",
                    help="also chunks of this many seconds of stream")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    first: tuple[Samples, int] | None = None
    for rate in (float(r) for r in args.rates.split(",")):
        samples, _ = simulate_session(args.seed, rate_hz=rate)
        n = len(samples)
        print(f"session: seed {args.seed}, {n} samples at {rate:g} Hz "
              f"({samples.duration_s:.0f} s of training)")
        feed_all(samples.slice(0, min(n, 2000)), 10)  # warm-up (compiled kernels loaded)
        for chunk, label in chunk_sizes(rate, args.chunks, args.stream_s):
            first = first or (samples, chunk)
            runs = [feed_all(samples, chunk) for _ in range(args.repeat)]
            stream = min(r[0] for r in runs)
            secs = min(r[0] + r[1] for r in runs)
            end = min(r[1] for r in runs)
            blocks = grid_blocks(samples, chunk)
            det = min(detector_only(blocks) for _ in range(args.repeat))
            ok = "OK " if n / secs >= TARGET_SPS else "   "
            print(f"  chunk {chunk:>5} {label:<8}: Engine.feed {n / secs:>10,.0f} samples/s {ok}"
                  f"({secs * 1e6 / len(samples.chunks(chunk)):>6.1f} us per call); "
                  f"the stream alone {n / stream:>10,.0f} (finish {end * 1e3:.1f} ms once); "
                  f"lockout detector alone {n / det:>10,.0f} samples/s "
                  f"({det / secs * 100:.0f} % of the engine's time)")
    print(f"(Engine.feed: every chunk, then finish(); OK: at least the target, "
          f"{TARGET_SPS:,} samples/s. The stream alone leaves out finish(), the end of a "
          f"session's work, done once)")
    if args.profile and first is not None:
        samples, chunk = first
        prof = cProfile.Profile()
        prof.runcall(feed_all, samples, chunk)  # (the stream and finish)
        print(f"\ncProfile, chunk {chunk}, by own time:")
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
