"""``hipthrust calibrate``: gyro bias and six-position accelerometer calibration.

``hipthrust calibrate --from FILE [--device NAME]`` computes a profile from a recording of
the procedure (``calibration/README.md``) and stores it for the device. The guided live
procedure is ``CalibrationSession`` driven by ``run_guided`` with the sensor's sample blocks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from sensor.calibration import (
    CalibrationEvent,
    CalibrationFinished,
    CalibrationProfile,
    CalibrationSession,
    PoseRejected,
    StepAccepted,
    StepPrompt,
    calibrate_recording,
    simulate_poses,
)
from sensor.calibration_store import list_profiles, profile_path, save_profile
from sensor.errors import ConfigError
from sensor.recording import read_recording, write_recording
from sensor.samples import Samples


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="calibrate the sensor (gyro bias, accelerometer bias and scale)",
        description=(
            "Six-position calibration: the sensor lies still (gyro bias), then rests with "
            "each of its axes pointing up and down in turn (accelerometer bias and scale). "
            "The profile is stored per device in the user config folder and applied to "
            "that device's data. See calibration/README.md for the procedure."
        ),
    )
    p.add_argument("--from", dest="from_file", metavar="FILE", type=Path,
                   help="compute the profile from a recording of the procedure")
    p.add_argument("--device", metavar="NAME",
                   help="the device the profile is for (default: the recording's "
                        "'device' or 'sensor' metadata)")
    p.add_argument("--model", metavar="MODEL", default=None,
                   help="sensor model, e.g. witmotion-wt901ble (default: from the recording)")
    p.add_argument("-o", "--output", metavar="FILE.json", type=Path,
                   help="write the profile to this file instead of the device's profile")
    p.add_argument("--hold", dest="hold_s", type=float, default=3.0, metavar="S",
                   help="seconds each pose must be held still (default 3)")
    p.add_argument("--still", dest="still_s", type=float, default=10.0, metavar="S",
                   help="seconds of stillness for the gyro bias (default 10)")
    p.add_argument("--list", dest="list_profiles", action="store_true",
                   help="list the stored profiles and exit")
    p.add_argument("--simulate", metavar="OUT.csv", type=Path,
                   help="write a simulated recording of the procedure (a sensor with a "
                        "known error) to try --from without hardware, and exit")
    p.set_defaults(func=run)


def format_event(event: CalibrationEvent) -> str:
    """One terminal line for a step-machine event."""
    match event:
        case StepPrompt(step=step, total=total, text=text):
            return f"[{step}/{total}] {text}"
        case StepAccepted(step=step, pose=pose, check=check):
            what = pose.label if pose is not None else "still period"
            return (f"  ok: {what} ({check.duration_s:.1f} s, {check.acc_sd_g * 1000:.1f} mg "
                    f"rms, {check.tilt_deg:.1f} deg off)" if pose is not None
                    else f"  ok: {what} ({check.duration_s:.1f} s)")
        case PoseRejected(pose=pose, reason=reason):
            what = pose.label if pose is not None else "still period"
            return f"  rejected {what}: {reason}"
        case CalibrationFinished(profile=profile):
            return f"done: profile {profile.profile_id}"
    raise TypeError(event)  # pragma: no cover - the union is exhausted above


def run_guided(
    session: CalibrationSession, blocks: Iterable[Samples], echo: Callable[[str], None] = print
) -> CalibrationProfile | None:
    """Drive the guided procedure with live sample blocks, echoing every step.

    Returns the profile, or None when the blocks end first.
    """
    for event in session.start():
        echo(format_event(event))
    for block in blocks:
        for event in session.feed(block):
            echo(format_event(event))
        if session.profile is not None:
            return session.profile
    return None


def describe(profile: CalibrationProfile) -> str:
    b, s = profile.acc_bias_g, profile.acc_scale
    lines = [
        f"profile {profile.profile_id} for {profile.device}"
        + (f" ({profile.sensor_model})" if profile.sensor_model else ""),
        "  accelerometer bias (mg):  " + "  ".join(f"{x * 1000:+8.2f}" for x in b),
        "  accelerometer scale (%):  " + "  ".join(f"{(x - 1) * 100:+8.3f}" for x in s),
    ]
    if profile.gyro_bias_dps is not None:
        lines.append("  gyro bias (deg/s):        "
                     + "  ".join(f"{x:+8.3f}" for x in profile.gyro_bias_dps))
    if profile.quality:
        lines.append("  quality: " + ", ".join(f"{k}={v:g}" for k, v in profile.quality.items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.hold_s <= 0 or args.still_s <= 0:
        raise ConfigError("--hold and --still must be positive")
    if args.list_profiles:
        found = list_profiles()
        if not found:
            print(f"no stored profiles (folder {profile_path('x').parent})")
        for path, prof in found:
            print(f"{path}: {prof.profile_id if isinstance(prof, CalibrationProfile) else prof}")
        return 0
    if args.simulate is not None:
        samples = simulate_poses((0.03, -0.02, 0.045), (0.985, 1.02, 1.01), (0.8, -1.1, 0.4),
                                 100.0, 1, 0.003, still_s=args.still_s, hold_s=args.hold_s)
        samples = Samples(samples.t_s, samples.acc_g, samples.gyro_dps,
                          {**samples.metadata, "device": "simulated-sensor"})
        write_recording(args.simulate, samples)
        print(f"wrote {args.simulate}: the procedure with acc bias (30, -20, 45) mg, "
              "scale (-1.5, +2.0, +1.0) %, gyro bias (0.8, -1.1, 0.4) deg/s")
        return 0
    if args.from_file is None:
        raise ConfigError(
            "live calibration needs the sensor connection, which this build does not wire "
            "in yet; record the procedure and run: hipthrust calibrate --from FILE --device NAME"
        )
    samples = read_recording(args.from_file)
    device = args.device or samples.metadata.get("device") or samples.metadata.get("sensor")
    if not device:
        raise ConfigError("say which device this calibrates: --device NAME")
    model = args.model if args.model is not None else samples.metadata.get("sensor", "")
    profile = calibrate_recording(samples, device, sensor_model=model,
                                  still_s=args.still_s, hold_s=args.hold_s)
    print(describe(profile))
    if args.output is not None:
        try:
            args.output.write_text(profile.to_json(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
        print(f"wrote {args.output}")
    else:
        print(f"saved {save_profile(profile, device)}")
    return 0
