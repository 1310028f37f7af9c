"""Live ``hipthrust calibrate`` over BLE, end to end against the virtual sensor.

The recording of the procedure (a sensor with a known error) is played by a virtual sensor on
a Bumble link; the real bleak path (scan, ``SensorLink``), the stream decoder and the step
machine recover the error within the tolerances of ``tests/test_calibration.py`` (bias 2 mg,
scale 0.2 %, gyro bias 0.05 deg/s). The ``no_blocking`` fixture (``tests/blocking.py``) fails
an async test on any blocking call in the event loop. Playback is at ``speed=0`` (as fast as
possible).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest
from blockbuster import BlockBuster

from sensor import ble, calibration_store
from sensor.ble_backend_bumble import virtual_radio
from sensor.calibration import (
    PROCEDURE_ORDER,
    CalibrationError,
    CalibrationFinished,
    CalibrationProfile,
    CalibrationSession,
    Pose,
    PoseRejected,
    StepAccepted,
    StepPrompt,
    simulate_poses,
)
from sensor.cli import main
from sensor.commands.calibrate import (
    DEMO_ACC_BIAS_G,
    DEMO_ACC_SCALE,
    DEMO_GYRO_BIAS_DPS,
    format_event,
)
from sensor.device_store import PairedSensor, save_paired
from sensor.events import LinkBack, LinkLost
from sensor.live_calibration import (
    VIRTUAL_NAME,
    LiveEvent,
    calibrate_on_link,
    calibrate_virtual,
    find_paired,
)
from sensor.samples import Samples
from sensor.virtual_sensor import DEFAULT_ADDRESS, VirtualSensor

BIAS_TOL_G = 0.002
SCALE_TOL = 0.002
GYRO_TOL_DPS = 0.05
BIAS = (0.04, -0.03, 0.025)
SCALE = (1.02, 0.975, 1.015)
GYRO_BIAS = (-1.5, 0.7, 2.2)


def assert_recovered(profile: CalibrationProfile, bias: tuple[float, ...],
                     scale: tuple[float, ...], gyro: tuple[float, ...]) -> None:
    np.testing.assert_allclose(profile.acc_bias_g, bias, rtol=0, atol=BIAS_TOL_G)
    np.testing.assert_allclose(profile.acc_scale, scale, rtol=0, atol=SCALE_TOL)
    assert profile.gyro_bias_dps is not None
    np.testing.assert_allclose(profile.gyro_bias_dps, gyro, rtol=0, atol=GYRO_TOL_DPS)


async def test_guided_calibration_over_the_virtual_link(no_blocking: BlockBuster) -> None:
    samples = simulate_poses(BIAS, SCALE, GYRO_BIAS, 100.0, 4, 0.003)
    session = CalibrationSession(VIRTUAL_NAME, sensor_model="hipthrust")
    events: list[LiveEvent] = []
    profile = await calibrate_virtual(samples, session, events.append, speed=0)
    assert_recovered(profile, BIAS, SCALE, GYRO_BIAS)
    assert profile.device == VIRTUAL_NAME
    assert profile.sensor_model == "hipthrust"
    # Connected first, then each prompt followed by its acceptance, in procedure order.
    info = events[0]
    assert isinstance(info, ble.SensorInfo)
    assert (info.name, info.battery_pct, info.has_gyro) == (VIRTUAL_NAME, 87, True)
    steps = [e for e in events[1:] if not isinstance(e, PoseRejected)]
    expected_pose: list[Pose | None] = [None, *PROCEDURE_ORDER]
    assert [type(e) for e in steps] == [StepPrompt, StepAccepted] * 7 + [CalibrationFinished]
    prompts = [e for e in steps if isinstance(e, StepPrompt)]
    assert [(p.step, p.pose) for p in prompts] == list(zip(range(1, 8), expected_pose,
                                                           strict=True))
    accepted = [e for e in steps if isinstance(e, StepAccepted)]
    assert [a.pose for a in accepted] == expected_pose
    last = events[-1]
    assert isinstance(last, CalibrationFinished)
    assert last.profile == profile


async def test_recording_ending_early_names_the_missing_steps(no_blocking: BlockBuster) -> None:
    short = simulate_poses(BIAS, SCALE, GYRO_BIAS, 100.0, 5, 0.003,
                           order=(Pose.Z_UP, Pose.Z_DOWN, Pose.X_UP))
    session = CalibrationSession("dev")
    with pytest.raises(CalibrationError) as info:
        await calibrate_virtual(short, session, lambda _e: None, speed=0)
    message = str(info.value)
    assert message.startswith("calibration incomplete: ")
    assert "\n" not in message
    for pose in (Pose.X_DOWN, Pose.Y_UP, Pose.Y_DOWN):
        assert f"{pose.label}: not found" in message
    assert "-Z up" not in message  # taken before the stream ended
    assert set(session.checks) == {Pose.Z_UP, Pose.Z_DOWN, Pose.X_UP}


async def test_a_link_drop_restarts_the_step_and_the_calibration_completes(
    no_blocking: BlockBuster,
) -> None:
    # Poses held 6 s: +Z up to 19 s, the turn to 21 s, -Z up to 30 s; the link drops at 21.5 s.
    samples = simulate_poses(BIAS, SCALE, GYRO_BIAS, 100.0, 6, 0.003, hold_s=6.0)
    sensor = VirtualSensor(samples, speed=0, name=VIRTUAL_NAME, disconnect_at_s=21.5)
    session = CalibrationSession("dev")
    events: list[LiveEvent] = []
    async with virtual_radio(sensor) as radio:
        found = (await ble.scan(0.3, backend=radio.backend))[0]
        async with ble.SensorLink(found, backend=radio.backend, base_backoff_s=0.05) as link:
            profile = await asyncio.wait_for(calibrate_on_link(link, session, events.append),
                                             20.0)
    assert profile is not None
    assert_recovered(profile, BIAS, SCALE, GYRO_BIAS)
    kinds = [type(e) for e in events]
    lost, back = kinds.index(LinkLost), kinds.index(LinkBack)
    z_down = next(i for i, e in enumerate(events)
                  if isinstance(e, StepAccepted) and e.pose is Pose.Z_DOWN)
    assert lost < back < z_down  # -Z up was taken after the link came back
    back_event = events[back]
    assert isinstance(back_event, LinkBack)
    accepted = events[z_down]
    assert isinstance(accepted, StepAccepted)
    # The -Z up hold was taken from after the restart (resumed > 21.5 s, plus 1 s settling),
    # not across the gap (without the restart: from 1 s after the face turned, about 21 s).
    z_down_window = session.still_blocks[2]
    assert float(z_down_window.t_s[0]) >= 22.5 - 0.01
    assert accepted.check.duration_s == pytest.approx(3.0, abs=0.02)
    assert format_event(back_event).startswith("  link back (")
    assert format_event(events[lost]).startswith("  link lost; reconnecting")


def test_restart_step_forgets_the_samples_under_way() -> None:
    """Known answer: still 10 s needs 11 s of one face; a restart at 6 s needs 11 s more."""
    rng = np.random.default_rng(0)
    n = 2000  # 20 s at 100 Hz, lying still, +Z up
    acc = np.tile([0.0, 0.0, 1.0], (n, 1)) + rng.normal(0, 0.002, (n, 3))
    still = Samples(np.arange(n) / 100.0, acc, rng.normal(0, 0.05, (n, 3)))
    session = CalibrationSession("dev")
    session.start()
    assert session.feed(still.slice(0, 600)) == []
    session.restart_step()
    assert session.feed(still.slice(600, 1600)) == []  # 6 s..16 s: 10 s, short of 1 s + 10 s
    events = session.feed(still.slice(1600, 1800))  # reaches 17 s: accepted at 6 + 11 s
    assert isinstance(events[0], StepAccepted)
    assert events[0].pose is None
    assert session.still_done
    # Without the restart the same samples are accepted at 11 s.
    plain = CalibrationSession("dev")
    plain.start()
    assert any(isinstance(e, StepAccepted) for e in plain.feed(still.slice(0, 1200)))


async def test_find_paired_names_a_missing_sensor(no_blocking: BlockBuster) -> None:
    sensor = VirtualSensor(simulate_poses(), speed=0)
    async with virtual_radio(sensor) as radio:
        paired = PairedSensor(DEFAULT_ADDRESS.lower(), sensor.name, "hipthrust")
        here = await find_paired(paired, 0.3, radio.backend)
        assert here.name == sensor.name
        with pytest.raises(ble.BleError, match=r"paired sensor gone \(AA:BB:CC:DD:EE:FF\) "
                                                r"not found in 0\.3 s"):
            await find_paired(PairedSensor("AA:BB:CC:DD:EE:FF", "gone", "hipthrust"), 0.3,
                              radio.backend)


# -- the command (synchronous: it runs its own event loop) ----------------------------------


def test_calibrate_virtual_command_prints_the_steps_and_saves_the_profile(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--virtual", "--speed", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"connected to {VIRTUAL_NAME} (hipthrust, battery 87 %)"
    prompts = [line for line in out if re.match(r"\[\d/7\] ", line)]
    assert [p[:5] for p in prompts] == [f"[{i}/7]" for i in range(1, 8)]
    assert prompts[1].startswith("[2/7] +Z up: lay it flat")
    assert sum(line.startswith("  ok: ") for line in out) == 7
    stored = calibration_store.load_profile(VIRTUAL_NAME)
    assert stored is not None
    assert_recovered(stored, DEMO_ACC_BIAS_G, DEMO_ACC_SCALE, DEMO_GYRO_BIAS_DPS)
    assert out[-1] == f"saved {calibration_store.profile_path(VIRTUAL_NAME)}"
    assert f"done: profile {stored.profile_id}" in out


def test_calibrate_command_errors_are_one_line(
    config_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate"]) == 2  # nothing paired
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no paired sensor: run hipthrust pair first" in err
    assert main(["calibrate", "--virtual", "--from", str(tmp_path / "x.csv")]) == 2
    assert "do not go together" in capsys.readouterr().err
    assert main(["calibrate", "--virtual", "--speed", "-1"]) == 2
    assert "--speed" in capsys.readouterr().err
    # A paired sensor that is not around: the scan gives up with one line (no adapter here
    # either way: the error is Bluetooth being unavailable or the sensor not being found).
    save_paired(PairedSensor("AA:BB:CC:DD:EE:FF", "hipthrust-EEFF", "hipthrust"))
    assert main(["calibrate", "--timeout", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hipthrust: ")
    assert ("not found in 0.2 s" in err) or ("Bluetooth is not available" in err)
    assert calibration_store.load_profile("hipthrust-EEFF") is None
