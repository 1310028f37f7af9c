"""``--calibration DEVICE|PATH|none`` on recorded data: analyze_file, analyze and report.

Default is no calibration; a named profile corrects the data before the engine; data that
already names a calibration is analysed as it is when it names the same profile and refused
(one line) when it names another.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from sensor import calibration_store
from sensor.calibration import (
    METADATA_KEY,
    CalibrationError,
    CalibrationProfile,
    apply_calibration,
)
from sensor.calibration_cli import (
    add_calibration_option,
    calibration_from_args,
    resolve_calibration,
)
from sensor.cli import main
from sensor.engine import AnalysisOptions, analyze
from sensor.pipeline import analyze_file, analyze_file_with_engine
from sensor.recording import read_recording, write_recording
from sensor.samples import Samples
from sensor.simulate import simulate_session
from sensor.summary import Mount, to_dict

BIAS = (0.05, -0.04, 0.03)
SCALE = (0.97, 1.03, 1.02)
GYRO_BIAS = (1.5, -2.0, 1.0)
PROFILE = CalibrationProfile(profile_id="bench-1-0a1b2c3d", device="bench-1", acc_bias_g=BIAS,
                             acc_scale=SCALE, gyro_bias_dps=GYRO_BIAS)
OTHER = CalibrationProfile(profile_id="bench-2-99999999", device="bench-2")


@pytest.fixture(scope="module")
def raw_recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Samples]:
    """A hip-mount session as a miscalibrated sensor records it, and the ideal samples."""
    ideal, _truth = simulate_session(13, bias_g=0.0, scale_err=0.0, gyro_bias_dps=0.0,
                                     mount=Mount.HIP, with_gyro=True)
    assert ideal.gyro_dps is not None
    raw = Samples(ideal.t_s, ideal.acc_g * np.array(SCALE) + np.array(BIAS),
                  ideal.gyro_dps + np.array(GYRO_BIAS),
                  {**ideal.metadata, METADATA_KEY: "none"})
    path = tmp_path_factory.mktemp("rec") / "raw.csv"
    write_recording(path, raw)
    return path, ideal


def _samples(metadata: dict[str, str]) -> Samples:
    n = 50
    acc = np.tile([0.1, 0.2, 1.1], (n, 1))
    return Samples(np.arange(n) / 100.0, acc, np.ones((n, 3)), metadata)


# --- apply_calibration -------------------------------------------------------------------


def test_apply_calibration_known_answers() -> None:
    raw = _samples({METADATA_KEY: "none"})
    assert apply_calibration(raw, None) is raw
    fixed = apply_calibration(raw, PROFILE)
    np.testing.assert_allclose(fixed.acc_g[0], (np.array([0.1, 0.2, 1.1]) - BIAS) / SCALE)
    assert fixed.gyro_dps is not None
    np.testing.assert_allclose(fixed.gyro_dps[0], np.ones(3) - GYRO_BIAS)
    assert fixed.metadata[METADATA_KEY] == PROFILE.profile_id
    # No metadata key at all counts as raw.
    assert apply_calibration(_samples({}), PROFILE).metadata[METADATA_KEY] == PROFILE.profile_id
    # Already corrected by the same profile: left as it is, not corrected twice.
    assert apply_calibration(fixed, PROFILE) is fixed
    with pytest.raises(CalibrationError) as info:
        apply_calibration(fixed, OTHER)
    assert str(info.value) == (
        f"data already calibrated with profile {PROFILE.profile_id}; not applying "
        f"{OTHER.profile_id} (use --calibration none)")


# --- resolving the flag ------------------------------------------------------------------


def test_resolve_calibration(config_home: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_calibration(None) is None
    assert resolve_calibration("none") is None
    assert resolve_calibration("None") is None
    with pytest.raises(CalibrationError, match="no stored calibration for device 'bench-1'"):
        resolve_calibration("bench-1")
    calibration_store.save_profile(PROFILE)
    assert resolve_calibration("bench-1") == PROFILE
    file = tmp_path / "p.json"
    file.write_text(OTHER.to_json())
    assert resolve_calibration(str(file)) == OTHER
    assert resolve_calibration("p.json") == OTHER  # relative path, by its suffix
    plain = tmp_path / "profile"  # no suffix, but an existing file
    plain.write_text(OTHER.to_json())
    assert resolve_calibration("profile") == OTHER
    with pytest.raises(CalibrationError, match=r"missing\.json: cannot read"):
        resolve_calibration("missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "x"}))
    with pytest.raises(CalibrationError, match=r"bad\.json: schema is 'x'"):
        resolve_calibration("bad.json")


def test_the_flag_defaults_to_none(config_home: Path) -> None:
    calibration_store.save_profile(PROFILE)  # a stored profile is never applied silently
    parser = argparse.ArgumentParser()
    add_calibration_option(parser)
    assert calibration_from_args(parser.parse_args([])) is None
    assert calibration_from_args(parser.parse_args(["--calibration", "bench-1"])) == PROFILE
    assert calibration_from_args(argparse.Namespace()) is None


# --- the pipeline ------------------------------------------------------------------------


def test_analyze_file_applies_the_profile_before_the_engine(
    raw_recording: tuple[Path, Samples],
) -> None:
    path, _ideal = raw_recording
    options = AnalysisOptions()
    raw = read_recording(path)
    expected = analyze(PROFILE.apply(raw), options, source=path.name)
    assert to_dict(analyze_file(path, options, calibration=PROFILE)) == to_dict(expected)
    assert to_dict(analyze_file(path, options)) == to_dict(analyze(raw, options,
                                                                     source=path.name))
    # ...and the correction makes a difference to the result (else the above proves nothing).
    assert to_dict(expected) != to_dict(analyze(raw, options, source=path.name))
    summary, engine = analyze_file_with_engine(path, options, calibration=PROFILE)
    assert summary.rep_count == expected.rep_count
    # The engine saw the corrected data: at rest the calibrated reading is 1 g again.
    corrected = PROFILE.apply(raw)
    assert abs(float(np.linalg.norm(corrected.acc_g[:50].mean(axis=0))) - 1.0) < 0.01
    assert abs(float(np.linalg.norm(raw.acc_g[:50].mean(axis=0))) - 1.0) > 0.02
    assert engine.trace().t_s.size > 0


def test_analyze_file_refuses_data_calibrated_with_another_profile(tmp_path: Path) -> None:
    path = tmp_path / "fixed.csv"
    write_recording(path, PROFILE.apply(_samples({METADATA_KEY: "none"})))
    with pytest.raises(CalibrationError, match="already calibrated with profile bench-1"):
        analyze_file(path, AnalysisOptions(), calibration=OTHER)


# --- the commands ------------------------------------------------------------------------


def test_analyze_command_with_calibration(
    raw_recording: tuple[Path, Samples], config_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ideal = raw_recording
    calibration_store.save_profile(PROFILE)
    assert main(["analyze", str(path), "--json", "--calibration", "bench-1"]) == 0
    with_profile = json.loads(capsys.readouterr().out)
    expected = analyze_file(path, AnalysisOptions(), calibration=PROFILE)
    assert with_profile == json.loads(json.dumps(to_dict(expected)))
    assert main(["analyze", str(path), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain == json.loads(json.dumps(to_dict(analyze_file(path, AnalysisOptions()))))
    assert main(["analyze", str(path), "--calibration", "nobody"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hipthrust: no stored calibration for device 'nobody'")


def test_analyze_and_report_refuse_another_profile_in_one_line(
    tmp_path: Path, config_home: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "fixed.csv"
    write_recording(path, PROFILE.apply(_samples({METADATA_KEY: "none"})))
    other = tmp_path / "other.json"
    other.write_text(OTHER.to_json())
    out = tmp_path / "r.png"
    for argv in (["analyze", str(path), "--calibration", str(other)],
                 ["report", str(path), "-o", str(out), "--calibration", str(other)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "already calibrated with profile bench-1-0a1b2c3d" in err
    assert not out.exists()


def test_report_command_with_calibration(
    raw_recording: tuple[Path, Samples], tmp_path: Path, config_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ideal = raw_recording
    profile_file = tmp_path / "bench.json"
    profile_file.write_text(PROFILE.to_json())
    out = tmp_path / "report.png"
    assert main(["report", str(path), "-o", str(out), "--calibration", str(profile_file)]) == 0
    expected = analyze_file(path, AnalysisOptions(), calibration=PROFILE)
    assert f"wrote {out}: {expected.rep_count} reps in {len(expected.sets)} sets" in (
        capsys.readouterr().out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
