"""Speed benchmark (issue 2): engine samples/s on a 1-hour, 100 Hz, 6-axis recording.

In the same run, one plain scipy pass over the same array serves as a yardstick:
``sosfiltfilt`` of a 4th-order Butterworth low-pass (5 Hz) over the (n, 6) array along
axis 0, then ``find_peaks`` on the norm of the filtered accelerometer. Both run on one core
(BLAS/OpenMP threads limited to 1 before numpy is imported), best of ``--runs``. Simulation
is not timed. Targets: engine >= 2 M samples/s and engine time <= 5 x scipy time.

    python bench/speed.py               # figures
    python bench/speed.py --profile     # also where the engine spends its time (cProfile)
    python bench/speed.py --stages      # also each stage's best time over the runs (an A/B
                                        # between commits on a noisy machine: compare these)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402 - the thread limits must be set before numpy is imported
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import butter, find_peaks, sosfiltfilt  # noqa: E402

from sensor.engine import analyze  # noqa: E402
from sensor.samples import FloatArray, Samples  # noqa: E402
from sensor.simulate import simulate_session  # noqa: E402
from sensor.summary import Mount  # noqa: E402

RATE_HZ = 100.0
TARGET_SAMPLES_PER_S = 2e6
TARGET_RATIO = 5.0


@contextlib.contextmanager
def one_thread() -> Iterator[str]:
    """Limit native thread pools to one thread (threadpoolctl when it is installed)."""
    try:
        # optional: not a dependency of the project; imported only when present
        from threadpoolctl import threadpool_limits  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        yield "thread env vars = 1 (threadpoolctl not installed)"
        return
    with threadpool_limits(limits=1):
        yield "thread env vars = 1, threadpoolctl limits = 1"


def build_recording(duration_s: float, seed: int) -> Samples:
    """Concatenate simulated 100 Hz, 6-axis sessions (hip and bar, with nuisances) with
    shifted times until ``duration_s`` is covered; exactly ``duration_s * 100`` samples."""
    n_target = round(duration_s * RATE_HZ)
    blocks: list[Samples] = []
    n = 0
    t_next = 0.0
    k = 0
    while n < n_target:
        s, _ = simulate_session(
            seed + k, rate_hz=RATE_HZ, with_gyro=True, drop_rate=0.0, duplicate_rate=0.0,
            nuisances=True, mount=Mount.HIP if k % 2 == 0 else Mount.BAR,
        )
        t = s.t_s - s.t_s[0] + t_next
        blocks.append(Samples(t, s.acc_g, s.gyro_dps, s.metadata))
        n += len(s)
        t_next = float(t[-1]) + 1 / RATE_HZ
        k += 1
    whole = Samples.concat(blocks)
    return whole.slice(0, n_target)


def best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# the engine's stages, timed by wrapping their entry points (``--stages``): the module, the
# class and the method
STAGES = (
    ("sensor.engine.resample", "GridResampler", "push_into"),
    ("sensor.engine.velocity", "VelocityTracker", "_filter"),
    ("sensor.engine.velocity", "VelocityTracker", "_activity"),
    ("sensor.engine.velocity", "VelocityTracker", "_stillness"),
    ("sensor.engine.velocity", "VelocityTracker", "_integrate"),
    ("sensor.engine.engine", "Engine", "_emit_region"),
)


def stage_times(runs: int, fn: Callable[[], object]) -> dict[str, float]:
    """Each stage's best time (s) over ``runs`` calls of ``fn``: a whole run's time swings
    with the machine, a stage's best much less."""
    spent: dict[str, float] = {}
    saved = []
    for module, cls_name, name in STAGES:
        cls = getattr(importlib.import_module(module), cls_name)
        orig = getattr(cls, name)

        def timed(*a: Any, _orig: Any = orig, _name: str = name, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _orig(*a, **k)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - t0

        setattr(cls, name, timed)
        saved.append((cls, name, orig))
    best: dict[str, float] = {}
    try:
        for _ in range(runs):
            spent.clear()
            fn()
            for k, v in spent.items():
                best[k] = min(best.get(k, math.inf), v)
    finally:
        for cls, name, orig in saved:
            setattr(cls, name, orig)
    return best


def scipy_yardstick(x: FloatArray) -> int:
    sos = butter(4, 5.0, fs=RATE_HZ, output="sos")
    y = sosfiltfilt(sos, x, axis=0)
    norm = np.sqrt((y[:, :3] ** 2).sum(axis=1))
    peaks, _ = find_peaks(norm, distance=int(RATE_HZ))
    return int(peaks.size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds (default 1 h)")
    parser.add_argument("--runs", type=int, default=5, help="best of this many (default 5)")
    parser.add_argument("--seed", type=int, default=500)
    parser.add_argument("--pin", action="store_true", help="also pin the process to one CPU")
    parser.add_argument("--profile", action="store_true", help="cProfile one engine run")
    parser.add_argument("--stages", action="store_true",
                        help="each stage's best time over --runs more runs")
    args = parser.parse_args(argv)

    if args.pin and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})

    t0 = time.perf_counter()
    samples = build_recording(args.duration, args.seed)
    build_s = time.perf_counter() - t0
    n = len(samples)
    if samples.gyro_dps is None:
        raise RuntimeError("the simulated recording has no gyro")
    x = np.ascontiguousarray(np.hstack([samples.acc_g, samples.gyro_dps]))
    print(f"recording: {n} samples, {samples.duration_s / 3600:.2f} h at {RATE_HZ:g} Hz, "
          f"6 axes (simulated in {build_s:.1f} s, not timed)")

    with one_thread() as how:
        print(f"threads: {how}")
        summary = analyze(samples)  # warm-up (imports, caches) and a sanity check
        engine_s = best_of(args.runs, lambda: analyze(samples))
        scipy_s = best_of(args.runs, lambda: scipy_yardstick(x))

        engine_rate = n / engine_s
        scipy_rate = n / scipy_s
        ratio = engine_s / scipy_s
        print(f"engine : {engine_s * 1e3:8.1f} ms  {engine_rate / 1e6:6.2f} M samples/s  "
              f"({len(summary.sets)} sets, {summary.rep_count} reps found)")
        print(f"scipy  : {scipy_s * 1e3:8.1f} ms  {scipy_rate / 1e6:6.2f} M samples/s  "
              "(sosfiltfilt 4th-order Butterworth 5 Hz over (n, 6) + find_peaks on the norm)")
        ok_rate = engine_rate >= TARGET_SAMPLES_PER_S
        ok_ratio = ratio <= TARGET_RATIO
        print(f"ratio  : engine time / scipy time = {ratio:.2f}")
        print(f"targets: >= {TARGET_SAMPLES_PER_S / 1e6:g} M samples/s "
              f"{'met' if ok_rate else 'MISSED'}; ratio <= {TARGET_RATIO:g} "
              f"{'met' if ok_ratio else 'MISSED'} (best of {args.runs})")

        if args.stages:
            best = stage_times(args.runs, lambda: analyze(samples))
            print("stages : " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in best.items())
                  + f" (best of {args.runs} each)")

        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            analyze(samples)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            print(out.getvalue())
    return 0 if ok_rate and ok_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
