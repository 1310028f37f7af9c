"""Results of the engine: reps, sets, legs, asymmetry, and the session summary JSON.

All ``t_*`` times are on the recording's own time base, in seconds. Durations end in ``_s``.
The JSON layout is the product spec's ``hipthrust.session`` document, version 1; every field
the spec names is there, and the extra ones are additive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA = "hipthrust.session"
SCHEMA_VERSION = 1


class Mount(StrEnum):
    """Where the IMU is worn."""

    HIP = "hip"
    BAR = "bar"


class Leg(StrEnum):
    """The working leg of a set."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def other(self) -> Leg:
        return Leg.RIGHT if self is Leg.LEFT else Leg.LEFT


class Phase(StrEnum):
    """The phases of a rep, in order."""

    CONCENTRIC = "concentric"
    HOLD = "hold"
    ECCENTRIC = "eccentric"
    BOTTOM = "bottom"


class RepFlag(StrEnum):
    """Per-rep findings, named in ``Rep.flags``."""

    PAUSE_MISSED = "pause_missed"  # hold_s under the --pause target
    BOUNCE = "bounce"  # almost no hold in a set that was meant to hold
    PELVIC_TILT = "pelvic_tilt"  # hip mount: frontal-plane roll over the threshold


PHASE_METRICS: tuple[str, ...] = ("concentric_s", "hold_s", "eccentric_s")
"""The per-rep durations that per-leg means and asymmetry are computed on."""


@dataclass(frozen=True)
class Rep:
    """One rise from the bottom to lockout and back down.

    Phase boundaries are where the vertical speed crosses 5 % of this rep's peak concentric
    speed. For a lift that starts at the top (squat, bench press) the descent comes first, so
    ``t_descent < t_bottom < t_start < t_lockout``; its ``hold_s`` is then the pause at the top
    after the lockout (until the next rep's descent, 0 for the set's last rep).
    ``bottom_s`` is the pause at the bottom: until the next rep's ``t_start`` (None for a
    set's last rep), or for a top-start lift from ``t_bottom`` to ``t_start``.
    ``tilt_deg`` (hip mount only) is the pelvic tilt: how far the line through both hips
    leaves the horizontal from the rep's start to its lockout, in degrees, unsigned.
    """

    index: int
    t_start: float
    t_lockout: float
    t_descent: float
    t_bottom: float
    concentric_s: float
    hold_s: float
    eccentric_s: float
    peak_speed_mps: float
    range_m: float
    bottom_s: float | None = None
    tilt_deg: float | None = None
    flags: tuple[RepFlag, ...] = ()

    def metric(self, name: str) -> float:
        """A phase duration by its ``PHASE_METRICS`` name."""
        return float(getattr(self, name))


@dataclass(frozen=True)
class SetResult:
    """Consecutive reps on one leg."""

    index: int
    leg: Leg
    reps: tuple[Rep, ...]
    flags: tuple[str, ...] = ()

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    @property
    def t_start(self) -> float:
        return self.reps[0].t_start if self.reps else math.nan

    @property
    def t_end(self) -> float:
        return self.reps[-1].t_bottom if self.reps else math.nan


@dataclass(frozen=True)
class LegStats:
    """Per-leg means (and sample standard deviations) of the phase durations, in seconds."""

    reps: int
    concentric_s: float
    hold_s: float
    eccentric_s: float
    concentric_sd_s: float
    hold_sd_s: float
    eccentric_sd_s: float


@dataclass(frozen=True)
class PhaseAsymmetry:
    """The asymmetry of one phase metric and how the flag was decided.

    ``index_pct`` is ``|L - R| / ((L + R) / 2) * 100`` on the per-leg means. ``noise_pct`` is
    the same ratio for the noise floor: two standard errors of the difference of the means.
    The phase is flagged when ``index_pct`` exceeds both the threshold and ``noise_pct``.
    """

    metric: str
    index_pct: float | None
    noise_pct: float | None
    flagged: bool


@dataclass(frozen=True)
class Asymmetry:
    threshold_pct: float
    phases: tuple[PhaseAsymmetry, ...]

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(p.metric for p in self.phases if p.flagged)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def index_pct(self, metric: str) -> float | None:
        for p in self.phases:
            if p.metric == metric:
                return p.index_pct
        return None


@dataclass(frozen=True)
class SessionSummary:
    """Everything the engine found in one session."""

    session_id: str
    mount: Mount
    sets: tuple[SetResult, ...]
    legs: Mapping[Leg, LegStats]
    asymmetry: Asymmetry
    pause_target_s: float | None = None
    sampling_rate_hz: float | None = None
    has_gyro: bool | None = None
    duration_s: float | None = None
    source: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rep_count(self) -> int:
        return sum(s.rep_count for s in self.sets)

    @property
    def flags(self) -> tuple[str, ...]:
        """Session-level findings: asymmetric phases and any per-rep flag that occurred."""
        found: list[str] = [f"asymmetry:{m}" for m in self.asymmetry.flags]
        for flag in RepFlag:
            if any(flag in r.flags for s in self.sets for r in s.reps):
                found.append(flag.value)
        return tuple(found)


def _r(x: float | None, nd: int = 3) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), nd)


def rep_to_dict(rep: Rep) -> dict[str, Any]:
    return {
        "index": rep.index,
        "t_start": _r(rep.t_start),
        "t_lockout": _r(rep.t_lockout),
        "t_descent": _r(rep.t_descent),
        "t_bottom": _r(rep.t_bottom),
        "concentric_s": _r(rep.concentric_s),
        "hold_s": _r(rep.hold_s),
        "eccentric_s": _r(rep.eccentric_s),
        "bottom_s": _r(rep.bottom_s),
        "peak_speed_mps": _r(rep.peak_speed_mps),
        "range_m": _r(rep.range_m),
        "tilt_deg": _r(rep.tilt_deg, 1),
        "flags": [f.value for f in rep.flags],
    }


def to_dict(summary: SessionSummary) -> dict[str, Any]:
    """The spec's summary document (``hipthrust.session`` v1) as plain JSON types."""
    sets = []
    for s in summary.sets:
        sets.append(
            {
                "index": s.index,
                "leg": s.leg.value,
                "rep_count": s.rep_count,
                "t_start": _r(s.t_start),
                "t_end": _r(s.t_end),
                "flags": list(s.flags),
                "reps": [rep_to_dict(r) for r in s.reps],
            }
        )
    legs = {
        leg.value: {
            "reps": st.reps,
            "concentric_s": _r(st.concentric_s),
            "hold_s": _r(st.hold_s),
            "eccentric_s": _r(st.eccentric_s),
            "concentric_sd_s": _r(st.concentric_sd_s),
            "hold_sd_s": _r(st.hold_sd_s),
            "eccentric_sd_s": _r(st.eccentric_sd_s),
        }
        for leg, st in summary.legs.items()
    }
    asym = summary.asymmetry
    asymmetry: dict[str, Any] = {"threshold_pct": asym.threshold_pct}
    for p in asym.phases:
        asymmetry[p.metric.removesuffix("_s") + "_pct"] = _r(p.index_pct, 1)
    asymmetry["flagged"] = asym.flagged
    asymmetry["flags"] = list(asym.flags)
    asymmetry["method"] = (
        "index on per-leg means; flagged when above threshold_pct and above noise_pct, "
        "the noise floor of two standard errors of the difference of the means"
    )
    asymmetry["phases"] = {
        p.metric: {"index_pct": _r(p.index_pct, 1), "noise_pct": _r(p.noise_pct, 1),
                   "flagged": p.flagged}
        for p in asym.phases
    }
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "session_id": summary.session_id,
        "mount": summary.mount.value,
        "source": summary.source,
        "sampling_rate_hz": _r(summary.sampling_rate_hz, 2),
        "has_gyro": summary.has_gyro,
        "duration_s": _r(summary.duration_s, 2),
        "pause_target_s": summary.pause_target_s,
        "rep_count": summary.rep_count,
        "set_count": len(summary.sets),
        "sets": sets,
        "legs": legs,
        "asymmetry": asymmetry,
        "flags": list(summary.flags),
    }
    doc.update(summary.extra)
    return doc


def to_json(summary: SessionSummary, *, indent: int | None = 2) -> str:
    return json.dumps(to_dict(summary), indent=indent)


class SummaryFormatError(ValueError):
    """A document that is not a valid ``hipthrust.session`` summary."""


def validate_document(doc: object) -> dict[str, Any]:
    """Check the shape of a summary document received from elsewhere (MQTT, a file).

    Returns the document; raises SummaryFormatError with a one-line reason otherwise.
    """
    if not isinstance(doc, dict):
        raise SummaryFormatError("summary is not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise SummaryFormatError(f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    if doc.get("version") != SCHEMA_VERSION:
        raise SummaryFormatError(f"unsupported version {doc.get('version')!r}")
    if not isinstance(doc.get("session_id"), str) or not doc["session_id"]:
        raise SummaryFormatError("session_id missing")
    if not isinstance(doc.get("sets"), list):
        raise SummaryFormatError("sets missing")
    for s in doc["sets"]:
        if not isinstance(s, dict) or not isinstance(s.get("reps"), list):
            raise SummaryFormatError("a set without reps")
        if s.get("leg") not in ("left", "right"):
            raise SummaryFormatError(f"a set with leg {s.get('leg')!r}")
    if not isinstance(doc.get("legs"), dict) or not isinstance(doc.get("asymmetry"), dict):
        raise SummaryFormatError("legs or asymmetry missing")
    return doc
