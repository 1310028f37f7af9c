"""``hipthrust simulate`` then ``hipthrust analyze --json``: the spec's document and nothing
else on stdout; a bad file gives exit status 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sensor.cli import main
from sensor.summary import validate_document

REP_FIELDS = {"index", "t_start", "t_lockout", "t_descent", "t_bottom", "concentric_s",
              "hold_s", "eccentric_s"}
LEG_FIELDS = {"reps", "concentric_s", "hold_s", "eccentric_s"}
REPO_ROOT = Path(__file__).resolve().parents[1]
ASYM_FIELDS = {"threshold_pct", "concentric_pct", "hold_pct", "eccentric_pct", "flagged",
               "flags"}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("cli")
    out, truth = d / "session.csv", d / "truth.json"
    # Seed 3 of this configuration is a known engine miss (first set read as 2 reps: the
    # descents after sitting down are under-estimated), tracked in the accuracy benchmark;
    # these tests are about the command line and its document, so they use seed 1.
    code = main(["simulate", str(out), "--truth", str(truth), "--seed", "1", "--sets", "3",
                 "--reps", "6", "--mount", "hip", "--rate", "100", "--gyro", "--no-nuisances",
                 "--first-leg", "right", "--drop-rate", "0"])
    assert code == 0
    assert out.is_file()
    return out, json.loads(truth.read_text())


def _analyze_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["analyze", *argv, "--json"]) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)  # the whole of stdout is one JSON document
    assert isinstance(doc, dict)
    return doc


def test_simulate_writes_recording_and_truth(recording: tuple[Path, dict[str, Any]]) -> None:
    path, truth = recording
    head = path.read_text().splitlines()[:8]
    assert "t,ax,ay,az,gx,gy,gz" in head
    assert any(line.startswith("# ") for line in head)
    assert [s["rep_count"] for s in truth["sets"]] == [6, 6, 6]
    assert [s["leg"] for s in truth["sets"]] == ["right", "left", "right"]


def test_analyze_json_has_the_spec_fields(
    recording: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = recording
    doc = _analyze_json(capsys, str(path), "--first-leg", "right")
    assert validate_document(doc) is doc
    assert doc["schema"] == "hipthrust.session"
    assert doc["version"] == 1
    assert isinstance(doc["session_id"], str)
    assert doc["session_id"]
    assert doc["mount"] in ("hip", "bar")
    assert [(s["index"], s["leg"], s["rep_count"]) for s in doc["sets"]] == [
        (s["index"], s["leg"], s["rep_count"]) for s in truth["sets"]
    ]
    for s in doc["sets"]:
        assert len(s["reps"]) == s["rep_count"]
        for r in s["reps"]:
            assert set(r) >= REP_FIELDS
            assert r["concentric_s"] == pytest.approx(r["t_lockout"] - r["t_start"], abs=2e-3)
            assert r["hold_s"] == pytest.approx(r["t_descent"] - r["t_lockout"], abs=2e-3)
            assert r["eccentric_s"] == pytest.approx(r["t_bottom"] - r["t_descent"], abs=2e-3)
    assert set(doc["legs"]) == {"left", "right"}
    for leg in doc["legs"].values():
        assert set(leg) >= LEG_FIELDS
    assert doc["legs"]["right"]["reps"] == 12
    assert doc["legs"]["left"]["reps"] == 6
    assert set(doc["asymmetry"]) >= ASYM_FIELDS
    assert doc["asymmetry"]["threshold_pct"] == 15
    assert isinstance(doc["asymmetry"]["flagged"], bool)
    assert set(doc["asymmetry"]["flags"]) <= {"concentric_s", "hold_s", "eccentric_s"}


def test_analyze_flags_reach_the_document(
    recording: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    doc = _analyze_json(capsys, str(path), "--legs", "left,left,right", "--pause", "30",
                        "--mount", "bar")
    assert [s["leg"] for s in doc["sets"]] == ["left", "left", "right"]
    assert doc["mount"] == "bar"
    assert doc["pause_target_s"] == 30
    # nobody holds 30 s: every rep misses the pause target
    assert all("pause_missed" in r["flags"] for s in doc["sets"] for r in s["reps"])
    doc = _analyze_json(capsys, str(path), "--first-leg", "left")
    assert [s["leg"] for s in doc["sets"]] == ["left", "right", "left"]


def test_analyze_table_by_default(
    recording: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    capsys.readouterr()
    assert main(["analyze", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    assert not out.lstrip().startswith("{")
    assert "left" in out.lower()
    assert "right" in out.lower()


def _bad_files(tmp: Path) -> dict[str, Path]:
    header = tmp / "no_header.csv"
    header.write_text("0.0,0,0,1\n" * 30)
    partial = tmp / "partial_gyro.csv"
    partial.write_text("t,ax,ay,az,gx\n" + "".join(f"{i / 100},0,0,1,0\n" for i in range(30)))
    binary = tmp / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 100)
    few = tmp / "few.csv"
    few.write_text("t,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n")
    return {"no_header": header, "partial_gyro": partial, "binary": binary, "few": few,
            "missing": tmp / "missing.csv", "directory": tmp}


@pytest.mark.parametrize("case", ["no_header", "partial_gyro", "binary", "few", "missing",
                                  "directory"])
def test_bad_file_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path = _bad_files(tmp_path)[case]
    code = main(["analyze", str(path), "--json"])
    cap = capsys.readouterr()
    assert code == 2
    assert cap.out == ""
    lines = cap.err.splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith(f"hipthrust: {path}")
    assert "Traceback" not in cap.err


def test_bad_flag_is_a_usage_error(
    recording: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = recording
    with pytest.raises(SystemExit) as info:
        main(["analyze", str(path), "--legs", "left,up"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown leg" in err
    assert "Traceback" not in err


def test_python_m_sensor_subprocess(
    recording: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, truth = recording
    ok = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "sensor", "analyze", str(path), "--json", "--first-leg", "right"],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert [s["rep_count"] for s in doc["sets"]] == [s["rep_count"] for s in truth["sets"]]
    bad = tmp_path / "bad.csv"
    bad.write_text("t,ax,ay\n")
    fail = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "sensor", "analyze", str(bad), "--json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT,
    )
    assert fail.returncode == 2
    assert fail.stdout == ""
    assert fail.stderr.count("\n") == 1
    assert fail.stderr.startswith(f"hipthrust: {bad}:1: ")


def test_recording_names_its_first_leg(
    recording: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`hipthrust record --leg right` writes `# first_leg=right`: analyze follows it unless
    the user names a leg."""
    path, _ = recording
    named = tmp_path / "named.csv"
    named.write_text("# first_leg=right\n" + path.read_text())
    legs = [s["leg"] for s in _analyze_json(capsys, str(named))["sets"]]
    assert legs == ["right", "left", "right"]
    legs = [s["leg"] for s in _analyze_json(capsys, str(named), "--first-leg", "left")["sets"]]
    assert legs == ["left", "right", "left"]
    legs = [s["leg"] for s in _analyze_json(capsys, str(path))["sets"]]  # names none: left
    assert legs == ["left", "right", "left"]
