"""The analysis engine, split by pipeline stage (see ``engine.py`` for the flow)."""

from sensor.engine.engine import Engine, Trace, analyze
from sensor.engine.options import AnalysisOptions, EngineParams, with_recording_defaults

__all__ = [
    "AnalysisOptions",
    "Engine",
    "EngineParams",
    "Trace",
    "analyze",
    "with_recording_defaults",
]
