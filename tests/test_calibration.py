"""Calibration: known biases and scales are recovered, bad poses are rejected with a reason.

Tolerances (stated here and in calibration/README.md): from a recording of the procedure
with biases up to 50 mg, scale errors up to 3 %, poses up to 3 deg off flat and 2-5 mg of
noise, the accelerometer bias is recovered within 2 mg, the scale within 0.2 % and the gyro
bias within 0.05 deg/s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor import calibration_store
from sensor.calibration import (
    METADATA_KEY,
    PROCEDURE_ORDER,
    UNCALIBRATED,
    CalibrationError,
    CalibrationFinished,
    CalibrationProfile,
    CalibrationSession,
    Pose,
    PoseRejected,
    StepAccepted,
    StepPrompt,
    calibrate_recording,
    calibration_metadata,
    check_pose,
    fit_accelerometer,
    gyro_bias_from_still,
    simulate_poses,
    slug,
)
from sensor.cli import main
from sensor.commands.calibrate import run_guided
from sensor.engine import AnalysisOptions, analyze
from sensor.recording import write_recording
from sensor.samples import Samples
from sensor.simulate import simulate_session
from sensor.summary import PHASE_METRICS, Mount, SessionSummary

REPO = Path(__file__).resolve().parent.parent
BIAS_TOL_G = 0.002
SCALE_TOL = 0.002
GYRO_TOL_DPS = 0.05


def _assert_recovered(profile: CalibrationProfile, bias: np.ndarray, scale: np.ndarray,
                      gyro: np.ndarray | None) -> None:
    np.testing.assert_allclose(profile.acc_bias_g, bias, rtol=0, atol=BIAS_TOL_G)
    np.testing.assert_allclose(profile.acc_scale, scale, rtol=0, atol=SCALE_TOL)
    if gyro is None:
        assert profile.gyro_bias_dps is None
    else:
        assert profile.gyro_bias_dps is not None
        np.testing.assert_allclose(profile.gyro_bias_dps, gyro, rtol=0, atol=GYRO_TOL_DPS)


@pytest.mark.parametrize(("seed", "rate_hz", "noise_g"),
                         [(1, 100.0, 0.002), (2, 25.0, 0.003), (3, 400.0, 0.005),
                          (4, 12.5, 0.002), (5, 52.0, 0.004)])
def test_recording_of_the_procedure_recovers_bias_and_scale(
    seed: int, rate_hz: float, noise_g: float
) -> None:
    rng = np.random.default_rng(seed)
    bias = rng.uniform(-0.05, 0.05, 3)
    scale = rng.uniform(0.97, 1.03, 3)
    gyro = rng.uniform(-2.0, 2.0, 3)
    samples = simulate_poses(bias, scale, gyro, rate_hz, seed, noise_g, tilt_deg_max=3.0)
    profile = calibrate_recording(samples, "dev-1", sensor_model="test-model")
    _assert_recovered(profile, bias, scale, gyro)
    assert profile.device == "dev-1"
    assert profile.sensor_model == "test-model"
    assert profile.profile_id.startswith("dev-1-")
    assert profile.quality["max_acc_sd_mg"] < 10


def test_extreme_corners_of_the_stated_range() -> None:
    for bias, scale in (((0.05, -0.05, 0.05), (0.97, 1.03, 0.97)),
                        ((-0.05, 0.05, -0.05), (1.03, 0.97, 1.03))):
        samples = simulate_poses(bias, scale, (5.0, -5.0, 0.0), 100.0, 9, 0.003,
                                 tilt_deg_max=3.0)
        _assert_recovered(calibrate_recording(samples, "d"), np.array(bias), np.array(scale),
                          np.array((5.0, -5.0, 0.0)))


def test_sensor_without_gyro() -> None:
    samples = simulate_poses((0.02, 0.01, -0.03), (1.01, 0.99, 1.0), None, 50.0, 3, 0.002)
    assert samples.gyro_dps is None
    profile = calibrate_recording(samples, "accel-only")
    _assert_recovered(profile, np.array((0.02, 0.01, -0.03)), np.array((1.01, 0.99, 1.0)), None)
    assert profile.apply(samples).gyro_dps is None


def test_poses_in_any_order() -> None:
    order = (Pose.Y_DOWN, Pose.X_UP, Pose.Z_DOWN, Pose.Y_UP, Pose.Z_UP, Pose.X_DOWN)
    samples = simulate_poses((0.01, 0.02, 0.03), (0.98, 1.0, 1.02), (1.0, 0.0, -1.0), 100.0,
                             4, 0.002, order=order)
    _assert_recovered(calibrate_recording(samples, "d"), np.array((0.01, 0.02, 0.03)),
                      np.array((0.98, 1.0, 1.02)), np.array((1.0, 0.0, -1.0)))


def test_fit_is_exact_on_noise_free_tilted_poses() -> None:
    bias = np.array([0.04, -0.03, 0.02])
    scale = np.array([0.975, 1.025, 1.01])
    rng = np.random.default_rng(0)
    means = {}
    for pose in Pose:
        direction = pose.up_vector + rng.uniform(-0.06, 0.06, 3)  # a few degrees off
        direction /= np.linalg.norm(direction)
        means[pose] = scale * direction + bias
    fit = fit_accelerometer(means)
    np.testing.assert_allclose(fit.bias_g, bias, atol=1e-9)
    np.testing.assert_allclose(fit.scale, scale, atol=1e-9)
    assert fit.residual_mg < 1e-6


def test_fit_refuses_missing_or_swapped_poses() -> None:
    means = {p: p.up_vector for p in Pose}
    del means[Pose.X_DOWN]
    with pytest.raises(CalibrationError, match=r"missing poses: -X up"):
        fit_accelerometer(means)
    swapped = {p: p.up_vector for p in Pose}
    swapped[Pose.Z_UP], swapped[Pose.Z_DOWN] = swapped[Pose.Z_DOWN], swapped[Pose.Z_UP]
    with pytest.raises(CalibrationError, match="right way round"):
        fit_accelerometer(swapped)
    halved = {p: 0.5 * p.up_vector for p in Pose}  # a 2 g / 4 g full-scale mix-up
    with pytest.raises(CalibrationError, match="implausible"):
        fit_accelerometer(halved)


# --- bad poses --------------------------------------------------------------------------


def test_a_moved_pose_is_rejected_with_its_reason() -> None:
    samples = simulate_poses((0.01, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), 100.0, 5,
                             0.002, moved={Pose.X_UP})
    with pytest.raises(CalibrationError, match=r"\+X up: moved: acceleration varied") as exc:
        calibrate_recording(samples, "d")
    # Only that pose is at fault.
    assert "-X up" not in str(exc.value)
    assert "Z up" not in str(exc.value)


def test_a_tilted_pose_is_rejected_with_its_reason() -> None:
    samples = simulate_poses((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), 100.0, 6,
                             0.002, tilt_deg={Pose.Y_DOWN: 20.0})
    with pytest.raises(CalibrationError, match=r"-Y up: not flat: 20\.\d deg from -Y up "
                                               r"\(limit 10 deg\)"):
        calibrate_recording(samples, "d")


def test_a_pose_never_held_is_named() -> None:
    order = tuple(p for p in PROCEDURE_ORDER if p is not Pose.Y_UP)
    samples = simulate_poses((0.0,) * 3, (1.0,) * 3, (0.0,) * 3, 100.0, 7, 0.002, order=order)
    with pytest.raises(CalibrationError, match=r"\+Y up: not found"):
        calibrate_recording(samples, "d")


def test_check_pose_reasons() -> None:
    t = np.arange(300) / 100.0
    still = np.tile([0.0, 0.0, 1.0], (300, 1)) + np.random.default_rng(1).normal(0, 0.002,
                                                                                  (300, 3))
    ok = check_pose(Samples(t, still, np.zeros((300, 3))), Pose.Z_UP)
    assert ok.ok
    assert ok.tilt_deg < 1.0
    wrong = check_pose(Samples(t, still), Pose.X_UP)
    assert wrong.reason == "wrong face: reads +Z up, expected +X up"
    shaking = still.copy()
    shaking[:, 0] += 0.05 * np.sin(2 * np.pi * 2 * t)
    moved = check_pose(Samples(t, shaking), Pose.Z_UP)
    assert moved.reason is not None
    assert moved.reason.startswith("moved: acceleration varied by 35 mg rms (limit 10 mg)")
    turning = check_pose(Samples(t, still, np.tile([0.0, 0.0, 5.0], (300, 1))
                                 + np.sin(2 * np.pi * t)[:, None] * 3), Pose.Z_UP)
    assert turning.reason is not None
    assert "rotation by" in turning.reason
    assert check_pose(Samples(t[:1], still[:1]), Pose.Z_UP).reason == "too few samples"


def test_gyro_bias_from_a_still_period() -> None:
    n = 1000
    rng = np.random.default_rng(2)
    acc = np.tile([0.0, 1.0, 0.0], (n, 1)) + rng.normal(0, 0.002, (n, 3))
    gyro = np.array([0.7, -1.3, 2.1]) + rng.normal(0, 0.1, (n, 3))
    t = np.arange(n) / 100.0
    np.testing.assert_allclose(gyro_bias_from_still(Samples(t, acc, gyro)), [0.7, -1.3, 2.1],
                               atol=0.02)
    gyro[500:600] += 30.0  # picked up for a second
    with pytest.raises(CalibrationError, match="still period: moved"):
        gyro_bias_from_still(Samples(t, acc, gyro))
    with pytest.raises(CalibrationError, match="no gyroscope"):
        gyro_bias_from_still(Samples(t, acc))


# --- the guided step machine ---------------------------------------------------------------


def test_guided_session_prompts_step_by_step() -> None:
    samples = simulate_poses((0.02, -0.01, 0.03), (1.01, 0.99, 1.0), (0.5, 0.5, -0.5), 50.0, 8,
                             0.002)
    session = CalibrationSession("dev", created_utc="2025-01-01T00:00:00Z")
    events = session.start()
    assert events == [session.prompt()]
    first = events[0]
    assert isinstance(first, StepPrompt)
    assert (first.step, first.total, first.pose) == (1, 7, None)
    assert "do not touch" in first.text
    for block in samples.chunks(7):  # odd block sizes, as from BLE packets
        events.extend(session.feed(block))
    prompts = [e for e in events if isinstance(e, StepPrompt)]
    accepted = [e for e in events if isinstance(e, StepAccepted)]
    assert [p.pose for p in prompts] == [None, *PROCEDURE_ORDER]
    assert [p.step for p in prompts] == list(range(1, 8))
    assert "+X up: stand it on its edge" in prompts[3].text
    assert [a.pose for a in accepted] == [None, *PROCEDURE_ORDER]
    assert not any(isinstance(e, PoseRejected) for e in events)
    assert isinstance(events[-1], CalibrationFinished)
    assert session.done
    assert events[-1].profile is session.profile
    assert session.profile is not None
    assert session.profile.created_utc == "2025-01-01T00:00:00Z"
    assert session.feed(samples.slice(0, 10)) == []  # finished: further data is ignored


def test_guided_session_reports_a_moved_pose_once_then_accepts_it_when_still() -> None:
    bad = simulate_poses((0.0,) * 3, (1.0,) * 3, (0.0,) * 3, 100.0, 9, 0.002,
                         order=(Pose.Z_UP, Pose.Z_DOWN), moved={Pose.Z_DOWN})
    good = simulate_poses((0.0,) * 3, (1.0,) * 3, (0.0,) * 3, 100.0, 9, 0.002, still_s=0.0,
                          order=(Pose.Z_DOWN, *PROCEDURE_ORDER[2:]))
    good = Samples(good.t_s + bad.t_s[-1] + 0.01, good.acc_g, good.gyro_dps, good.metadata)
    session = CalibrationSession("dev")
    events = session.start()
    for block in [*bad.chunks(25), *good.chunks(25)]:
        events.extend(session.feed(block))
    rejected = [e for e in events if isinstance(e, PoseRejected)]
    assert len(rejected) == 1
    assert rejected[0].pose is Pose.Z_DOWN
    assert rejected[0].reason.startswith("moved: ")
    assert session.done


# --- profiles -------------------------------------------------------------------------------


def _profile() -> CalibrationProfile:
    return CalibrationProfile(
        profile_id="xiao-1a2b-0123abcd", device="xiao 1A:2B", acc_bias_g=(0.01, -0.02, 0.03),
        acc_scale=(0.99, 1.01, 1.02), gyro_bias_dps=(0.5, -0.25, 1.0), sensor_model="m",
        created_utc="2025-01-01T00:00:00Z", quality={"residual_mg": 0.1}, notes="n")


def test_apply_undoes_the_sensor_error_and_names_the_profile() -> None:
    rng = np.random.default_rng(3)
    true_acc = rng.normal(0, 1, (50, 3))
    true_gyro = rng.normal(0, 50, (50, 3))
    p = _profile()
    raw = Samples(np.arange(50) / 50.0,
                  true_acc * np.array(p.acc_scale) + np.array(p.acc_bias_g),
                  true_gyro + np.array(p.gyro_bias_dps), {"sensor": "x"})
    fixed = p.apply(raw)
    np.testing.assert_allclose(fixed.acc_g, true_acc, atol=1e-12)
    assert fixed.gyro_dps is not None
    np.testing.assert_allclose(fixed.gyro_dps, true_gyro, atol=1e-12)
    assert fixed.metadata == {"sensor": "x", METADATA_KEY: "xiao-1a2b-0123abcd"}
    assert raw.metadata == {"sensor": "x"}  # the input is left alone
    with pytest.raises(CalibrationError, match="already calibrated with profile xiao-1a2b"):
        p.apply(fixed)
    marked_raw = Samples(raw.t_s, raw.acc_g, raw.gyro_dps, {METADATA_KEY: UNCALIBRATED})
    assert p.apply(marked_raw).metadata[METADATA_KEY] == p.profile_id


def test_metadata_convention() -> None:
    assert calibration_metadata(None) == {"calibration": "none"}
    assert calibration_metadata(_profile()) == {"calibration": "xiao-1a2b-0123abcd"}


def test_profile_json_round_trip() -> None:
    p = _profile()
    doc = json.loads(p.to_json())
    assert doc["schema"] == "hipthrust.calibration"
    assert doc["id"] == p.profile_id
    assert CalibrationProfile.from_json(p.to_json()) == p


@pytest.mark.parametrize(("change", "message"), [
    ({"schema": "x"}, "schema"),
    ({"version": 2}, "version"),
    ({"id": ""}, "id must be"),
    ({"id": "has space"}, "bad profile id"),
    ({"acc_bias_g": [0, 0]}, "acc_bias_g must be a list of three numbers"),
    ({"acc_scale": [1, 1, "1"]}, "acc_scale must be"),
    ({"acc_scale": [1, 0, 1]}, "scales must be positive"),
    ({"gyro_bias_dps": [1, True, 1]}, "gyro_bias_dps must be"),
    ({"quality": []}, "quality"),
])
def test_bad_profiles_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    doc = _profile().to_dict() | change
    with pytest.raises(CalibrationError, match=message):
        CalibrationProfile.from_dict(doc)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=200),
                 st.dictionaries(st.sampled_from(["schema", "version", "id", "device",
                                                  "acc_bias_g", "acc_scale", "quality"]),
                                 st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                           st.lists(st.floats(), max_size=4)))
                 .map(lambda d: json.dumps({"schema": "hipthrust.calibration", "version": 1}
                                           | d))))
def test_garbage_profiles_raise_only_calibration_error(text: str) -> None:
    with contextlib.suppress(CalibrationError):
        CalibrationProfile.from_json(text)


def test_slug() -> None:
    assert slug("AA:BB:CC:DD:EE:FF") == "AA-BB-CC-DD-EE-FF"
    assert slug(" hipthrust 1a2b ") == "hipthrust-1a2b"
    assert slug("../..") == "sensor"


# --- the store ------------------------------------------------------------------------------


def test_store_saves_per_device_under_xdg_config_home(config_home: Path) -> None:
    p = _profile()
    assert calibration_store.load_profile(p.device) is None
    path = calibration_store.save_profile(p)
    assert path == config_home / "hipthrust" / "calibration" / "xiao-1A-2B.json"
    assert calibration_store.load_profile("xiao 1A:2B") == p
    other = CalibrationProfile(profile_id="other-1", device="other")
    calibration_store.save_profile(other)
    listed = calibration_store.list_profiles()
    assert [(q.name, r) for q, r in listed] == [("other.json", other), ("xiao-1A-2B.json", p)]
    assert sorted(os.listdir(path.parent)) == ["other.json", "xiao-1A-2B.json"]  # no temp files


def test_store_names_a_corrupt_file(config_home: Path) -> None:
    path = calibration_store.profile_path("broken")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match=r"broken\.json: not JSON"):
        calibration_store.load_profile("broken")
    listed = calibration_store.list_profiles()
    assert len(listed) == 1
    assert isinstance(listed[0][1], str)


def test_default_profiles_in_the_repo_parse() -> None:
    folder = REPO / "calibration" / "profiles"
    names = sorted(p.name for p in folder.glob("*.json"))
    assert names == ["hipthrust-xiao-nrf52840-sense.json", "witmotion-wt901ble.json"]
    for path in folder.glob("*.json"):
        p = calibration_store.read_profile_file(path)
        assert p.sensor_model == path.stem
        assert p.acc_bias_g == (0.0, 0.0, 0.0)
        assert p.acc_scale == (1.0, 1.0, 1.0)
        assert "datasheet" in p.notes.lower()


# --- the command ----------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    return main(argv)


def test_calibrate_from_a_file_saves_the_profile(
    config_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "poses.csv"
    assert _cli(["calibrate", "--simulate", str(rec)]) == 0
    assert _cli(["calibrate", "--from", str(rec), "--device", "bench-sensor"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"accelerometer bias \(mg\): +\+(29\.9|30\.0)\d +-(19\.9|20\.0)\d", out)
    stored = calibration_store.load_profile("bench-sensor")
    assert stored is not None
    _assert_recovered(stored, np.array((0.03, -0.02, 0.045)), np.array((0.985, 1.02, 1.01)),
                      np.array((0.8, -1.1, 0.4)))
    assert f"saved {calibration_store.profile_path('bench-sensor')}" in out
    # --output writes elsewhere and leaves the store alone
    target = tmp_path / "p.json"
    assert _cli(["calibrate", "--from", str(rec), "--device", "x", "-o", str(target)]) == 0
    assert CalibrationProfile.from_json(target.read_text()).device == "x"
    assert calibration_store.load_profile("x") is None


def test_calibrate_errors_are_one_line(
    config_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "tilted.csv"
    write_recording(rec, simulate_poses((0.0,) * 3, (1.0,) * 3, (0.0,) * 3, 100.0, 1, 0.002,
                                        tilt_deg={Pose.X_DOWN: 25.0}))
    assert _cli(["calibrate", "--from", str(rec), "--device", "d"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "-X up: not flat: 25." in err
    assert calibration_store.load_profile("d") is None
    assert _cli(["calibrate", "--from", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert _cli(["calibrate"]) == 2
    assert "--from FILE" in capsys.readouterr().err


def test_calibrate_list(config_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["calibrate", "--list"]) == 0
    assert "no stored profiles" in capsys.readouterr().out
    calibration_store.save_profile(_profile())
    assert _cli(["calibrate", "--list"]) == 0
    assert "xiao-1a2b-0123abcd" in capsys.readouterr().out


# --- calibration makes the analysis no less accurate -------------------------------------
# Uses the lead's simulator and engine (sensor.simulate.simulate_session, sensor.engine.analyze).


def _phase_errors(summary: object, truth: dict[str, object]) -> tuple[list[float], int]:
    """Absolute phase-duration errors of reps matched by start time, and exact-count sets."""
    assert isinstance(summary, SessionSummary)
    true_sets = truth["sets"]
    assert isinstance(true_sets, list)
    true_reps = [r for s in true_sets for r in s["reps"]]
    found = [r for s in summary.sets for r in s.reps]
    errors: list[float] = []
    for tr in true_reps:
        best = min(found, key=lambda r: abs(r.t_start - tr["t_start"]), default=None)
        if best is None or abs(best.t_start - tr["t_start"]) > 1.0:
            errors.extend([math.inf] * 3)  # a missed rep counts as a huge error
            continue
        errors.extend(abs(best.metric(m) - float(tr[m])) for m in PHASE_METRICS)
    exact = sum(1 for a, b in zip(summary.sets, true_sets, strict=False)
                if a.rep_count == b["rep_count"]) - abs(len(summary.sets) - len(true_sets))
    return errors, exact


@pytest.mark.parametrize("seed", [11, 13, 14])
def test_analysis_is_no_less_accurate_once_calibrated(seed: int) -> None:
    ideal, truth = simulate_session(seed, bias_g=0.0, scale_err=0.0, gyro_bias_dps=0.0,
                                    mount=Mount.HIP,
                                    with_gyro=True)
    bias = np.array([0.05, -0.04, 0.03])
    scale = np.array([0.97, 1.03, 1.02])
    gyro_bias = np.array([1.5, -2.0, 1.0])
    assert ideal.gyro_dps is not None
    raw = Samples(ideal.t_s, ideal.acc_g * scale + bias, ideal.gyro_dps + gyro_bias,
                  ideal.metadata)
    profile = calibrate_recording(simulate_poses(bias, scale, gyro_bias, 100.0, seed, 0.004),
                                  "sim")
    fixed = profile.apply(raw)
    pause = truth.get("pause_s")
    options = AnalysisOptions(pause_s=float(pause) if isinstance(pause, int | float) else None)
    err_raw, exact_raw = _phase_errors(analyze(raw, options), truth)
    err_fixed, exact_fixed = _phase_errors(analyze(fixed, options), truth)
    err_ideal, exact_ideal = _phase_errors(analyze(ideal, options), truth)
    assert exact_fixed >= exact_raw
    assert float(np.median(err_fixed)) <= float(np.median(err_raw)) + 0.01
    # The calibrated data is as good as a perfect sensor's.
    assert exact_fixed >= exact_ideal
    assert float(np.median(err_fixed)) <= float(np.median(err_ideal)) + 0.01


def test_run_guided_echoes_every_step() -> None:
    error = ((0.01, 0.0, -0.01), (1.0, 1.01, 0.99), (0.2, 0.0, 0.0), 100.0, 2, 0.002)
    bad = simulate_poses(*error, moved={Pose.Y_UP})
    again = simulate_poses(*error, still_s=0.0, order=(Pose.Y_DOWN, Pose.Y_UP))
    samples = Samples.concat([bad, Samples(again.t_s + bad.t_s[-1] + 0.01, again.acc_g,
                                           again.gyro_dps)])
    lines: list[str] = []
    profile = run_guided(CalibrationSession("dev"), samples.chunks(10), lines.append)
    assert profile is not None
    assert lines[0].startswith("[1/7] Gyro bias: lay the sensor on a table")
    assert "  ok: still period (10.0 s)" in lines
    assert any(line.startswith("  rejected +Y up: moved: ") for line in lines)
    assert any(line.startswith("  ok: +Y up (3.0 s, ") for line in lines)
    assert lines[-1] == f"done: profile {profile.profile_id}"
    # The blocks ending before the last pose: no profile.
    assert run_guided(CalibrationSession("dev"), samples.slice(0, 3000).chunks(10),
                      lines.append) is None


def test_calibrate_takes_the_device_from_the_recording(
    config_home: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "poses.csv"
    assert _cli(["calibrate", "--simulate", str(rec)]) == 0
    assert "# device=simulated-sensor" in rec.read_text()
    assert _cli(["calibrate", "--from", str(rec)]) == 0
    stored = calibration_store.load_profile("simulated-sensor")
    assert stored is not None
    assert stored.sensor_model == "simulated"
