"""Sensor calibration: gyro bias, six-position accelerometer bias and scale, pose checks.

Pure maths on ``Samples``; no I/O. ``sensor.calibration_store`` keeps profiles on disk and
``sensor.commands.calibrate`` is the terminal front end.

Sensor model (per axis ``i``, in the sensor's own axes)::

    acc_raw_g[i]    = acc_scale[i] * acc_true_g[i] + acc_bias_g[i]
    gyro_raw_dps[i] = gyro_true_dps[i] + gyro_bias_dps[i]

so a profile corrects with ``(acc_raw_g - acc_bias_g) / acc_scale`` and
``gyro_raw_dps - gyro_bias_dps``. At rest the accelerometer reads +1 g along the axis that
points *up* (specific force, gravity included), which names the six poses: ``+X up`` means
the sensor's +X axis points at the ceiling.

The six-position fit: with the sensor still in each of the six poses, the corrected mean
reading must have a magnitude of exactly 1 g. That gives six equations for the six unknowns
(three biases, three scales), solved by non-linear least squares. Using the magnitude rather
than the nominal direction makes the result insensitive to a pose a few degrees off flat.

Every recording says which profile it used: the metadata key ``calibration`` holds the
profile id (``# calibration=<profile id>``), or ``none`` for raw data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation, Slerp

from sensor.errors import HipthrustError
from sensor.samples import FloatArray, Samples

PROFILE_SCHEMA = "hipthrust.calibration"
PROFILE_VERSION = 1
METADATA_KEY = "calibration"
"""Recording metadata key naming the profile applied to the data (``# calibration=<id>``)."""
UNCALIBRATED = "none"
"""The ``calibration`` metadata value of raw, uncorrected data."""

Vec3 = tuple[float, float, float]


class CalibrationError(HipthrustError):
    """A calibration that cannot be computed or a profile that cannot be read or applied."""


class Pose(Enum):
    """The six positions: which of the sensor's axes points up. Value: (axis index, sign)."""

    Z_UP = (2, 1)
    Z_DOWN = (2, -1)
    X_UP = (0, 1)
    X_DOWN = (0, -1)
    Y_UP = (1, 1)
    Y_DOWN = (1, -1)

    @property
    def axis(self) -> int:
        return int(self.value[0])

    @property
    def sign(self) -> int:
        return int(self.value[1])

    @property
    def label(self) -> str:
        """``+X up``, ``-Z up``..."""
        return f"{'+' if self.sign > 0 else '-'}{'XYZ'[self.axis]} up"

    @property
    def up_vector(self) -> FloatArray:
        """The ideal at-rest accelerometer reading of this pose, in g."""
        v = np.zeros(3)
        v[self.axis] = float(self.sign)
        return v

    @staticmethod
    def from_reading(acc_g: FloatArray) -> Pose:
        """The pose whose up axis is closest to the direction of one reading (3,)."""
        return _POSE_BY_CODE[int(face_codes(acc_g.reshape(1, 3))[0])]


_POSE_BY_AXIS: dict[tuple[int, int], Pose] = {(p.axis, p.sign): p for p in Pose}
_POSE_BY_CODE: dict[int, Pose] = {2 * p.axis + (p.sign < 0): p for p in Pose}


def face_codes(acc_g: FloatArray) -> NDArray[np.intp]:
    """Per reading (n, 3), which face is up: ``2 * axis + (1 if pointing down)``."""
    axis = np.argmax(np.abs(acc_g), axis=1)
    down = acc_g[np.arange(len(acc_g)), axis] < 0
    return np.asarray(2 * axis + down, dtype=np.intp)

PROCEDURE_ORDER: tuple[Pose, ...] = (
    Pose.Z_UP, Pose.Z_DOWN, Pose.X_UP, Pose.X_DOWN, Pose.Y_UP, Pose.Y_DOWN
)
"""The order the guided procedure asks for the poses (any order is accepted)."""

POSE_INSTRUCTIONS: Mapping[Pose, str] = {
    Pose.Z_UP: "lay it flat on the table, top face (+Z) up",
    Pose.Z_DOWN: "turn it over: flat on the table, top face down (-Z up)",
    Pose.X_UP: "stand it on its edge with +X pointing at the ceiling",
    Pose.X_DOWN: "stand it on the opposite edge, +X pointing at the floor (-X up)",
    Pose.Y_UP: "stand it on its end with +Y pointing at the ceiling",
    Pose.Y_DOWN: "stand it on the opposite end, +Y pointing at the floor (-Y up)",
}
"""How to put the sensor in each pose, for the terminal prompts and the written procedure."""


@dataclass(frozen=True)
class PoseLimits:
    """What counts as a good pose.

    ``still_acc_g`` and ``still_gyro_dps`` bound the standard deviation of each axis over the
    pose window (a hand on the sensor or a shaking table goes above them; the noise of the
    supported IMUs, about 2 mg and 0.1 deg/s rms, stays well below). ``flat_deg`` bounds the
    angle between the mean reading and the pose's axis; it is larger than the apparent tilt
    an uncalibrated bias of up to 0.1 g can cause (about 6 degrees).
    """

    still_acc_g: float = 0.010
    still_gyro_dps: float = 1.0
    flat_deg: float = 10.0
    max_bias_g: float = 0.25
    max_scale_error: float = 0.15


@dataclass(frozen=True)
class PoseCheck:
    """The verdict on one candidate pose window.

    ``reason`` is None when the pose is good, else one line saying what was wrong.
    ``acc_sd_g`` / ``gyro_sd_dps`` are the largest per-axis standard deviations and
    ``tilt_deg`` the angle between the mean reading and the pose's axis.
    """

    pose: Pose | None
    reason: str | None
    mean_acc_g: Vec3
    mean_gyro_dps: Vec3 | None
    acc_sd_g: float
    gyro_sd_dps: float | None
    tilt_deg: float
    duration_s: float
    n: int

    @property
    def ok(self) -> bool:
        return self.reason is None


def _vec3(a: FloatArray) -> Vec3:
    return (float(a[0]), float(a[1]), float(a[2]))


def check_pose(
    block: Samples, expected: Pose | None, limits: PoseLimits | None = None
) -> PoseCheck:
    """Check that ``block`` is the sensor lying still in pose ``expected``.

    ``expected=None`` checks stillness only (the gyro-bias step: any orientation).
    Checks, in order: enough samples, the right face up, still, flat.
    """
    lim = limits or PoseLimits()
    n = len(block)
    if n < 2:
        return PoseCheck(expected, "too few samples", (0.0, 0.0, 0.0), None, 0.0, None,
                         math.nan, 0.0, n)
    mean = block.acc_g.mean(axis=0)
    acc_sd = float(block.acc_g.std(axis=0).max())
    gyro_mean: Vec3 | None = None
    gyro_sd: float | None = None
    if block.gyro_dps is not None:
        gyro_mean = _vec3(block.gyro_dps.mean(axis=0))
        gyro_sd = float(block.gyro_dps.std(axis=0).max())
    face = Pose.from_reading(mean)
    target = expected or face
    norm = float(np.linalg.norm(mean))
    cos_tilt = float(mean[target.axis]) * target.sign / norm if norm > 0 else -1.0
    tilt = math.degrees(math.acos(max(-1.0, min(1.0, cos_tilt))))
    reason: str | None = None
    if expected is not None and face is not expected:
        reason = f"wrong face: reads {face.label}, expected {expected.label}"
    elif acc_sd > lim.still_acc_g or (gyro_sd is not None and gyro_sd > lim.still_gyro_dps):
        parts = [f"acceleration varied by {acc_sd * 1000:.0f} mg rms "
                 f"(limit {lim.still_acc_g * 1000:.0f} mg)"]
        if gyro_sd is not None:
            parts.append(f"rotation by {gyro_sd:.1f} deg/s rms "
                         f"(limit {lim.still_gyro_dps:.1f} deg/s)")
        reason = "moved: " + ", ".join(parts) + "; keep it still"
    elif expected is not None and tilt > lim.flat_deg:
        reason = (f"not flat: {tilt:.1f} deg from {expected.label} "
                  f"(limit {lim.flat_deg:.0f} deg); rest it squarely on the table")
    return PoseCheck(expected, reason, _vec3(mean), gyro_mean, acc_sd, gyro_sd, tilt,
                     block.duration_s, n)


def gyro_bias_from_still(block: Samples, limits: PoseLimits | None = None) -> Vec3:
    """The gyro bias in deg/s: the mean rate while the sensor lies still (any orientation).

    Raises CalibrationError when there is no gyro or the sensor moved.
    """
    if block.gyro_dps is None:
        raise CalibrationError("no gyroscope data")
    check = check_pose(block, None, limits)
    if not check.ok:
        raise CalibrationError(f"still period: {check.reason}")
    return _vec3(block.gyro_dps.mean(axis=0))


@dataclass(frozen=True)
class AccelFit:
    """Accelerometer bias (g) and scale (unitless) per axis from the six poses."""

    bias_g: Vec3
    scale: Vec3
    residual_mg: float  # largest | |corrected mean| - 1 g | over the poses, after the fit


def fit_accelerometer(
    pose_means_g: Mapping[Pose, Sequence[float] | FloatArray],
    limits: PoseLimits | None = None,
) -> AccelFit:
    """Least-squares bias and scale per axis from the mean still reading of each pose.

    Solves ``| (m_p - bias) / scale | = 1`` for the six poses ``p``. Starts from the
    per-axis closed form (bias = mean of the +/- readings, scale = half their difference).
    Raises CalibrationError when a pose is missing or the result is implausible.
    """
    lim = limits or PoseLimits()
    missing = [p.label for p in PROCEDURE_ORDER if p not in pose_means_g]
    if missing:
        raise CalibrationError(f"missing poses: {', '.join(missing)}")
    m = np.array([np.asarray(pose_means_g[p], dtype=float) for p in PROCEDURE_ORDER])
    if m.shape != (6, 3) or not np.all(np.isfinite(m)):
        raise CalibrationError("pose means must be six finite 3-vectors")
    bias0 = np.empty(3)
    scale0 = np.empty(3)
    for axis in range(3):
        up = m[PROCEDURE_ORDER.index(_POSE_BY_AXIS[(axis, 1)]), axis]
        down = m[PROCEDURE_ORDER.index(_POSE_BY_AXIS[(axis, -1)]), axis]
        bias0[axis] = (up + down) / 2
        scale0[axis] = (up - down) / 2
    if np.any(scale0 <= 0):
        raise CalibrationError("an axis reads less pointing up than pointing down; "
                               "were the poses the right way round?")

    def residuals(x: FloatArray) -> FloatArray:
        corrected = (m - x[:3]) / x[3:]
        return np.asarray(np.linalg.norm(corrected, axis=1) - 1.0, dtype=float)

    sol = least_squares(residuals, np.concatenate([bias0, scale0]), method="lm",
                        xtol=1e-12, ftol=1e-12)
    bias, scale = sol.x[:3], sol.x[3:]
    residual_mg = float(np.abs(residuals(sol.x)).max() * 1000)
    worst_bias = float(np.abs(bias).max())
    worst_scale = float(np.abs(scale - 1).max())
    if worst_bias > lim.max_bias_g or worst_scale > lim.max_scale_error:
        raise CalibrationError(
            f"implausible fit (bias up to {worst_bias * 1000:.0f} mg, scale off by up to "
            f"{worst_scale * 100:.0f} %); check the poses and the sensor's full-scale setting"
        )
    return AccelFit(_vec3(bias), _vec3(scale), residual_mg)


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def slug(name: str) -> str:
    """A device or model name made safe for file names and metadata values."""
    s = _SLUG.sub("-", name.strip()).strip("-.")
    return s or "sensor"


@dataclass(frozen=True)
class CalibrationProfile:
    """The corrections for one device; see the module docstring for the model.

    ``profile_id`` is what recordings name in ``# calibration=<id>``.
    """

    profile_id: str
    device: str
    acc_bias_g: Vec3 = (0.0, 0.0, 0.0)
    acc_scale: Vec3 = (1.0, 1.0, 1.0)
    gyro_bias_dps: Vec3 | None = None
    sensor_model: str = ""
    created_utc: str = ""
    method: str = "six-position"
    quality: Mapping[str, float] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.profile_id or slug(self.profile_id) != self.profile_id:
            raise CalibrationError(f"bad profile id {self.profile_id!r}")
        if any(not math.isfinite(s) or s <= 0 for s in self.acc_scale):
            raise CalibrationError(f"profile {self.profile_id}: scales must be positive")

    def apply(self, samples: Samples) -> Samples:
        """Corrected samples, with ``calibration=<profile id>`` in their metadata.

        Raises CalibrationError when the samples already name a calibration.
        """
        done = samples.metadata.get(METADATA_KEY, UNCALIBRATED)
        if done not in ("", UNCALIBRATED):
            raise CalibrationError(f"data already calibrated with profile {done}")
        acc = (samples.acc_g - np.asarray(self.acc_bias_g)) / np.asarray(self.acc_scale)
        gyro = samples.gyro_dps
        if gyro is not None and self.gyro_bias_dps is not None:
            gyro = gyro - np.asarray(self.gyro_bias_dps)
        metadata = dict(samples.metadata)
        metadata[METADATA_KEY] = self.profile_id
        return Samples(samples.t_s, acc, gyro, metadata)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PROFILE_SCHEMA,
            "version": PROFILE_VERSION,
            "id": self.profile_id,
            "device": self.device,
            "sensor_model": self.sensor_model,
            "created_utc": self.created_utc,
            "method": self.method,
            "acc_bias_g": list(self.acc_bias_g),
            "acc_scale": list(self.acc_scale),
            "gyro_bias_dps": None if self.gyro_bias_dps is None else list(self.gyro_bias_dps),
            "quality": dict(self.quality),
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @staticmethod
    def from_dict(doc: object) -> CalibrationProfile:
        """Parse a profile document; raises CalibrationError with a one-line reason."""
        if not isinstance(doc, dict):
            raise CalibrationError("profile is not a JSON object")
        if doc.get("schema") != PROFILE_SCHEMA:
            raise CalibrationError(f"schema is {doc.get('schema')!r}, expected {PROFILE_SCHEMA!r}")
        if doc.get("version") != PROFILE_VERSION:
            raise CalibrationError(f"unsupported profile version {doc.get('version')!r}")

        def text(key: str, *, required: bool = False) -> str:
            value = doc.get(key, "")
            if not isinstance(value, str) or (required and not value):
                raise CalibrationError(f"{key} must be a non-empty string" if required
                                       else f"{key} must be a string")
            return value

        def vec(key: str, *, optional: bool = False) -> Vec3 | None:
            value = doc.get(key)
            if value is None and optional:
                return None
            if (not isinstance(value, list) or len(value) != 3
                    or not all(isinstance(v, int | float) and not isinstance(v, bool)
                               and math.isfinite(v) for v in value)):
                raise CalibrationError(f"{key} must be a list of three numbers")
            return (float(value[0]), float(value[1]), float(value[2]))

        quality = doc.get("quality", {})
        if not isinstance(quality, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in quality.values()
        ):
            raise CalibrationError("quality must be an object of numbers")
        bias = vec("acc_bias_g")
        scale = vec("acc_scale")
        if bias is None or scale is None:  # vec() raises first; this narrows the types
            raise CalibrationError("acc_bias_g and acc_scale are required")
        return CalibrationProfile(
            profile_id=text("id", required=True),
            device=text("device", required=True),
            acc_bias_g=bias,
            acc_scale=scale,
            gyro_bias_dps=vec("gyro_bias_dps", optional=True),
            sensor_model=text("sensor_model"),
            created_utc=text("created_utc"),
            method=text("method"),
            quality={str(k): float(v) for k, v in quality.items()},
            notes=text("notes"),
        )

    @staticmethod
    def from_json(text: str) -> CalibrationProfile:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise CalibrationError(f"not JSON: {exc}") from None
        return CalibrationProfile.from_dict(doc)


def make_profile_id(device: str, created_utc: str, numbers: Sequence[float]) -> str:
    """``<device slug>-<8 hex digits>``: stable for the same device, time and values."""
    digest = hashlib.sha256(
        json.dumps([device, created_utc, [round(x, 9) for x in numbers]]).encode()
    ).hexdigest()[:8]
    return f"{slug(device)}-{digest}"


def calibration_metadata(profile: CalibrationProfile | None) -> dict[str, str]:
    """The metadata a recording carries about its calibration (``{"calibration": id}``)."""
    return {METADATA_KEY: profile.profile_id if profile is not None else UNCALIBRATED}


def build_profile(
    device: str,
    checks: Mapping[Pose, PoseCheck],
    gyro_blocks: Sequence[Samples] = (),
    *,
    sensor_model: str = "",
    created_utc: str | None = None,
    limits: PoseLimits | None = None,
) -> CalibrationProfile:
    """A profile from six accepted pose checks and the still blocks for the gyro bias.

    The gyro bias is the mean rate over all ``gyro_blocks`` (sample-weighted); None when
    they carry no gyro.
    """
    bad = [f"{p.label}: {c.reason}" for p, c in checks.items() if not c.ok]
    if bad:
        raise CalibrationError("; ".join(bad))
    fit = fit_accelerometer({p: np.asarray(c.mean_acc_g) for p, c in checks.items()}, limits)
    gyros = [b.gyro_dps for b in gyro_blocks if b.gyro_dps is not None and len(b)]
    gyro_bias = _vec3(np.concatenate(gyros).mean(axis=0)) if gyros else None
    created = created_utc or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    numbers = [*fit.bias_g, *fit.scale, *(gyro_bias or ())]
    quality = {
        "residual_mg": round(fit.residual_mg, 4),
        "max_acc_sd_mg": round(max(c.acc_sd_g for c in checks.values()) * 1000, 3),
        "max_tilt_deg": round(max(c.tilt_deg for c in checks.values()), 2),
        "still_s": round(sum(b.duration_s for b in gyro_blocks), 2),
    }
    return CalibrationProfile(
        profile_id=make_profile_id(device, created, numbers),
        device=device,
        acc_bias_g=fit.bias_g,
        acc_scale=fit.scale,
        gyro_bias_dps=gyro_bias,
        sensor_model=sensor_model,
        created_utc=created,
        method="six-position",
        quality=quality,
    )


# --- the guided procedure as a step machine --------------------------------------------


@dataclass(frozen=True)
class StepPrompt:
    """Tell the user what to do next. ``pose`` is None for the still (gyro) step."""

    step: int
    total: int
    pose: Pose | None
    text: str


@dataclass(frozen=True)
class StepAccepted:
    step: int
    pose: Pose | None
    check: PoseCheck


@dataclass(frozen=True)
class PoseRejected:
    """A pose held long enough but bad; ``reason`` says why. The step is retried."""

    step: int
    pose: Pose | None
    reason: str


@dataclass(frozen=True)
class CalibrationFinished:
    profile: CalibrationProfile


CalibrationEvent = StepPrompt | StepAccepted | PoseRejected | CalibrationFinished


class CalibrationSession:
    """The guided calibration, driven by sample blocks; no I/O, no clock but the samples'.

    Step 1 asks for the sensor to lie still for ``still_s`` (the gyro bias), then the six
    poses, each held still for ``hold_s``. A pose is taken as soon as the latest ``hold_s``
    window (after ``settle_s`` in that face) passes ``check_pose``; poses are accepted in
    any order, the prompt names the next one of ``PROCEDURE_ORDER``. A fault that persists
    for ``patience_s`` (so not the end of the turn into the pose, nor the start of the turn
    out of it) gives one ``PoseRejected`` per reason and attempt; the step stays open.

    Use: ``events = session.start()``, then ``session.feed(block)`` for every block; when
    ``session.done``, ``session.profile`` is the result (also in ``CalibrationFinished``).
    """

    def __init__(
        self,
        device: str,
        *,
        sensor_model: str = "",
        still_s: float = 10.0,
        hold_s: float = 3.0,
        settle_s: float = 1.0,
        patience_s: float = 2.0,
        limits: PoseLimits | None = None,
        created_utc: str | None = None,
    ) -> None:
        self.device = device
        self.sensor_model = sensor_model
        self.still_s = still_s
        self.hold_s = hold_s
        self.settle_s = settle_s
        self.patience_s = patience_s
        self.limits = limits or PoseLimits()
        self.created_utc = created_utc
        self.checks: dict[Pose, PoseCheck] = {}
        self.still_blocks: list[Samples] = []
        self.rejections: dict[Pose | None, str] = {}
        self.profile: CalibrationProfile | None = None
        self._still_done = False
        self._run: list[Samples] = []
        self._run_face: Pose | None = None
        self._run_start_s = 0.0
        self._run_reported: set[str] = set()
        self._fail_kind = ""
        self._fail_since_s = 0.0

    @property
    def total_steps(self) -> int:
        return 1 + len(PROCEDURE_ORDER)

    @property
    def done(self) -> bool:
        return self.profile is not None

    @property
    def still_done(self) -> bool:
        """Whether the still (gyro bias) step is complete."""
        return self._still_done

    @property
    def missing(self) -> tuple[Pose, ...]:
        return tuple(p for p in PROCEDURE_ORDER if p not in self.checks)

    @property
    def step(self) -> int:
        """The 1-based number of the current step."""
        return (1 if self._still_done else 0) + len(self.checks) + 1

    def prompt(self) -> StepPrompt:
        if not self._still_done:
            return StepPrompt(1, self.total_steps, None,
                              f"Gyro bias: lay the sensor on a table and do not touch it for "
                              f"{self.still_s:.0f} s.")
        pose = self.missing[0]
        return StepPrompt(self.step, self.total_steps, pose,
                          f"{pose.label}: {POSE_INSTRUCTIONS[pose]}, and hold it still "
                          f"for {self.hold_s:.0f} s.")

    def start(self) -> list[CalibrationEvent]:
        return [self.prompt()]

    def restart_step(self) -> None:
        """Forget the samples of the step under way (e.g. after the link dropped).

        The current face must then settle and hold again from the next sample on; accepted
        steps are kept.
        """
        self._run = []
        self._run_face = None
        self._fail_kind = ""

    def feed(self, block: Samples) -> list[CalibrationEvent]:
        """Consume one block of samples; returns what happened, in order."""
        events: list[CalibrationEvent] = []
        if self.done or len(block) == 0:
            return events
        faces = face_codes(block.acc_g)
        changes = np.flatnonzero(faces[1:] != faces[:-1]) + 1
        bounds = [0, *changes.tolist(), len(block)]
        for start, stop in itertools.pairwise(bounds):
            piece = block.slice(start, stop)
            face = _POSE_BY_CODE[int(faces[start])]
            if face is not self._run_face:
                self._run = []
                self._run_face = face
                self._run_start_s = float(piece.t_s[0])
                self._run_reported = set()
                self._fail_kind = ""
            self._run.append(piece)
            events.extend(self._evaluate())
            if self.done:
                break
        return events

    def _evaluate(self) -> list[CalibrationEvent]:
        still_step = not self._still_done
        need_s = self.still_s if still_step else self.hold_s
        face = self._run_face
        if not still_step and face not in self.missing:
            self._trim(need_s)
            return []
        t_end = float(self._run[-1].t_s[-1])
        if t_end - self._run_start_s < self.settle_s + need_s:
            return []
        window = self._trim(need_s)
        step = self.step
        pose = None if still_step else face
        check = check_pose(window, pose, self.limits)
        if check.reason is not None:
            kind = check.reason.split(":", 1)[0]
            if kind != self._fail_kind:
                self._fail_kind, self._fail_since_s = kind, t_end
            if kind in self._run_reported or t_end - self._fail_since_s < self.patience_s:
                return []
            self._run_reported.add(kind)
            self.rejections[pose] = check.reason
            return [PoseRejected(step, pose, check.reason)]
        events: list[CalibrationEvent] = [StepAccepted(step, pose, check)]
        self.rejections.pop(pose, None)
        if pose is None:
            self._still_done = True
            self.still_blocks.append(window)
        else:
            self.checks[pose] = check
            self.still_blocks.append(window)
        # The next step starts afresh: the same face must settle and hold again.
        self._run = []
        self._run_face = None
        if self.missing:
            events.append(self.prompt())
        else:
            self.profile = build_profile(
                self.device, self.checks, self.still_blocks, sensor_model=self.sensor_model,
                created_utc=self.created_utc, limits=self.limits)
            events.append(CalibrationFinished(self.profile))
        return events

    def _trim(self, need_s: float) -> Samples:
        """Keep only the latest ``need_s`` of the run; return that window."""
        run = Samples.concat(self._run) if len(self._run) > 1 else self._run[0]
        t_from = float(run.t_s[-1]) - need_s
        first = int(np.searchsorted(run.t_s, t_from, side="left"))
        window = run.slice(first, len(run))
        self._run = [window]
        return window


def calibrate_recording(
    samples: Samples,
    device: str,
    *,
    sensor_model: str = "",
    block_s: float = 0.25,
    created_utc: str | None = None,
    limits: PoseLimits | None = None,
    still_s: float = 10.0,
    hold_s: float = 3.0,
) -> CalibrationProfile:
    """Run a recording of the procedure through ``CalibrationSession``; returns the profile.

    Raises CalibrationError naming every pose that was not found or was rejected, and why.
    """
    if len(samples) < 2:
        raise CalibrationError("recording has fewer than two samples")
    if samples.metadata.get(METADATA_KEY, UNCALIBRATED) not in ("", UNCALIBRATED):
        raise CalibrationError(
            f"recording is already calibrated ({samples.metadata[METADATA_KEY]}); "
            "calibrate from raw data")
    rate_hz = (len(samples) - 1) / samples.duration_s if samples.duration_s > 0 else 1.0
    session = CalibrationSession(device, sensor_model=sensor_model, created_utc=created_utc,
                                 limits=limits, still_s=still_s, hold_s=hold_s)
    session.start()
    for block in samples.chunks(max(1, round(block_s * rate_hz))):
        session.feed(block)
        if session.done:
            break
    if session.profile is not None:
        return session.profile
    raise CalibrationError(incomplete_reason(session))


def incomplete_reason(session: CalibrationSession) -> str:
    """One line naming every step ``session`` has not completed, and why."""
    problems: list[str] = []
    if not session.still_done:
        why = session.rejections.get(None, f"no still period of {session.still_s:.0f} s found")
        problems.append(f"gyro still period: {why}")
    for pose in session.missing:
        why = session.rejections.get(pose, f"not found (no {session.hold_s:.0f} s hold with "
                                           f"{pose.label})")
        problems.append(f"{pose.label}: {why}")
    return "calibration incomplete: " + "; ".join(problems)


def apply_calibration(samples: Samples, profile: CalibrationProfile | None) -> Samples:
    """``samples`` corrected by ``profile``; unchanged when ``profile`` is None.

    Data whose metadata already names ``profile`` is returned as it is (it was corrected
    when recorded); data naming another profile raises CalibrationError, so nothing is
    ever corrected twice.
    """
    if profile is None:
        return samples
    done = samples.metadata.get(METADATA_KEY, UNCALIBRATED)
    if done == profile.profile_id:
        return samples
    if done not in ("", UNCALIBRATED):
        raise CalibrationError(
            f"data already calibrated with profile {done}; not applying {profile.profile_id} "
            "(use --calibration none)")
    return profile.apply(samples)


# --- simulated recordings of the procedure ---------------------------------------------

_POSE_ROTVEC: Mapping[Pose, Vec3] = {
    # Sensor-to-world rotations that turn each pose's axis to world up (+z).
    Pose.Z_UP: (0.0, 0.0, 0.0),
    Pose.Z_DOWN: (math.pi, 0.0, 0.0),
    Pose.X_UP: (0.0, -math.pi / 2, 0.0),
    Pose.X_DOWN: (0.0, math.pi / 2, 0.0),
    Pose.Y_UP: (math.pi / 2, 0.0, 0.0),
    Pose.Y_DOWN: (-math.pi / 2, 0.0, 0.0),
}


def simulate_poses(  # noqa: PLR0917 -- positional order fixed by the tests' and docs' calls
    bias_g: Sequence[float] = (0.0, 0.0, 0.0),
    scale: Sequence[float] = (1.0, 1.0, 1.0),
    gyro_bias_dps: Sequence[float] | None = (0.0, 0.0, 0.0),
    rate_hz: float = 100.0,
    seed: int = 0,
    noise_g: float = 0.002,
    *,
    gyro_noise_dps: float = 0.05,
    tilt_deg_max: float = 2.0,
    tilt_deg: Mapping[Pose, float] | None = None,
    moved: Collection[Pose] = (),
    still_s: float = 10.0,
    hold_s: float = 3.0,
    transition_s: float = 2.0,
    order: Sequence[Pose] = PROCEDURE_ORDER,
) -> Samples:
    """A recording of the calibration procedure with a known sensor error.

    The sensor lies still with ``order[0]`` up for ``still_s`` plus one hold, then is turned
    (``transition_s``, with some lift) into each further pose and held there. Each pose is
    off flat by a random tilt up to ``tilt_deg_max`` (or exactly ``tilt_deg[pose]``), and
    the poses in ``moved`` wobble (about 8 deg at 1.3 Hz) instead of lying still. Readings
    follow the module's sensor model with the given bias, scale and gyro bias, plus white
    noise. ``gyro_bias_dps=None`` simulates a sensor without a gyro.
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / rate_hz
    margin_s = 1.5  # settling (1 s by default) plus slack, before and after each hold
    chunks: list[Rotation] = []
    lift_g: list[float] = []
    wobble: list[bool] = []
    for i, pose in enumerate(order):
        tilt = (tilt_deg or {}).get(pose, rng.uniform(0.0, tilt_deg_max))
        heading = rng.uniform(0, 2 * math.pi)
        tilt_axis = np.array([math.cos(heading), math.sin(heading), 0.0])
        yaw = Rotation.from_rotvec([0.0, 0.0, rng.uniform(-math.pi, math.pi)])
        rot = (Rotation.from_rotvec(tilt_axis * math.radians(tilt)) * yaw
               * Rotation.from_rotvec(_POSE_ROTVEC[pose]))
        hold_n = round((hold_s + 2 * margin_s + (still_s if i == 0 else 0.0)) / dt)
        if chunks:
            trans_n = round(transition_s / dt)
            u = (1 - np.cos(np.pi * np.arange(1, trans_n + 1) / trans_n)) / 2
            slerp = Slerp([0.0, 1.0], Rotation.concatenate([chunks[-1][-1], rot]))
            chunks.append(slerp(u))
            lift_g.extend((0.15 * np.sin(2 * np.pi * u)).tolist())
            wobble.extend([False] * trans_n)
        chunks.append(Rotation.from_quat(np.tile(rot.as_quat(), (hold_n, 1))))
        lift_g.extend([0.0] * hold_n)
        wobble.extend([pose in moved] * hold_n)
    r_all = Rotation.concatenate(chunks)
    n = len(r_all)
    t = np.arange(n, dtype=np.float64) * dt
    angle = np.where(np.array(wobble), math.radians(8.0) * np.sin(2 * np.pi * 1.3 * t), 0.0)
    r_all = Rotation.from_rotvec(np.outer(angle, [1.0, 0.0, 0.0])) * r_all
    specific_force_world = np.column_stack([np.zeros(n), np.zeros(n), 1.0 + np.array(lift_g)])
    acc_true = r_all.inv().apply(specific_force_world)
    acc = np.asarray(np.asarray(scale, dtype=float) * acc_true
                     + np.asarray(bias_g, dtype=float) + rng.normal(0.0, noise_g, (n, 3)),
                     dtype=np.float64)
    gyro: FloatArray | None = None
    if gyro_bias_dps is not None:
        rel = r_all[:-1].inv() * r_all[1:]
        omega = np.degrees(rel.as_rotvec()) / dt
        omega = np.vstack([omega, omega[-1:]])
        gyro = omega + np.asarray(gyro_bias_dps, dtype=float) + rng.normal(
            0.0, gyro_noise_dps, (n, 3))
    metadata = {"sensor": "simulated", "fs": f"{rate_hz:g}", METADATA_KEY: UNCALIBRATED}
    return Samples(t, acc, gyro, metadata)
