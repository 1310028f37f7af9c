"""Independent test sessions: an IMU session generator written apart from the lead's simulator.

Written from the product spec's definitions and physics only, so the engine can be measured on
"sessions nobody here wrote". Nothing here is shared with ``sensor.simulate``.

Model, in short (world frame: x forward, y left = medio-lateral, z up; metres, seconds, radians):
- The moving point (the hip for a hip mount, the bar or the wrist for a bar mount) follows
  six tracks: position x, y, z and segment yaw, pitch (about the medio-lateral axis), roll.
  Each track is built from velocity "moves" (a shape over a window, scaled so the displacement
  is exact), windowed oscillations (walking, sway) and impacts (short damped acceleration
  spikes that do not move the body).
- Rep velocity shapes are raised-cosine, trapezoidal (raised-cosine ramps) or skewed bells
  ``s^a (1 - s)^b`` (fast start, slow lockout), optionally with a sticking point (a Gaussian
  dip in speed that stays above 12 % of the peak).
- Truth is computed by the spec's definitions on the true vertical speed: the phase
  boundaries are where the speed crosses 5 % of that rep's peak concentric speed.
- The sensor: any mounting orientation, a causal 2nd-order anti-alias filter, bias, scale,
  cross-axis misalignment, white noise, 16-bit quantisation, timestamp jitter, dropped
  packet bursts, duplicated rows, a random time origin. Specific force in g with gravity,
  angular rate in deg/s, in the sensor's axes.

``make_session(seed)`` returns ``(Samples, truth)``; truth has the lead's truth keys
(``first_leg``, ``pause_s``, ``lift``, ``mount``, ``top_start``, ``rate_hz``, ``with_gyro``,
``sets``, ``legs``, ``asymmetry``). Asymmetry truth: index over 15 % on the true per-leg means;
sessions whose index lands in the ambiguous band (10-21 %, or over 15 % but within 3 standard
errors of the rep-to-rep noise) are redrawn, so every flag is clear-cut.

    python bench/alt_sessions.py 7 /tmp/alt7.csv --truth /tmp/alt7.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, sosfilt
from scipy.spatial.transform import Rotation

from sensor.samples import Samples

FloatArray = NDArray[np.float64]
Shape = Callable[[FloatArray], FloatArray]

G0_MPS2 = 9.80665
FINE_HZ = 1000.0
RATES_HZ = (12.5, 20.0, 26.0, 50.0, 60.0, 100.0, 104.0, 200.0, 208.0, 400.0)
THRESHOLD_FRACTION = 0.05  # the spec's phase boundary: 5 % of the rep's peak concentric speed
ASYM_THRESHOLD_PCT = 15.0
GRAY_BAND_PCT = (10.0, 21.0)  # redraw sessions whose true index is this close to the threshold
X, Y, Z, YAW, PITCH, ROLL = range(6)
OTHER_LIFTS = ("squat", "deadlift", "row", "press", "curl")
METRICS = ("concentric_s", "hold_s", "eccentric_s")


# ----------------------------------------------------------------------------- shapes
def cos_shape() -> Shape:
    """Raised cosine bell, symmetric."""
    return lambda s: 1.0 - np.cos(2.0 * np.pi * s)


def bell_shape(a: float, b: float) -> Shape:
    """Skewed bell ``s^a (1-s)^b``: peak at ``a/(a+b)``; a < b is a fast start, slow finish."""
    return lambda s: np.clip(s, 0.0, 1.0) ** a * np.clip(1.0 - s, 0.0, 1.0) ** b


def trap_shape(ramp: float) -> Shape:
    """Trapezoid with raised-cosine ramps of ``ramp`` (fraction of the window) at each end."""

    def f(s: FloatArray) -> FloatArray:
        up = 0.5 * (1.0 - np.cos(np.pi * np.clip(s / ramp, 0.0, 1.0)))
        down = 0.5 * (1.0 - np.cos(np.pi * np.clip((1.0 - s) / ramp, 0.0, 1.0)))
        out: FloatArray = np.minimum(up, down)
        return out

    return f


def with_sticking(base: Shape, s0: float, width: float, depth: float) -> Shape:
    """A sticking point: a Gaussian dip of relative ``depth`` at ``s0``, kept above 12 % of peak."""
    grid = np.linspace(0.0, 1.0, 2001)
    g = base(grid)
    dip = np.exp(-0.5 * ((grid - s0) / width) ** 2)
    # the dip must not take the speed under 12 % of the (undipped) peak inside the rep
    inner = (grid > 0.15) & (grid < 0.85)
    limit = np.min(np.where(inner & (dip > 0.05), (1.0 - 0.12 * g.max() / np.maximum(g, 1e-9))
                            / np.maximum(dip, 1e-9), np.inf))
    d = float(min(depth, max(0.0, limit)))
    return lambda s: base(s) * (1.0 - d * np.exp(-0.5 * ((s - s0) / width) ** 2))


def random_shape(rng: np.random.Generator, *, concentric: bool, sticking_p: float) -> Shape:
    """One of the rep velocity shapes; concentric ones lean towards a fast start."""
    kind = rng.choice(["cos", "bell", "trap"], p=[0.3, 0.45, 0.25])
    base: Shape
    if kind == "cos":
        base = cos_shape()
    elif kind == "bell":
        a = float(rng.uniform(1.6, 2.4))
        b = float(rng.uniform(2.6, 4.5)) if concentric else float(rng.uniform(1.6, 3.0))
        base = bell_shape(a, b)
    else:
        base = trap_shape(float(rng.uniform(0.2, 0.45)))
    if concentric and rng.random() < sticking_p:
        base = with_sticking(base, float(rng.uniform(0.45, 0.7)), float(rng.uniform(0.05, 0.1)),
                             float(rng.uniform(0.2, 0.6)))
    return base


# ----------------------------------------------------------------------------- timeline
@dataclass
class Move:
    t0_s: float
    dur_s: float
    shape: Shape
    deltas: dict[int, float]
    label: str = ""  # what the move is (for diagnostics: which nuisance made a phantom rep)


@dataclass
class Wiggle:
    """Windowed position offsets (zero at both ends): walking, sway."""

    t0_s: float
    dur_s: float
    offsets: Callable[[FloatArray], dict[int, FloatArray]]  # local time (s) -> track offsets
    label: str = "sway"


@dataclass
class Impact:
    t_s: float
    amp_g: float
    freq_hz: float
    tau_s: float
    direction: tuple[float, float, float]  # world frame, unit
    gyro_dps: float


@dataclass
class RepWindow:
    set_index: int
    conc: tuple[float, float]
    ecc: tuple[float, float]


@dataclass
class Timeline:
    start: tuple[float, ...]  # initial x, y, z, yaw, pitch, roll
    t_s: float = 0.0
    moves: list[Move] = field(default_factory=list)
    wiggles: list[Wiggle] = field(default_factory=list)
    impacts: list[Impact] = field(default_factory=list)
    reps: list[RepWindow] = field(default_factory=list)
    level: list[float] = field(default_factory=list)  # current planned x..roll

    def __post_init__(self) -> None:
        self.level = list(self.start)

    def move(self, dur_s: float, deltas: dict[int, float], shape: Shape | None = None,
             *, advance: bool = True, at_s: float | None = None, label: str = "") -> None:
        t0 = self.t_s if at_s is None else at_s
        self.moves.append(Move(t0, dur_s, shape or cos_shape(), deltas, label))
        for k, d in deltas.items():
            self.level[k] += d
        if advance:
            self.t_s = t0 + dur_s

    def wait(self, dur_s: float) -> None:
        self.t_s += dur_s

    def impact(self, rng: np.random.Generator, amp_g: float, *, vertical: bool,
               at_s: float | None = None) -> None:
        if vertical:
            d = np.array([rng.normal(0, 0.2), rng.normal(0, 0.2), 1.0])
        else:
            d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        self.impacts.append(Impact(self.t_s if at_s is None else at_s, amp_g,
                                   float(rng.uniform(12, 45)), float(rng.uniform(0.008, 0.03)),
                                   (float(d[0]), float(d[1]), float(d[2])),
                                   float(rng.uniform(5, 60))))


def sway(rng: np.random.Generator, dur_s: float, amps: dict[int, float]) -> Wiggle:
    """Slow low-amplitude sway, a sum of two sines per track, windowed to zero at the ends."""
    params = {k: (a, rng.uniform(0.1, 0.6, 2), rng.uniform(0, 2 * np.pi, 2))
              for k, a in amps.items()}

    def offsets(t: FloatArray) -> dict[int, FloatArray]:
        w = window(t, dur_s, 0.4)
        return {k: a * w * 0.5 * (np.sin(2 * np.pi * f[0] * t + p[0])
                                  + np.sin(2 * np.pi * f[1] * t + p[1]))
                for k, (a, f, p) in params.items()}

    return Wiggle(0.0, dur_s, offsets)


def window(t: FloatArray, dur_s: float, edge_s: float) -> FloatArray:
    """Raised-cosine fade in and out over ``edge_s`` at each end of ``[0, dur_s]``."""
    e = max(1e-3, min(edge_s, dur_s / 2))
    up = 0.5 * (1 - np.cos(np.pi * np.clip(t / e, 0, 1)))
    down = 0.5 * (1 - np.cos(np.pi * np.clip((dur_s - t) / e, 0, 1)))
    out: FloatArray = up * down
    return out


def add_sway(tl: Timeline, rng: np.random.Generator, dur_s: float, amps: dict[int, float]) -> None:
    if dur_s > 0.3:
        w = sway(rng, dur_s, amps)
        w.t0_s = tl.t_s
        tl.wiggles.append(w)


def walk(tl: Timeline, rng: np.random.Generator, dur_s: float, *, bob_m: float,
         speed_mps: float, hip: bool) -> None:
    """Walking: vertical bob at the step rate, lateral sway at half of it, heel strikes.

    The forward progression follows the current yaw, with one or two turns.
    """
    step_hz = float(rng.uniform(1.6, 2.1))
    n_legs = int(rng.integers(1, 3))
    leg_s = dur_s / n_legs
    for _ in range(n_legs):
        turn = float(rng.uniform(-np.pi, np.pi))
        tl.move(0.8, {YAW: turn}, advance=False, label="walk")
        yaw = tl.level[YAW]
        d = speed_mps * leg_s
        tl.move(leg_s, {X: d * math.cos(yaw), Y: d * math.sin(yaw)}, trap_shape(0.15),
                advance=False, label="walk")
        tl.t_s += leg_s
    t0 = tl.t_s - dur_s
    ph = rng.uniform(0, 2 * np.pi, 4)
    ang = np.radians([rng.uniform(2, 5), rng.uniform(2, 5), rng.uniform(1, 3)]) if hip else \
        np.radians([0.5, 0.5, 0.5])

    def offsets(t: FloatArray) -> dict[int, FloatArray]:
        w = window(t, dur_s, 0.6)
        s = 2 * np.pi * step_hz * t
        return {Z: bob_m * w * np.sin(s + ph[0]),
                Y: 0.6 * bob_m * w * np.sin(0.5 * s + ph[1]),
                YAW: ang[0] * w * np.sin(0.5 * s + ph[2]),
                ROLL: ang[1] * w * np.sin(0.5 * s + ph[3]),
                PITCH: ang[2] * w * np.sin(s + ph[0])}

    tl.wiggles.append(Wiggle(t0, dur_s, offsets, "walk"))
    n_steps = int(dur_s * step_hz)
    for i in range(1, n_steps):
        tl.impact(rng, float(rng.uniform(0.15, 0.6) if hip else rng.uniform(0.05, 0.2)),
                  vertical=True, at_s=t0 + i / step_hz)


# ----------------------------------------------------------------------------- athlete
@dataclass
class RepPlan:
    conc_s: float
    hold_s: float
    ecc_s: float
    bottom_s: float
    rom_m: float
    conc_shape: Shape
    ecc_shape: Shape
    touch_g: float  # impact at the bottom (bar touching the floor), 0 for none


@dataclass
class LiftStyle:
    """Per-lift kinematics: ranges of durations (s), ROM (m) and rotation per metre (deg/m)."""

    rom_m: tuple[float, float]
    conc_s: tuple[float, float]
    ecc_s: tuple[float, float]
    hold_s: tuple[float, float]
    bottom_s: tuple[float, float]
    pitch_deg_per_m: tuple[float, float]
    x_per_m: tuple[float, float]
    touch_p: float
    top_start: bool = False


LIFT_STYLES: dict[str, LiftStyle] = {
    "hip_thrust_bar": LiftStyle((0.2, 0.36), (0.9, 1.8), (0.9, 2.4), (0.4, 2.0), (0.05, 2.0),
                                (-15.0, 15.0), (-0.2, 0.2), 0.35),
    "squat": LiftStyle((0.4, 0.6), (0.8, 2.0), (1.0, 2.5), (0.5, 2.0), (0.05, 1.0),
                       (-8.0, 8.0), (-0.1, 0.1), 0.0, top_start=True),
    "deadlift": LiftStyle((0.45, 0.6), (0.9, 2.0), (0.8, 1.6), (0.4, 1.5), (0.05, 2.0),
                          (-8.0, 8.0), (-0.15, 0.15), 0.9),
    "row": LiftStyle((0.33, 0.45), (0.4, 0.8), (0.6, 1.1), (0.1, 0.5), (0.4, 1.5),
                     (-10.0, 10.0), (-0.2, 0.2), 0.9),
    "press": LiftStyle((0.42, 0.55), (0.8, 2.0), (0.8, 1.8), (0.3, 1.5), (0.2, 1.0),
                       (-6.0, 6.0), (-0.2, 0.2), 0.0),
    "curl": LiftStyle((0.0, 0.0), (0.7, 1.6), (0.9, 2.0), (0.2, 1.2), (0.2, 1.0),
                      (0.0, 0.0), (0.0, 0.0), 0.0),
}


def lognorm(rng: np.random.Generator, sd: float) -> float:
    return float(math.exp(rng.normal(0.0, sd)))


@dataclass
class AthletePlan:
    """Session-level athlete parameters; the weak leg scales the phases by ``weak``."""

    conc_s: float
    ecc_s: float
    hold_s: float
    bottom_s: tuple[float, float]
    rom_m: float
    hold_style: str  # pause | normal | bounce
    fatigue: float
    sticking_p: float
    weak_leg: str | None
    weak: dict[str, float]
    touch_p: float
    jitter: float

    def reps(self, rng: np.random.Generator, leg: str, n: int, *, bar_floor: bool) -> list[RepPlan]:
        out = []
        w = self.weak if leg == self.weak_leg else {}
        for i in range(n):
            prog = i / max(1, n - 1)
            tired = 1.0 + self.fatigue * prog**1.5
            conc = self.conc_s * w.get("concentric_s", 1.0) * tired * lognorm(rng, self.jitter)
            ecc = self.ecc_s * w.get("eccentric_s", 1.0) * (1 + 0.3 * (tired - 1)) \
                * lognorm(rng, self.jitter)
            if self.hold_style == "pause":
                hold = rng.uniform(2.2, 2.8) if rng.random() < 0.12 else rng.normal(3.25, 0.2)
            elif self.hold_style == "bounce":
                hold = rng.uniform(0.0, 0.06)
            else:
                hold = self.hold_s * lognorm(rng, self.jitter)
            hold = max(0.0, float(hold) * w.get("hold_s", 1.0))
            lo, hi = self.bottom_s
            bottom = 0.05 if hi <= 0.06 else float(rng.uniform(lo, hi))
            rom = self.rom_m * (1.0 - 0.08 * prog * self.fatigue / 0.3) * lognorm(rng, 0.03)
            touch = float(rng.uniform(0.3, 2.0)) if bar_floor and rng.random() < self.touch_p \
                else 0.0
            out.append(RepPlan(conc, hold, ecc, bottom, rom,
                               random_shape(rng, concentric=True, sticking_p=self.sticking_p),
                               random_shape(rng, concentric=False, sticking_p=0.0), touch))
        return out


def draw_athlete(rng: np.random.Generator, style: LiftStyle, *, hip_thrust: bool,
                 rom_m: float) -> AthletePlan:
    hold_style = "normal"
    if hip_thrust:
        hold_style = str(rng.choice(["pause", "normal", "bounce"], p=[0.35, 0.4, 0.25]))
    weak_leg = None
    weak: dict[str, float] = {}
    if hip_thrust and rng.random() < 0.5:
        weak_leg = str(rng.choice(["left", "right"]))
        if rng.random() < 0.8:
            weak["concentric_s"] = float(rng.uniform(1.3, 1.7))
        if rng.random() < 0.4:
            weak["eccentric_s"] = float(rng.uniform(1.3, 1.6))
        if hold_style != "bounce" and rng.random() < 0.3:
            weak["hold_s"] = float(rng.uniform(0.55, 0.72))
        if not weak:
            weak["concentric_s"] = float(rng.uniform(1.3, 1.7))
    b_lo, b_hi = style.bottom_s
    bottom = (0.05, 0.06) if rng.random() < 0.25 else (b_lo, float(rng.uniform(b_lo + 0.1, b_hi)))
    return AthletePlan(
        conc_s=float(rng.uniform(*style.conc_s)),
        ecc_s=float(rng.uniform(*style.ecc_s)),
        hold_s=float(rng.uniform(*style.hold_s)),
        bottom_s=bottom,
        rom_m=rom_m,
        hold_style=hold_style,
        fatigue=float(rng.uniform(0.0, 0.3)),
        sticking_p=float(rng.uniform(0.0, 0.6)),
        weak_leg=weak_leg,
        weak=weak,
        touch_p=style.touch_p,
        jitter=float(rng.uniform(0.03, 0.08)),
    )


def do_reps(tl: Timeline, rng: np.random.Generator, set_index: int, plans: list[RepPlan], *,
            coef: dict[int, float], drift_m: float, top_start: bool) -> None:
    """Append the reps; ``coef`` maps a track to its change per metre of rise."""
    for k, rp in enumerate(plans):
        def deltas(dz: float, drift: float) -> dict[int, float]:
            d = {Z: dz, **{tr: c * dz for tr, c in coef.items()}}
            d[X] = d.get(X, 0.0) + drift
            return d

        drift = float(rng.normal(0, drift_m))
        if top_start:
            e0 = tl.t_s
            tl.move(rp.ecc_s, deltas(-rp.rom_m, -drift), rp.ecc_shape, label="rep")
            if rp.touch_g:
                tl.impact(rng, rp.touch_g, vertical=True)
            tl.wait(rp.bottom_s)
            c0 = tl.t_s
            tl.move(rp.conc_s, deltas(rp.rom_m, drift), rp.conc_shape, label="rep")
            tl.reps.append(RepWindow(set_index, (c0, tl.t_s), (e0, e0 + rp.ecc_s)))
            if k < len(plans) - 1:
                stand = float(rng.uniform(0.4, 1.5))
                add_sway(tl, rng, stand, {X: 0.004, Z: 0.001})
                tl.wait(stand)
        else:
            c0 = tl.t_s
            tl.move(rp.conc_s, deltas(rp.rom_m, drift), rp.conc_shape, label="rep")
            c1 = tl.t_s
            peak = 2.0 * rp.rom_m / rp.conc_s  # rough peak speed, m/s
            # hold sway: vertical speed amplitude well under the 5 % threshold
            z_amp = 0.25 * THRESHOLD_FRACTION * peak / (2 * np.pi * 0.6)
            add_sway(tl, rng, rp.hold_s, {Z: z_amp, ROLL: math.radians(1.0), X: 0.003})
            tl.wait(rp.hold_s)
            e0 = tl.t_s
            tl.move(rp.ecc_s, deltas(-rp.rom_m, -drift), rp.ecc_shape, label="rep")
            tl.reps.append(RepWindow(set_index, (c0, c1), (e0, tl.t_s)))
            if rp.touch_g:
                tl.impact(rng, rp.touch_g, vertical=True)
            if k < len(plans) - 1:
                tl.wait(rp.bottom_s)


def fidget(tl: Timeline, rng: np.random.Generator, dur_s: float, *, hip: bool) -> None:
    """Shifting and adjusting while seated (hip) or nudging the bar: small moves and sway."""
    end = tl.t_s + dur_s
    while tl.t_s < end - 2.5:
        kind = rng.random()
        if kind < 0.4:  # lift the hips a little and set them down (scooting)
            h = float(rng.uniform(0.02, 0.06) if hip else rng.uniform(0.01, 0.04))
            d = float(rng.uniform(0.3, 0.8))
            tl.move(d, {Z: h, PITCH: math.radians(rng.uniform(-6, 6))}, label="scoot")
            tl.move(d, {Z: -h, X: float(rng.normal(0, 0.05))}, label="scoot")
            if not hip and rng.random() < 0.5:
                tl.impact(rng, float(rng.uniform(0.2, 1.0)), vertical=True)
        elif kind < 0.7:  # slide, twist
            tl.move(float(rng.uniform(0.5, 1.5)),
                    {X: float(rng.normal(0, 0.06)), Y: float(rng.normal(0, 0.04)),
                     YAW: math.radians(rng.normal(0, 8)),
                     PITCH: math.radians(rng.normal(0, 8 if hip else 20))}, label="slide")
        else:
            tl.impact(rng, float(rng.uniform(0.1, 0.8)), vertical=False)
        rest = float(rng.uniform(0.5, 4.0))
        add_sway(tl, rng, rest, {Z: 0.002, X: 0.004, PITCH: math.radians(1)})
        tl.wait(rest)
    if tl.t_s < end:
        add_sway(tl, rng, end - tl.t_s, {Z: 0.002, X: 0.004})
        tl.t_s = end


# ----------------------------------------------------------------------------- sessions
@dataclass
class Plan:
    tl: Timeline
    lift: str
    mount: str
    top_start: bool
    pause_s: float | None
    first_leg: str
    set_legs: list[str]
    arc: bool = False  # curl: z is computed from the forearm angle (pitch track)
    forearm_m: float = 0.3


def legs_for(first: str, n: int) -> list[str]:
    other = "right" if first == "left" else "left"
    return [first if i % 2 == 0 else other for i in range(n)]


def hip_thrust_session(rng: np.random.Generator, mount: str) -> Plan:
    first = str(rng.choice(["left", "right"]))
    n_sets = int(rng.integers(2, 7))
    set_legs = legs_for(first, n_sets)
    hip = mount == "hip"
    stand_z = float(rng.uniform(0.85, 1.0))
    drop = float(rng.uniform(0.4, 0.6))
    sit_pitch = math.radians(rng.uniform(-50, -30))
    style = LIFT_STYLES["hip_thrust_bar"]
    ath = draw_athlete(rng, style, hip_thrust=True, rom_m=float(rng.uniform(0.22, 0.38)))
    pause_s = 3.0 if ath.hold_style == "pause" else None
    if hip:
        rot_deg = float(rng.uniform(20, 60))
        tl = Timeline((0.0, 0.0, stand_z, float(rng.uniform(-np.pi, np.pi)), 0.0, 0.0))
        add_sway(tl, rng, 2.0, {Z: 0.003, X: 0.01})
        tl.wait(float(rng.uniform(1, 4)))
        walk(tl, rng, float(rng.uniform(5, 15)), bob_m=float(rng.uniform(0.01, 0.025)),
             speed_mps=float(rng.uniform(0.8, 1.3)), hip=True)
        tl.wait(float(rng.uniform(1, 3)))
    else:
        rot_deg = float(rng.uniform(-8, 8))
        plate_r = float(rng.uniform(0.2, 0.225))
        tl = Timeline((0.0, 0.0, plate_r, float(rng.uniform(-np.pi, np.pi)), 0.0, 0.0))
        tl.wait(float(rng.uniform(1, 3)))
        load_plates(tl, rng, int(rng.integers(1, 4)))
    sit_down(tl, rng, hip=hip, drop=drop, pitch=sit_pitch)
    if not hip:
        roll_bar(tl, rng, up=True)
    fidget(tl, rng, float(rng.uniform(4, 15)), hip=hip)
    for si, leg in enumerate(set_legs):
        n = int(rng.integers(4, 13))
        plans = ath.reps(rng, leg, n, bar_floor=not hip)
        tilt = math.radians(rng.uniform(0, 8)) * (1 if leg == "left" else -1)
        coef = {PITCH: math.radians(rot_deg) / ath.rom_m, ROLL: tilt / ath.rom_m,
                X: float(rng.uniform(0.15, 0.45))}
        do_reps(tl, rng, si, plans, coef=coef, drift_m=0.005 if hip else 0.02, top_start=False)
        settle = float(rng.uniform(0.5, 2.0))
        add_sway(tl, rng, settle, {Z: 0.001})
        tl.wait(settle)
        if si == n_sets - 1:
            break
        rest = float(rng.uniform(20, 90))
        end = tl.t_s + rest
        if rng.random() < 0.45 and rest > 25:  # stand up, walk around, sit back down
            if hip:
                stand_up(tl, rng, hip=True, rise=drop, pitch=-sit_pitch)
                walk(tl, rng, float(rng.uniform(4, max(5, rest - 18))),
                     bob_m=float(rng.uniform(0.01, 0.025)),
                     speed_mps=float(rng.uniform(0.6, 1.2)), hip=True)
                sit_down(tl, rng, hip=True, drop=drop, pitch=sit_pitch)
            else:  # roll the bar off, get up, come back, roll it on again
                roll_bar(tl, rng, up=False)
                add_sway(tl, rng, rest - 15, {Z: 0.0005})
                tl.wait(max(1.0, rest - 15))
                if rng.random() < 0.5:
                    load_plates(tl, rng, 1)
                roll_bar(tl, rng, up=True)
        fidget(tl, rng, max(3.0, end - tl.t_s), hip=hip)
    if not hip:
        roll_bar(tl, rng, up=False)
        fidget(tl, rng, float(rng.uniform(3, 8)), hip=False)
        load_plates(tl, rng, int(rng.integers(1, 3)))
    else:
        fidget(tl, rng, float(rng.uniform(3, 8)), hip=True)
        stand_up(tl, rng, hip=True, rise=drop, pitch=-sit_pitch)
        walk(tl, rng, float(rng.uniform(3, 10)), bob_m=0.02, speed_mps=1.0, hip=True)
    tl.wait(2.0)
    return Plan(tl, "hip_thrust", mount, False, pause_s, first, set_legs)


def sit_down(tl: Timeline, rng: np.random.Generator, *, hip: bool, drop: float,
             pitch: float) -> None:
    """Lower onto the floor with the back to the bench: the hip drops with a big pelvis rotation."""
    if not hip:
        tl.wait(float(rng.uniform(2, 4)))
        tl.impact(rng, float(rng.uniform(0.1, 0.4)), vertical=True)  # the body lands nearby
        return
    d = float(rng.uniform(1.2, 2.5))
    tl.move(d, {Z: -drop, PITCH: pitch, X: float(rng.uniform(-0.3, 0.0))},
            bell_shape(float(rng.uniform(1.5, 2.5)), float(rng.uniform(1.5, 2.5))),
            label="sit_down")
    tl.impact(rng, float(rng.uniform(0.5, 1.5)), vertical=True)
    tl.wait(float(rng.uniform(0.5, 2.0)))


def stand_up(tl: Timeline, rng: np.random.Generator, *, hip: bool, rise: float,
             pitch: float) -> None:
    if not hip:
        tl.wait(float(rng.uniform(2, 4)))
        return
    d = float(rng.uniform(1.2, 2.5))
    tl.move(d, {Z: rise, PITCH: pitch, X: float(rng.uniform(0.0, 0.3))},
            bell_shape(float(rng.uniform(1.5, 2.5)), float(rng.uniform(1.5, 2.5))),
            label="stand_up")
    tl.wait(float(rng.uniform(0.5, 2.0)))


def roll_bar(tl: Timeline, rng: np.random.Generator, *, up: bool) -> None:
    """Roll the loaded bar over the thighs: a small lift and a large rotation about its axis."""
    dist = float(rng.uniform(0.4, 0.8)) * (1 if up else -1)
    lift = float(rng.uniform(0.05, 0.1))
    d = float(rng.uniform(2.0, 4.0))
    # the plates roll: rotation = distance / plate radius (about the bar's axis = y)
    tl.move(d, {X: dist, PITCH: -dist / 0.22}, trap_shape(0.3), advance=False,
            label="roll_bar")
    settle = float(rng.uniform(0.0, 0.04)) * (1 if up else -1)
    tl.move(d / 2, {Z: lift}, label="roll_bar")
    tl.move(d / 2, {Z: -lift + settle}, label="roll_bar")
    tl.impact(rng, float(rng.uniform(0.2, 0.8)), vertical=True)
    tl.wait(float(rng.uniform(0.5, 2)))


def load_plates(tl: Timeline, rng: np.random.Generator, n: int) -> None:
    """Slide plates on: lift the bar end a few cm, impacts, a jolt of rotation, set it down."""
    for _ in range(n):
        h = float(rng.uniform(0.02, 0.06))
        tl.move(float(rng.uniform(0.4, 0.8)), {Z: h, ROLL: math.radians(rng.uniform(-4, 4))},
                label="load_plates")
        tl.impact(rng, float(rng.uniform(0.5, 3.0)), vertical=False)
        tl.wait(float(rng.uniform(0.3, 1.0)))
        tl.impact(rng, float(rng.uniform(0.5, 3.0)), vertical=False)
        tl.move(float(rng.uniform(0.3, 0.6)), {Z: -h, ROLL: -tl.level[ROLL]},
                label="load_plates")
        tl.impact(rng, float(rng.uniform(0.5, 2.0)), vertical=True)
        tl.move(0.6, {PITCH: math.radians(rng.normal(0, 15))}, label="load_plates")
        tl.wait(float(rng.uniform(1.0, 4.0)))


def walkout(tl: Timeline, rng: np.random.Generator, *, back: bool, rack_z: float) -> None:
    """Unrack (5 cm up) and step back, or step forward and re-rack (back down to ``rack_z``)."""
    h = float(rng.uniform(0.04, 0.07)) if back else tl.level[Z] - rack_z
    if back:
        tl.move(float(rng.uniform(0.5, 1.0)), {Z: h}, label="unrack")
        tl.wait(float(rng.uniform(0.3, 1.0)))
    for _ in range(int(rng.integers(2, 5))):
        d = float(rng.uniform(0.45, 0.75))
        tl.move(d, {X: float(rng.uniform(0.1, 0.25)) * (-1 if back else 1),
                    YAW: math.radians(rng.normal(0, 2))}, trap_shape(0.4), advance=False,
                label="rack_step")
        dip = float(rng.uniform(0.005, 0.015))
        tl.move(d / 2, {Z: -dip}, label="rack_step")
        tl.move(d / 2, {Z: dip}, label="rack_step")
        tl.impact(rng, float(rng.uniform(0.05, 0.3)), vertical=True)
    if not back:
        tl.wait(float(rng.uniform(0.3, 1.0)))
        tl.move(float(rng.uniform(0.5, 1.0)), {Z: -h}, label="rerack")
        tl.impact(rng, float(rng.uniform(0.5, 2.0)), vertical=True)
    tl.wait(float(rng.uniform(1.0, 3.0)))


def other_lift_session(rng: np.random.Generator, lift: str) -> Plan:
    style = LIFT_STYLES[lift]
    first = str(rng.choice(["left", "right"]))
    n_sets = int(rng.integers(2, 7))
    set_legs = legs_for(first, n_sets)
    racked = lift in ("squat", "press")
    z0 = {"squat": 1.4, "press": 1.45, "deadlift": 0.225, "row": 0.225, "curl": 0.0}[lift]
    forearm = float(rng.uniform(0.27, 0.33))
    theta0 = math.radians(rng.uniform(5, 15))
    if lift == "curl":
        z0 = 1.0 - forearm * math.cos(theta0)
    rom = float(rng.uniform(*style.rom_m)) if lift != "curl" else math.radians(rng.uniform(90, 120))
    ath = draw_athlete(rng, style, hip_thrust=False, rom_m=rom)
    if lift == "curl":
        ath.rom_m = rom  # radians of forearm rotation; z follows the arc
    tl = Timeline((0.0, 0.0, z0, float(rng.uniform(-np.pi, np.pi)),
                   theta0 if lift == "curl" else 0.0, 0.0))
    tl.wait(float(rng.uniform(1, 3)))
    if lift != "curl":
        load_plates(tl, rng, int(rng.integers(1, 3)))
    for si, leg in enumerate(set_legs):
        if racked:
            walkout(tl, rng, back=True, rack_z=z0)
        n = int(rng.integers(4, 13))
        plans = ath.reps(rng, leg, n, bar_floor=lift in ("deadlift", "row"))
        coef = {PITCH: math.radians(rng.uniform(*style.pitch_deg_per_m)),
                X: float(rng.uniform(*style.x_per_m))}
        if lift == "curl":
            # the track Z carries the forearm angle here, converted to height after rendering
            coef = {}
        do_reps(tl, rng, si, plans, coef=coef, drift_m=0.0 if lift == "curl" else 0.01,
                top_start=style.top_start)
        if racked:
            tl.wait(float(rng.uniform(0.5, 1.5)))
            walkout(tl, rng, back=False, rack_z=z0)
        else:
            tl.wait(float(rng.uniform(1.0, 2.5)))
        if si == n_sets - 1:
            break
        rest = float(rng.uniform(20, 90))
        end = tl.t_s + rest
        if lift != "curl" and rng.random() < 0.4:
            tl.wait(float(rng.uniform(3, 8)))
            load_plates(tl, rng, 1)
        add_sway(tl, rng, max(1.0, end - tl.t_s),
                 {Z: 0.003, X: 0.01, PITCH: math.radians(3)} if lift == "curl" else {Z: 0.0005})
        tl.t_s = max(tl.t_s + 1.0, end)
    tl.wait(2.0)
    return Plan(tl, lift, "bar", style.top_start, None, first, set_legs, arc=lift == "curl",
                forearm_m=forearm)


# ----------------------------------------------------------------------------- rendering
@dataclass
class Motion:
    t_s: FloatArray  # fine grid, s
    pos: FloatArray  # (n, 6): x, y, z (m), yaw, pitch, roll (rad)
    vz_mps: FloatArray  # true vertical speed of the tracked point
    acc_world: FloatArray  # (n, 3) m/s^2, kinematic acceleration incl. impacts
    gyro_impulse: FloatArray  # (n,) deg/s magnitude of impact vibration, body frame later
    imp_dirs: FloatArray  # (n, 3) unit vector for gyro vibration


def render(plan: Plan, rng: np.random.Generator) -> Motion:
    tl = plan.tl
    n = math.ceil(tl.t_s * FINE_HZ) + 2
    dt = 1.0 / FINE_HZ
    t = np.asarray(np.arange(n) * dt, dtype=np.float64)
    vel = np.zeros((n, 6))
    for m in tl.moves:
        i0 = round(m.t0_s * FINE_HZ)
        i1 = min(n, i0 + max(2, round(m.dur_s * FINE_HZ)))
        s = (np.arange(i0, i1) - i0 + 0.5) / (i1 - i0)
        g = m.shape(s)
        g = g / (np.sum(g) * dt)
        for k, d in m.deltas.items():
            vel[i0:i1, k] += d * g
    for w in tl.wiggles:
        i0 = round(w.t0_s * FINE_HZ)
        i1 = min(n, i0 + max(2, round(w.dur_s * FINE_HZ)))
        loc = np.asarray((np.arange(i0, i1) - i0) * dt, dtype=np.float64)
        for k, off in w.offsets(loc).items():
            vel[i0:i1, k] += np.gradient(off, dt).astype(np.float64)
    pos = np.cumsum(vel, axis=0) * dt + np.asarray(tl.start)
    if plan.arc:  # curl: pitch is the forearm angle; the wrist height follows the arc
        theta = pos[:, Z] - tl.start[Z] + tl.start[PITCH]
        pos[:, PITCH] = theta
        pos[:, Z] = 1.0 - plan.forearm_m * np.cos(theta)
        pos[:, X] = plan.forearm_m * np.sin(theta)
        vel[:, Z] = np.gradient(pos[:, Z], dt)
        vel[:, X] = np.gradient(pos[:, X], dt)
        vel[:, PITCH] = 0.0
    acc = np.gradient(vel[:, :3], dt, axis=0).astype(np.float64)
    gyro_vib = np.zeros(n)
    dirs = np.zeros((n, 3))
    for imp in tl.impacts:
        i0 = round(imp.t_s * FINE_HZ)
        i1 = min(n, i0 + round(8 * imp.tau_s * FINE_HZ) + 1)
        if i0 >= n - 1:
            continue
        tt = (np.arange(i0, i1) - i0) * dt
        ring = np.exp(-tt / imp.tau_s) * np.sin(2 * np.pi * imp.freq_hz * tt)
        # the spike is the derivative of a ringing velocity that dies out: no net speed change
        # (a damped-sine acceleration would leave the body moving at ~0.1 m/s afterwards)
        ring[-1] = 0.0
        jolt = np.diff(ring, prepend=0.0) / dt / (2 * np.pi * imp.freq_hz)
        acc[i0:i1] += np.outer(jolt * imp.amp_g * G0_MPS2, imp.direction)
        gyro_vib[i0:i1] += ring * imp.gyro_dps
        dirs[i0:i1] = rng.normal(size=3)
    return Motion(t, pos, vel[:, Z].copy(), acc, gyro_vib, dirs)


# ----------------------------------------------------------------------------- truth
def _cross_back(v: FloatArray, t: FloatArray, ip: int, thr: float) -> float:
    """Last time before index ``ip`` where ``v`` rises through ``thr`` (interpolated)."""
    below = np.nonzero(v[:ip] < thr)[0]
    j = int(below[-1]) if below.size else 0
    return float(t[j] + (thr - v[j]) / (v[j + 1] - v[j]) * (t[j + 1] - t[j]))


def _cross_fwd(v: FloatArray, t: FloatArray, ip: int, thr: float) -> float:
    """First time after index ``ip`` where ``v`` falls through ``thr`` (interpolated)."""
    below = np.nonzero(v[ip:] < thr)[0]
    j = ip + int(below[0]) if below.size else len(v) - 1
    return float(t[j - 1] + (v[j - 1] - thr) / (v[j - 1] - v[j]) * (t[j] - t[j - 1]))


def truth_reps(motion: Motion, plan: Plan, t_origin: float) -> list[list[dict[str, float]]]:
    v, t = motion.vz_mps, motion.t_s
    per_set: list[list[dict[str, float]]] = [[] for _ in plan.set_legs]
    for rw in plan.tl.reps:
        c0, c1 = (round(x * FINE_HZ) for x in rw.conc)
        e0, e1 = (round(x * FINE_HZ) for x in rw.ecc)
        ip = c0 + int(np.argmax(v[c0:c1]))
        im = e0 + int(np.argmin(v[e0:e1]))
        thr = THRESHOLD_FRACTION * float(v[ip])
        t_start = _cross_back(v, t, ip, thr)
        t_lock = _cross_fwd(v, t, ip, thr)
        t_desc = _cross_back(-v, t, im, thr)
        t_bot = _cross_fwd(-v, t, im, thr)
        hold = 0.0 if plan.top_start else t_desc - t_lock
        rep = {"index": len(per_set[rw.set_index]),
               "t_start": t_start + t_origin, "t_lockout": t_lock + t_origin,
               "t_descent": t_desc + t_origin, "t_bottom": t_bot + t_origin,
               "concentric_s": t_lock - t_start, "hold_s": hold,
               "eccentric_s": t_bot - t_desc}
        per_set[rw.set_index].append(rep)
    return per_set


def asymmetry(per_set: list[list[dict[str, float]]], set_legs: list[str],
              top_start: bool) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Per-leg means, indices, flags; and whether the session is clear-cut (not gray)."""
    vals: dict[str, dict[str, list[float]]] = {
        leg: {m: [] for m in METRICS} for leg in ("left", "right")}
    for reps, leg in zip(per_set, set_legs, strict=True):
        for r in reps:
            for m in METRICS:
                vals[leg][m].append(r[m])
    legs = {leg: {"reps": len(vals[leg]["concentric_s"]),
                  **{m: float(np.mean(vals[leg][m])) if vals[leg][m] else 0.0 for m in METRICS}}
            for leg in ("left", "right")}
    out: dict[str, Any] = {"threshold_pct": ASYM_THRESHOLD_PCT}
    flags = []
    clear = True
    for m in METRICS:
        lm, rm = legs["left"][m], legs["right"][m]
        idx = abs(lm - rm) / ((lm + rm) / 2) * 100 if lm + rm > 0 else 0.0
        if top_start and m == "hold_s":
            idx = 0.0
        out[m.replace("_s", "_pct")] = idx
        a, b = np.asarray(vals["left"][m]), np.asarray(vals["right"][m])
        se = math.sqrt(float(np.var(a, ddof=1)) / a.size + float(np.var(b, ddof=1)) / b.size) \
            if a.size > 1 and b.size > 1 else 0.0
        if GRAY_BAND_PCT[0] <= idx <= GRAY_BAND_PCT[1]:
            clear = False
        if idx > ASYM_THRESHOLD_PCT:
            flags.append(m)
            if abs(lm - rm) < 3 * se:
                clear = False
    out["flags"] = flags
    return legs, out, clear


# ----------------------------------------------------------------------------- sensor
def sense(motion: Motion, rng: np.random.Generator, rate_hz: float, with_gyro: bool,
          t_origin: float, *, loss: float = 1.0, duplicates: bool = True) -> Samples:
    """Body -> sensor frame, anti-alias filter, sampling, errors, packets.

    ``loss`` scales the packet loss (0: none); ``duplicates`` allows repeated timestamps.
    """
    pos = motion.pos
    r_seg = Rotation.from_euler("ZYX", pos[:, [YAW, PITCH, ROLL]])
    r_mount = Rotation.random(random_state=int(rng.integers(2**31)))
    r_sens = r_seg * r_mount
    f_world = motion.acc_world / G0_MPS2 + np.array([0.0, 0.0, 1.0])
    acc = r_sens.inv().apply(f_world)
    dt = 1.0 / FINE_HZ
    rel = r_sens[:-1].inv() * r_sens[1:]
    gyro = np.degrees(rel.as_rotvec()) / dt
    gyro = np.vstack([gyro, gyro[-1:]])
    dirs = motion.imp_dirs / np.maximum(np.linalg.norm(motion.imp_dirs, axis=1, keepdims=True),
                                        1e-9)
    gyro += dirs * motion.gyro_impulse[:, None]
    # the sensor's own digital low-pass filter (causal, so it delays a little)
    fc = float(rng.uniform(0.2, 0.45)) * rate_hz
    sos = butter(2, min(fc, 0.45 * FINE_HZ), fs=FINE_HZ, output="sos")
    acc = sosfilt(sos, acc, axis=0)
    gyro = sosfilt(sos, gyro, axis=0)
    # sampling instants on the sensor's clock (tiny drift), first sample at a random phase
    drift = 1.0 + float(rng.uniform(-1e-4, 1e-4))
    t_k = np.arange(float(rng.uniform(0, 1 / rate_hz)), motion.t_s[-1], 1.0 / (rate_hz * drift))
    a_k = np.column_stack([np.interp(t_k, motion.t_s, acc[:, i]) for i in range(3)])
    g_k = np.column_stack([np.interp(t_k, motion.t_s, gyro[:, i]) for i in range(3)])
    n = t_k.size
    # accelerometer errors: misalignment, scale, bias, noise, quantisation, clipping
    mis = np.eye(3) + np.sin(np.radians(1.0)) * rng.uniform(-1, 1, (3, 3)) * (1 - np.eye(3))
    scale = np.diag(1 + rng.uniform(-0.03, 0.03, 3))
    a_k = a_k @ (scale @ mis).T + rng.uniform(-0.04, 0.04, 3)
    a_k += rng.normal(0, rng.uniform(0.001, 0.01), (n, 3))
    full_g = float(rng.choice([8.0, 16.0]))
    lsb = 2 * full_g / 65536
    a_k = np.clip(np.round(a_k / lsb), -32768, 32767) * lsb
    mis_g = np.eye(3) + np.sin(np.radians(1.0)) * rng.uniform(-1, 1, (3, 3)) * (1 - np.eye(3))
    g_k = g_k @ (np.diag(1 + rng.uniform(-0.03, 0.03, 3)) @ mis_g).T
    g_k += rng.uniform(-3, 3, 3) + rng.normal(0, rng.uniform(0.05, 0.3), (n, 3))
    glsb = 4000.0 / 65536
    g_k = np.clip(np.round(g_k / glsb), -32768, 32767) * glsb
    # reported timestamps: jitter, then packets, drops, duplicates
    t_rep = t_k + rng.normal(0, float(rng.uniform(0, 0.15)) / rate_hz, n)
    t_rep = np.sort(t_rep)
    # a BLE notification carries 10-50 ms of samples; a few are lost at random, a few in bursts
    per_packet = max(1, round(rate_hz * float(rng.uniform(0.01, 0.05))))
    n_packets = (n + per_packet - 1) // per_packet
    keep = rng.random(n_packets) >= rng.uniform(0, 0.005) * loss
    for _ in range(int(rng.integers(0, 5) * loss)):  # bursts of lost packets, 0.05-0.5 s
        burst = int(rng.uniform(0.05, 0.5) * rate_hz / per_packet) + 1
        p0 = int(rng.integers(0, max(1, n_packets - burst)))
        keep[p0:p0 + burst] = False
    keep[:2] = True
    keep[-2:] = True
    idx = np.nonzero(np.repeat(keep, per_packet)[:n])[0]
    if rng.random() < 0.3 and duplicates:  # a few rows delivered twice, or a repeated timestamp
        for _ in range(int(rng.integers(1, 6))):
            j = int(rng.integers(1, idx.size - 1))
            if rng.random() < 0.5:
                idx = np.concatenate([idx[: j + 1], idx[j: j + 1], idx[j + 1:]])
            else:
                t_rep[idx[j]] = t_rep[idx[j - 1]]
    metadata = {"sensor": "alt_sessions", "fs": f"{rate_hz:g}",
                "note": "independent generator (bench/alt_sessions.py)"}
    return Samples(t_rep[idx] + t_origin, a_k[idx], g_k[idx] if with_gyro else None, metadata)


# ----------------------------------------------------------------------------- entry point
@dataclass
class Built:
    plan: Plan
    motion: Motion
    truth: dict[str, Any]
    t_origin: float
    rng: np.random.Generator


def build(seed: int) -> Built:
    """The session's motion and truth (no sensor yet); redraws gray-zone asymmetry."""
    rng0 = np.random.default_rng([seed, 0xA17])
    lift = "hip_thrust" if rng0.random() < 0.75 else str(rng0.choice(OTHER_LIFTS))
    mount = str(rng0.choice(["hip", "bar"])) if lift == "hip_thrust" else "bar"
    rate_hz = float(rng0.choice(RATES_HZ))
    with_gyro = bool(rng0.random() < 0.5)
    for attempt in range(30):
        rng = np.random.default_rng([seed, 0xA17, attempt])
        plan = hip_thrust_session(rng, mount) if lift == "hip_thrust" else \
            other_lift_session(rng, lift)
        motion = render(plan, rng)
        t_origin = float(rng.uniform(0, 5000))
        per_set = truth_reps(motion, plan, t_origin)
        legs, asym, clear = asymmetry(per_set, plan.set_legs, plan.top_start)
        if clear:
            break
    truth: dict[str, Any] = {
        "first_leg": plan.first_leg,
        "pause_s": plan.pause_s,
        "lift": plan.lift,
        "mount": plan.mount,
        "top_start": plan.top_start,
        "rate_hz": rate_hz,
        "with_gyro": with_gyro,
        "sets": [{"index": i, "leg": leg, "rep_count": len(reps), "reps": reps}
                 for i, (leg, reps) in enumerate(zip(plan.set_legs, per_set, strict=True))],
        "legs": legs,
        "asymmetry": asym,
    }
    return Built(plan, motion, truth, t_origin, rng)


def make_session(seed: int, *, loss: float = 1.0,
                 duplicates: bool = True) -> tuple[Samples, dict[str, Any]]:
    """One independent session and its truth (the spec's definitions on the true speed).

    ``loss`` scales the packet loss and ``duplicates`` allows repeated timestamps (both only
    for diagnosis: the defaults are the test).
    """
    b = build(seed)
    samples = sense(b.motion, b.rng, b.truth["rate_hz"], b.truth["with_gyro"], b.t_origin,
                    loss=loss, duplicates=duplicates)
    return samples, b.truth


def main() -> int:
    ap = argparse.ArgumentParser(description="write one independent test session")
    ap.add_argument("seed", type=int)
    ap.add_argument("out", help="CSV recording to write")
    ap.add_argument("--truth", help="truth JSON to write")
    args = ap.parse_args()
    from sensor.recording import write_recording  # noqa: PLC0415 - I/O only for the CLI

    samples, truth = make_session(args.seed)
    write_recording(args.out, samples)
    if args.truth:
        with open(args.truth, "w", encoding="utf-8") as fh:
            json.dump(truth, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
