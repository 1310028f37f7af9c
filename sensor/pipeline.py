"""File source -> engine -> summary: the glue that commands share. I/O lives here."""

from __future__ import annotations

from pathlib import Path

from sensor.calibration import CalibrationProfile, apply_calibration
from sensor.engine import AnalysisOptions, Engine, analyze, with_recording_defaults
from sensor.recording import read_recording
from sensor.summary import SessionSummary


def analyze_file(
    path: str | Path,
    options: AnalysisOptions | None = None,
    calibration: CalibrationProfile | None = None,
) -> SessionSummary:
    """Read a recording, correct it with ``calibration`` (if given) and analyse it.

    Raises RecordingError on a bad file, CalibrationError when the data already names
    another calibration profile.
    """
    samples = apply_calibration(read_recording(path), calibration)
    options = with_recording_defaults(options or AnalysisOptions(), samples.metadata)
    return analyze(samples, options, source=Path(path).name)


def analyze_file_with_engine(
    path: str | Path,
    options: AnalysisOptions | None = None,
    calibration: CalibrationProfile | None = None,
) -> tuple[SessionSummary, Engine]:
    """As analyze_file, also returning the engine (for its trace, e.g. in reports)."""
    samples = apply_calibration(read_recording(path), calibration)
    options = with_recording_defaults(options or AnalysisOptions(), samples.metadata)
    engine = Engine(options, live=False)
    engine.feed(samples)
    engine.finish()
    sid = samples.metadata.get("session_id")
    return engine.summary(session_id=sid, source=Path(path).name), engine
