"""``hipthrust simulate OUT.csv --truth OUT.json``: a realistic session with its ground truth."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from sensor.errors import HipthrustError
from sensor.recording import write_recording
from sensor.simulate import Lift, SimConfig, random_config, simulate_session
from sensor.summary import Leg, Mount


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="simulate a session: recording + ground truth",
                       description=__doc__)
    p.add_argument("out", help="recording to write (CSV)")
    p.add_argument("--truth", metavar="FILE", help="ground truth to write (JSON)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--mount", choices=[m.value for m in Mount])
    p.add_argument("--lift", choices=[x.value for x in Lift])
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate, 12.5-400 Hz")
    gyro = p.add_mutually_exclusive_group()
    gyro.add_argument("--gyro", dest="gyro", action="store_true", default=None)
    gyro.add_argument("--no-gyro", dest="gyro", action="store_false")
    p.add_argument("--sets", type=int, metavar="N", help="number of sets")
    p.add_argument("--reps", type=int, metavar="N", help="reps per set")
    p.add_argument("--first-leg", choices=["left", "right"])
    p.add_argument("--pause", type=float, metavar="S", help="pause-rep target at lockout")
    p.add_argument("--weak-leg", choices=["left", "right", "none"])
    p.add_argument("--no-nuisances", action="store_true",
                   help="no setup, walking or re-racking between sets")
    p.add_argument("--drop-rate", type=float, metavar="P", help="fraction of packets lost")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    cfg = random_config(args.seed)
    changes: dict[str, Any] = {}
    if args.mount:
        changes["mount"] = Mount(args.mount)
    if args.lift:
        changes["lift"] = Lift(args.lift)
        if changes["lift"] is not Lift.HIP_THRUST:
            changes["mount"] = Mount.BAR
    if args.rate is not None:
        if not 12.5 <= args.rate <= 400:
            raise HipthrustError(f"--rate {args.rate:g}: must be within 12.5-400 Hz")
        changes["rate_hz"] = args.rate
    if args.gyro is not None:
        changes["with_gyro"] = args.gyro
    if args.sets is not None:
        changes["n_sets"] = max(1, args.sets)
    if args.reps is not None:
        changes["reps_per_set"] = (max(1, args.reps),)
    elif args.sets is not None:
        changes["reps_per_set"] = cfg.reps_per_set * (1 + args.sets // len(cfg.reps_per_set))
    if args.first_leg:
        changes["first_leg"] = Leg(args.first_leg)
    if args.pause is not None:
        changes["pause_s"] = args.pause
    if args.weak_leg:
        changes["weak_leg"] = None if args.weak_leg == "none" else Leg(args.weak_leg)
        if changes["weak_leg"] is not None and not cfg.weak_factors:
            changes["weak_factors"] = {"concentric_s": 1.4}
    if args.no_nuisances:
        changes["nuisances"] = False
    if args.drop_rate is not None:
        changes["drop_rate"] = args.drop_rate
    return replace(cfg, **changes)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    samples, truth = simulate_session(config=cfg)
    try:
        write_recording(args.out, samples)
        if args.truth:
            Path(args.truth).write_text(json.dumps(truth, indent=2, default=float) + "\n")
    except OSError as exc:
        raise HipthrustError(f"cannot write: {exc}") from None
    n_reps = sum(s["rep_count"] for s in truth["sets"])
    print(
        f"wrote {args.out}: {len(samples)} samples, {samples.duration_s:.0f} s, "
        f"{cfg.mount.value} mount, {cfg.lift.value}, {cfg.rate_hz:g} Hz, "
        f"{'gyro' if cfg.with_gyro else 'no gyro'}, {len(truth['sets'])} sets, {n_reps} reps"
    )
    return 0
