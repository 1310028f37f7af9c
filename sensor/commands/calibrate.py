"""``hipthrust calibrate``: gyro bias and six-position accelerometer calibration.

``hipthrust calibrate`` guides the procedure (``calibration/README.md``) live with the paired
sensor over Bluetooth LE (``sensor.live_calibration``), printing each step as the step
machine (``CalibrationSession``) emits it; ``--virtual`` does the same with a simulated
sensor on a virtual link. ``hipthrust calibrate --from FILE`` computes the profile from a
recording of the procedure instead. Either way the profile is stored for the device.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path

from sensor.ble import SensorInfo
from sensor.calibration import (
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
from sensor.decode import SensorModel
from sensor.device_store import load_paired
from sensor.errors import ConfigError, one_line_os_error
from sensor.events import LinkBack, LinkLost
from sensor.live_calibration import (
    VIRTUAL_NAME,
    LiveEvent,
    calibrate_sensor,
    calibrate_virtual,
    find_paired,
)
from sensor.recording import read_recording, write_recording
from sensor.samples import Samples

DEMO_ACC_BIAS_G = (0.03, -0.02, 0.045)
DEMO_ACC_SCALE = (0.985, 1.02, 1.01)
DEMO_GYRO_BIAS_DPS = (0.8, -1.1, 0.4)
DEMO_ERROR_TEXT = ("acc bias (30, -20, 45) mg, scale (-1.5, +2.0, +1.0) %, "
                   "gyro bias (0.8, -1.1, 0.4) deg/s")
"""The known error of the simulated sensor of ``--simulate`` and ``--virtual``."""
DEFAULT_SCAN_S = 5.0
DEFAULT_VIRTUAL_SPEED = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="calibrate the sensor (gyro bias, accelerometer bias and scale)",
        description=(
            "Six-position calibration: the sensor lies still (gyro bias), then rests with "
            "each of its axes pointing up and down in turn (accelerometer bias and scale). "
            "Without --from it guides you live with the paired sensor (--virtual: a "
            "simulated one). The profile is stored per device in the user config folder; "
            "analyze and report apply it with --calibration DEVICE. See "
            "calibration/README.md for the procedure."
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
    p.add_argument("--virtual", action="store_true",
                   help="run the guided procedure with a simulated sensor (a known error) "
                        f"over a virtual Bluetooth link; its profile is stored as "
                        f"{VIRTUAL_NAME}")
    p.add_argument("--speed", type=float, default=DEFAULT_VIRTUAL_SPEED, metavar="X",
                   help="--virtual playback speed: 1 = real time, 0 = as fast as possible "
                        f"(default {DEFAULT_VIRTUAL_SPEED:g})")
    p.add_argument("--timeout", dest="timeout_s", type=float, default=DEFAULT_SCAN_S,
                   metavar="S", help="seconds to look for the paired sensor "
                                     f"(default {DEFAULT_SCAN_S:g})")
    p.set_defaults(func=run)


def format_event(event: LiveEvent) -> str:
    """One terminal line for a step-machine or link event."""
    match event:
        case SensorInfo(name=name, model=model, battery_pct=battery):
            power = f", battery {battery} %" if battery is not None else ""
            return f"connected to {name} ({model}{power})"
        case LinkLost():
            return "  link lost; reconnecting (the step under way starts again)"
        case LinkBack(lost_packets=lost):
            return f"  link back ({lost} packets lost)"
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
        write_recording(args.simulate, demo_samples(args.still_s, args.hold_s))
        print(f"wrote {args.simulate}: the procedure with {DEMO_ERROR_TEXT}")
        return 0
    if args.from_file is not None and args.virtual:
        raise ConfigError("--from and --virtual do not go together")
    if args.from_file is not None:
        profile, device = _from_recording(args)
    else:
        profile, device = _live(args)
    print(describe(profile))
    if args.output is not None:
        with one_line_os_error(args.output, "write", ConfigError):
            args.output.write_text(profile.to_json(), encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(f"saved {save_profile(profile, device)}")
    return 0


def demo_samples(still_s: float = 10.0, hold_s: float = 3.0, rate_hz: float = 100.0) -> Samples:
    """A recording of the procedure by a sensor with the known ``DEMO_*`` error."""
    samples = simulate_poses(DEMO_ACC_BIAS_G, DEMO_ACC_SCALE, DEMO_GYRO_BIAS_DPS, rate_hz, 1,
                             0.003, still_s=still_s, hold_s=hold_s)
    return Samples(samples.t_s, samples.acc_g, samples.gyro_dps,
                   {**samples.metadata, "device": "simulated-sensor"})


def _from_recording(args: argparse.Namespace) -> tuple[CalibrationProfile, str]:
    samples = read_recording(args.from_file)
    device = args.device or samples.metadata.get("device") or samples.metadata.get("sensor")
    if not device:
        raise ConfigError("say which device this calibrates: --device NAME")
    model = args.model if args.model is not None else samples.metadata.get("sensor", "")
    profile = calibrate_recording(samples, device, sensor_model=model,
                                  still_s=args.still_s, hold_s=args.hold_s)
    return profile, device


def _live(args: argparse.Namespace) -> tuple[CalibrationProfile, str]:
    """The guided procedure over BLE: the paired sensor, or the virtual one."""

    def echo(event: LiveEvent) -> None:
        print(format_event(event), flush=True)

    if args.virtual:
        if args.speed < 0:
            raise ConfigError("--speed must be 0 (as fast as possible) or more")
        device = args.device or VIRTUAL_NAME
        model = args.model if args.model is not None else str(SensorModel.HIPTHRUST)
        session = CalibrationSession(device, sensor_model=model, still_s=args.still_s,
                                     hold_s=args.hold_s)
        samples = demo_samples(args.still_s, args.hold_s)
        print(f"virtual sensor with {DEMO_ERROR_TEXT}; playing at "
              + (f"{args.speed:g}x real time" if args.speed > 0 else "full speed"))
        return asyncio.run(calibrate_virtual(samples, session, echo, speed=args.speed)), device
    if args.timeout_s <= 0:
        raise ConfigError("--timeout must be positive")
    paired = load_paired()
    if paired is None:
        raise ConfigError(
            "no paired sensor: run hipthrust pair first, calibrate from a recording with "
            "hipthrust calibrate --from FILE --device NAME, or try --virtual")
    device = args.device or paired.name or paired.address
    model = args.model if args.model is not None else paired.model
    session = CalibrationSession(device, sensor_model=model, still_s=args.still_s,
                                 hold_s=args.hold_s)

    async def go() -> CalibrationProfile:
        print(f"looking for {paired.name or paired.address}...", flush=True)
        found = await find_paired(paired, args.timeout_s)
        return await calibrate_sensor(found, session, echo)

    return asyncio.run(go()), device
