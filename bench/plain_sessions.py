"""A third, independent session generator, written from the product spec and the exercise guide.

``make_session(seed) -> (Samples, truth)`` builds a single-leg hip thrust session the way an
acceptance-test author would, without looking at the engine or the other two simulators:

- the true motion of a rigid body (the pelvis for a hip mount, the barbell for a bar mount) on a
  1 kHz grid: position ``(x, y, z)`` in metres (world axes: x forward, y left, z up) and
  orientation ``R = Rz(yaw) Ry(pitch) Rx(roll)`` (body to world);
- the sensor sits on that body at a lever arm, in a random mounting orientation; its
  accelerometer reads the specific force ``R_s^T (a + g z_hat) / g`` (g, +1 g along "up" at rest)
  and its gyro the body angular rate in the sensor's axes (deg/s);
- a causal anti-alias low-pass, sampling at the session's rate with timestamp jitter, white
  noise, per-axis bias and scale error, quantisation and a few dropped samples;
- the truth per rep by the spec's definitions, from the true vertical speed on the fine grid.

    python bench/plain_sessions.py --seed 3 out.csv out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import butter, lfilter
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sensor.samples import Samples

F64 = NDArray[Any]  # float arrays (numpy's float64 stubs are too strict for arithmetic)
G_MPS2 = 9.80665
FINE_HZ = 1000.0
DT_S = 1.0 / FINE_HZ
RATES_HZ = (12.5, 25.0, 50.0, 52.0, 100.0, 104.0, 200.0, 400.0)
PHASES = ("concentric_s", "hold_s", "eccentric_s")
THRESHOLD_PCT = 15.0
AMBIGUOUS_PCT = (10.0, 21.0)  # asymmetry indices in this band are redrawn (no borderline truth)
PLATE_RADIUS_M = 0.225  # a 45 cm plate: bar height when the plates stand on the floor
MAX_SESSION_S = 840.0
# state vector columns
X, Y, Z, PITCH, ROLL, YAW = range(6)


# ---------------------------------------------------------------------------------------------
# Motion primitives on the fine grid


def smoothstep(u: F64) -> F64:
    """Minimum-jerk 0 -> 1 on u in [0, 1] (zero speed and acceleration at both ends)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


@dataclass(frozen=True)
class Shape:
    """A speed profile ``sin(pi u^k)^p``, optionally with a sticking-point dip."""

    p: float = 2.0
    k: float = 1.0
    dip: float = 0.0  # 0..0.6: fraction the speed drops at the sticking point
    dip_at: float = 0.5
    dip_width: float = 0.1

    def progress(self, n: int) -> F64:
        """Normalised displacement at samples 1..n (0 at the sample before, 1 at sample n)."""
        u = (np.arange(1, n + 1) - 0.5) / n
        v = np.sin(np.pi * u**self.k) ** self.p
        if self.dip > 0:
            v *= 1.0 - self.dip * np.exp(-(((u - self.dip_at) / self.dip_width) ** 2))
        s: F64 = np.cumsum(v)
        out: F64 = s / s[-1]
        return out


MINJERK = Shape(p=2.0, k=1.0)


def random_shape(rng: np.random.Generator, *, sticking: bool) -> Shape:
    dip = float(rng.uniform(0.2, 0.45)) if sticking and rng.random() < 0.35 else 0.0
    return Shape(
        p=float(rng.uniform(1.6, 2.6)),
        k=float(rng.uniform(0.75, 1.35)),
        dip=dip,
        dip_at=float(rng.uniform(0.4, 0.65)),
        dip_width=float(rng.uniform(0.12, 0.2)),  # a loaded bar slows down, it does not jerk
    )


@dataclass
class Track:
    """The body's state (x, y, z, pitch, roll, yaw; metres and radians) sampled at FINE_HZ."""

    state: F64
    blocks: list[F64] = field(default_factory=list)
    n: int = 1

    def __post_init__(self) -> None:
        self.blocks.append(self.state[None, :].copy())

    def now_s(self) -> float:
        return (self.n - 1) * DT_S

    def _append(self, block: F64) -> None:
        self.blocks.append(block)
        self.n += block.shape[0]
        self.state = block[-1].copy()

    def move(
        self,
        dur_s: float,
        target: dict[int, float],
        shape: Shape = MINJERK,
        lead: dict[int, float] | None = None,
    ) -> tuple[int, int]:
        """Move the listed columns to their targets along ``shape``; other columns stay.

        ``lead`` bends a column's path: progress ``s + lead * s (1 - s)`` (still monotone).
        Returns the fine-grid index range [first, last] of the move.
        """
        n = max(2, round(dur_s * FINE_HZ))
        s = shape.progress(n)
        block = np.repeat(self.state[None, :], n, axis=0)
        for col, value in target.items():
            b = (lead or {}).get(col, 0.0)
            block[:, col] = self.state[col] + (value - self.state[col]) * (s + b * s * (1 - s))
        first = self.n
        self._append(block)
        return first, self.n - 1

    def hold(self, dur_s: float, sway: Callable[[F64], F64] | None = None) -> None:
        """Stay, optionally with a sway ``sway(t_s) -> (n, 6)`` faded in and out smoothly."""
        n = max(1, round(dur_s * FINE_HZ))
        block = np.repeat(self.state[None, :], n, axis=0)
        if sway is not None and n > 10:
            t = np.arange(1, n + 1) * DT_S
            ramp_s = min(0.3, dur_s / 3)
            w = smoothstep(t / ramp_s) * smoothstep((dur_s - t) / ramp_s)
            block += sway(t) * w[:, None]
        self._append(block)

    def add(self, first: int, offset: F64) -> None:
        """Add an offset (m, 6) on top of what is already there, from fine index ``first``."""
        whole = self.array()
        m = min(offset.shape[0], whole.shape[0] - first)
        whole[first : first + m] += offset[:m]
        self.blocks = [whole]
        self.state = whole[-1].copy()

    def array(self) -> F64:
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self.blocks[0]


def sway_fn(
    rng: np.random.Generator,
    *,
    z_speed_mps: float,
    xy_m: float = 0.0,
    angle_deg: float = 0.0,
    roll_deg: float | None = None,
    tremor_g: float = 0.0,
) -> Callable[[F64], F64]:
    """A small random sway: slow z drift with a bounded speed, slow angle and xy sway (roll by
    ``roll_deg``, default ``angle_deg``), and a physiological tremor (6-11 Hz) whose
    acceleration is ``tremor_g``."""
    comps: list[tuple[int, float, float, float]] = []  # column, amplitude, freq_hz, phase
    for _ in range(2):
        f = float(rng.uniform(0.2, 1.2))
        comps.append((Z, z_speed_mps / (2 * math.pi * f) / 2, f, float(rng.uniform(0, 6.3))))
    for col in (X, Y):
        f = float(rng.uniform(0.2, 1.0))
        comps.append((col, xy_m * float(rng.uniform(0.3, 1.0)), f, float(rng.uniform(0, 6.3))))
    for col in (PITCH, ROLL, YAW):
        f = float(rng.uniform(0.2, 1.5))
        deg = roll_deg if col == ROLL and roll_deg is not None else angle_deg
        amp = math.radians(deg) * float(rng.uniform(0.3, 1.0))
        comps.append((col, amp, f, float(rng.uniform(0, 6.3))))
    if tremor_g > 0:
        f = float(rng.uniform(6.0, 11.0))
        col = int(rng.integers(0, 3))
        comps.append((col, tremor_g * G_MPS2 / (2 * math.pi * f) ** 2, f, 0.0))

    def fn(t: F64) -> F64:
        out = np.zeros((t.shape[0], 6))
        for col, amp, f, ph in comps:
            out[:, col] += amp * np.sin(2 * math.pi * f * t + ph)
        return out

    return fn


def impact(rng: np.random.Generator, peak_g: float) -> F64:
    """A knock (plates on the floor, heel strike): a brief ringing, as a position offset (m, 6)
    whose acceleration peaks near ``peak_g`` along a random direction (mostly vertical)."""
    f = float(rng.uniform(15.0, 60.0))
    tau = float(rng.uniform(0.01, 0.03))
    t = np.arange(0.0, 6 * tau, DT_S)
    env = np.exp(-(((t - 2 * tau) / tau) ** 2))
    disp = peak_g * G_MPS2 / (2 * math.pi * f) ** 2 * env * np.sin(2 * math.pi * f * (t - 2 * tau))
    direction = np.array([rng.normal(0, 0.3), rng.normal(0, 0.3), 1.0])
    direction /= np.linalg.norm(direction)
    out = np.zeros((t.shape[0], 6))
    out[:, :3] = disp[:, None] * direction[None, :]
    return out


# ---------------------------------------------------------------------------------------------
# The session plan


@dataclass
class Athlete:
    """Per-session constants of the body and the way this athlete moves."""

    mount: str
    z_bottom: float  # hip or bar height at the bottom of a rep, m
    z_rest: float  # seated on the floor (hip) / bar lying on the hips (bar), m
    pitch_bottom: float  # rad
    pitch_top: float  # rad
    roll_per_leg: float  # rad at lockout, signed by the leg (pelvis tilting to the working side)
    x_per_m: float  # horizontal hip/bar travel per metre of rise
    breath_mps: float  # z speed of the sway at rest and in holds, m/s
    roll_sway_deg: float  # side-to-side tilt sway (small on a bar: the sensor sits ~1 m out)


def _pitch_at(ath: Athlete, frac: float) -> float:
    return ath.pitch_bottom + (ath.pitch_top - ath.pitch_bottom) * frac


@dataclass
class RepPlan:
    rom_m: float
    conc_s: float
    hold_s: float
    ecc_s: float
    bottom_s: float
    conc_shape: Shape
    ecc_shape: Shape
    pitch_lead: float


def do_rep(
    track: Track, rng: np.random.Generator, ath: Athlete, rep: RepPlan, leg_sign: float
) -> tuple[tuple[int, int], tuple[int, int]]:
    """One rep from the bottom: rise, lockout hold, descent, bottom pause. Returns the fine
    index ranges of the rise and of the descent."""
    z0 = ath.z_bottom
    top = z0 + rep.rom_m
    x0 = track.state[X]
    v_peak = 1.8 * rep.rom_m / rep.conc_s
    conc = track.move(
        rep.conc_s,
        {
            Z: top,
            X: x0 + ath.x_per_m * rep.rom_m,
            PITCH: ath.pitch_top,
            ROLL: leg_sign * ath.roll_per_leg,
        },
        rep.conc_shape,
        lead={PITCH: rep.pitch_lead, X: rep.pitch_lead},
    )
    quiet = 0.012 * v_peak  # the hold's own z sway stays far under 5 % of the peak speed
    track.hold(
        rep.hold_s,
        sway_fn(rng, z_speed_mps=quiet, xy_m=0.001, angle_deg=0.4,
                roll_deg=0.25 * ath.roll_sway_deg, tremor_g=0.004),
    )
    ecc = track.move(
        rep.ecc_s,
        {Z: z0, X: x0, PITCH: ath.pitch_bottom, ROLL: 0.0},
        rep.ecc_shape,
        lead={PITCH: -rep.pitch_lead},
    )
    track.hold(rep.bottom_s, sway_fn(rng, z_speed_mps=quiet, angle_deg=0.3,
                                     roll_deg=0.2 * ath.roll_sway_deg))
    return conc, ecc


# ---------------------------------------------------------------------------------------------
# Things that are not reps


def rest_still(track: Track, rng: np.random.Generator, ath: Athlete, dur_s: float) -> None:
    """Sit (or let the bar lie) and breathe."""
    if dur_s <= 0:
        return
    track.hold(
        dur_s,
        sway_fn(rng, z_speed_mps=ath.breath_mps, xy_m=0.002, angle_deg=0.8,
                roll_deg=ath.roll_sway_deg, tremor_g=0.002),
    )


def walk(track: Track, rng: np.random.Generator, steps: int, heading: float) -> None:
    """Walk ``steps`` steps: pelvis bob, lateral sway, roll and yaw swing, heel strikes."""
    f_step = float(rng.uniform(1.6, 2.1))
    dur_s = steps / f_step
    dist = steps * float(rng.uniform(0.55, 0.75))
    track.move(0.8, {YAW: heading})
    first = track.n
    x0, y0 = track.state[X], track.state[Y]
    track.move(dur_s, {X: x0 + dist * math.cos(heading), Y: y0 + dist * math.sin(heading)})
    t = np.arange(track.n - first) * DT_S
    w = smoothstep(t / 0.6) * smoothstep((dur_s - t) / 0.6)
    off = np.zeros((t.shape[0], 6))
    bob = float(rng.uniform(0.015, 0.04))
    side = float(rng.uniform(0.01, 0.03))
    off[:, Z] = -bob * 0.5 * (1 - np.cos(2 * math.pi * f_step * t)) * w
    lateral = side * np.sin(math.pi * f_step * t) * w
    off[:, X] = -math.sin(heading) * lateral
    off[:, Y] = math.cos(heading) * lateral
    off[:, ROLL] = math.radians(float(rng.uniform(2, 5))) * np.sin(math.pi * f_step * t) * w
    off[:, YAW] = math.radians(float(rng.uniform(2, 6))) * np.sin(math.pi * f_step * t + 1) * w
    track.add(first, off)
    for k in range(1, steps):
        track.add(first + round(k / f_step * FINE_HZ), impact(rng, float(rng.uniform(0.2, 0.6))))


def stand_up(track: Track, rng: np.random.Generator) -> None:
    """From sitting on the floor: to a kneel / crouch, then up."""
    track.move(float(rng.uniform(0.8, 1.5)), {Z: 0.45, PITCH: math.radians(30), ROLL: 0.0})
    track.hold(float(rng.uniform(0.2, 0.8)))
    track.move(float(rng.uniform(0.9, 1.6)), {Z: float(rng.uniform(0.88, 1.0)), PITCH: 0.0})


def sit_down_floor(track: Track, rng: np.random.Generator, ath: Athlete) -> None:
    """Standing to sitting on the floor with the back against the bench."""
    track.move(float(rng.uniform(0.9, 1.5)), {Z: 0.45, PITCH: math.radians(35)})
    track.move(
        float(rng.uniform(0.8, 1.4)),
        {Z: ath.z_rest, PITCH: ath.pitch_bottom + math.radians(10), X: 0.0, Y: 0.0},
    )


def pick_up(track: Track, rng: np.random.Generator) -> None:
    """Standing: bend down to pick up a phone (or a plate), look at it, straighten."""
    z0 = track.state[Z]
    depth = float(rng.uniform(0.2, 0.45))
    track.move(float(rng.uniform(0.8, 1.5)), {Z: z0 - depth, PITCH: math.radians(60)})
    track.hold(float(rng.uniform(0.3, 1.5)))
    track.move(float(rng.uniform(0.8, 1.4)), {Z: z0, PITCH: math.radians(5)})
    track.hold(float(rng.uniform(2, 8)), sway_fn(rng, z_speed_mps=0.01, angle_deg=2))


def fidget(track: Track, rng: np.random.Generator, count: int) -> None:
    """Small shifts: weight from foot to foot, a shrug, adjusting the pad."""
    for _ in range(count):
        s = track.state
        track.move(
            float(rng.uniform(0.4, 1.2)),
            {
                Z: s[Z] + float(rng.uniform(-0.03, 0.03)),
                ROLL: float(rng.normal(0, math.radians(4))),
                YAW: s[YAW] + float(rng.normal(0, math.radians(10))),
            },
        )
        track.hold(float(rng.uniform(0.3, 2.0)))


def shuffle_hips(track: Track, rng: np.random.Generator, ath: Athlete, count: int) -> None:
    """Seated: lift the hips a little and shift them to place the pad and bar, then settle."""
    for _ in range(count):
        lift = float(rng.uniform(0.02, 0.06))
        track.move(
            float(rng.uniform(0.4, 0.9)),
            {
                Z: ath.z_rest + lift,
                X: track.state[X] + float(rng.uniform(-0.05, 0.05)),
                PITCH: ath.pitch_bottom + float(rng.uniform(-0.1, 0.15)),
                ROLL: float(rng.normal(0, math.radians(5 * ath.roll_sway_deg))),
            },
        )
        track.hold(float(rng.uniform(0.1, 0.6)))
        track.move(float(rng.uniform(0.4, 0.9)), {Z: ath.z_rest, ROLL: 0.0})
        track.hold(float(rng.uniform(0.5, 2.0)))


def roll_bar(track: Track, rng: np.random.Generator, dx_m: float, z_end: float) -> None:
    """Bar mount: roll the bar along the floor / thighs by ``dx_m``; the bar turns about its
    own (y) axis as it rolls. Ends at height ``z_end``; a knock when the plates land."""
    s = track.state
    track.move(
        max(1.0, abs(dx_m) * float(rng.uniform(2.0, 4.0))),
        {X: s[X] + dx_m, Z: z_end, PITCH: s[PITCH] + dx_m / PLATE_RADIUS_M},
    )
    track.add(track.n - 1, impact(rng, float(rng.uniform(0.3, 1.2))))
    track.hold(0.3)


def change_plates(track: Track, rng: np.random.Generator) -> None:
    """Bar mount: lift one end of the bar to slide a plate on or off, set it down."""
    s = track.state
    tilt = float(rng.uniform(1.5, 3.5)) * (1 if rng.random() < 0.5 else -1)
    # pivoting on the far plate, 1.1 m out along the bar: the centre rises 1.1 sin|tilt|
    track.move(
        float(rng.uniform(0.6, 1.2)),
        {ROLL: math.radians(tilt), Z: s[Z] + abs(math.sin(math.radians(tilt))) * 1.1},
    )
    track.hold(float(rng.uniform(1.5, 5)),
               sway_fn(rng, z_speed_mps=0.01, angle_deg=0.6, roll_deg=0.2))
    track.move(float(rng.uniform(0.4, 0.8)), {ROLL: 0.0, Z: s[Z]})
    track.add(track.n - 1, impact(rng, float(rng.uniform(0.5, 2.0))))
    track.hold(0.5)


def rest_hip(
    track: Track, rng: np.random.Generator, ath: Athlete, dur_s: float, busy: bool
) -> None:
    """Between sets (hip mount). ``busy``: the athlete gets up and does things."""
    t_end = track.now_s() + dur_s
    rest_still(track, rng, ath, float(rng.uniform(2, 6)))
    if busy:
        routine = int(rng.integers(0, 3))
        if routine in (0, 1):
            stand_up(track, rng)
            rest_still(track, rng, ath, float(rng.uniform(1, 4)))
            heading = float(rng.uniform(-math.pi, math.pi))
            steps = int(rng.integers(3, 9))
            walk(track, rng, steps, heading)
            if rng.random() < 0.6:
                pick_up(track, rng)
            fidget(track, rng, int(rng.integers(1, 4)))
            if routine == 1:  # sit on the bench for a while
                track.move(float(rng.uniform(0.8, 1.4)), {Z: 0.5, PITCH: math.radians(-15)})
                rest_still(track, rng, ath, float(rng.uniform(5, 15)))
                stand_up(track, rng)
            walk(track, rng, steps, heading + math.pi)
            sit_down_floor(track, rng, ath)
        shuffle_hips(track, rng, ath, int(rng.integers(1, 4)))
    else:
        shuffle_hips(track, rng, ath, 1)  # swap the planted foot
    rest_still(track, rng, ath, t_end - track.now_s() - 2.0)
    track.move(float(rng.uniform(0.6, 1.2)), {Z: ath.z_bottom, PITCH: ath.pitch_bottom})
    track.hold(float(rng.uniform(0.8, 2.0)), sway_fn(rng, z_speed_mps=0.003, angle_deg=0.3))


def rest_bar(
    track: Track, rng: np.random.Generator, ath: Athlete, dur_s: float, busy: bool
) -> None:
    """Between sets (bar mount). ``busy``: the bar is rolled off, plates changed, rolled back."""
    t_end = track.now_s() + dur_s
    rest_still(track, rng, ath, float(rng.uniform(2, 5)))
    if busy:
        dx = float(rng.uniform(0.2, 0.5))
        x_home = track.state[X]
        roll_bar(track, rng, dx, PLATE_RADIUS_M)
        track.hold(float(rng.uniform(3, 15)))  # lying on the floor: dead still
        if rng.random() < 0.6:
            change_plates(track, rng)
            track.hold(float(rng.uniform(2, 8)))
        roll_bar(track, rng, x_home - track.state[X], ath.z_rest)
        track.move(1.0, {PITCH: ath.pitch_bottom})  # the athlete turns the bar to the pad
        shuffle_hips(track, rng, ath, int(rng.integers(1, 3)))
    else:
        shuffle_hips(track, rng, ath, 1)
    rest_still(track, rng, ath, t_end - track.now_s() - 2.0)
    track.move(float(rng.uniform(0.6, 1.2)), {Z: ath.z_bottom, PITCH: ath.pitch_bottom})
    track.hold(float(rng.uniform(0.8, 2.0)), sway_fn(rng, z_speed_mps=0.003, angle_deg=0.2))


def setup_hip(track: Track, rng: np.random.Generator, ath: Athlete) -> None:
    """Before the first set: walk to the bench, sit down against it, roll the bar on."""
    walk(track, rng, int(rng.integers(2, 7)), float(rng.uniform(-math.pi, math.pi)))
    rest_still(track, rng, ath, float(rng.uniform(1, 3)))
    sit_down_floor(track, rng, ath)
    rest_still(track, rng, ath, float(rng.uniform(2, 6)))
    shuffle_hips(track, rng, ath, int(rng.integers(2, 5)))


def setup_bar(track: Track, rng: np.random.Generator, ath: Athlete) -> None:
    """Before the first set: the bar lies on the floor over the feet and is rolled up the
    thighs onto the hips (it rides up over the thighs, then settles in the hip crease)."""
    track.hold(float(rng.uniform(3, 10)))
    if rng.random() < 0.5:
        change_plates(track, rng)
        track.hold(float(rng.uniform(2, 6)))
    dx = -float(rng.uniform(0.6, 1.0))
    s = track.state
    track.move(
        abs(dx) * float(rng.uniform(2.5, 4.0)),
        {X: s[X] + dx, PITCH: s[PITCH] + dx / PLATE_RADIUS_M},
    )
    track.move(0.8, {Z: ath.z_rest + 0.04})  # over the thighs
    track.move(0.8, {Z: ath.z_rest, PITCH: ath.pitch_bottom})
    shuffle_hips(track, rng, ath, int(rng.integers(1, 4)))


def finish_bar(track: Track, rng: np.random.Generator) -> None:
    """After the last set: roll the bar off and lift it back to the rack."""
    roll_bar(track, rng, float(rng.uniform(0.2, 0.5)), PLATE_RADIUS_M)
    track.hold(float(rng.uniform(3, 10)))
    rack_m = float(rng.uniform(0.8, 1.1))
    track.move(float(rng.uniform(1.2, 2.0)), {Z: rack_m + 0.05, ROLL: math.radians(2)})
    walk(track, rng, 2, float(rng.uniform(-math.pi, math.pi)))
    track.move(float(rng.uniform(0.6, 1.0)), {Z: rack_m, ROLL: 0.0})
    track.add(track.n - 1, impact(rng, float(rng.uniform(0.5, 1.5))))
    track.hold(float(rng.uniform(3, 8)))


def finish_hip(track: Track, rng: np.random.Generator, ath: Athlete) -> None:
    """After the last set: get up and walk away."""
    rest_still(track, rng, ath, float(rng.uniform(2, 8)))
    stand_up(track, rng)
    walk(track, rng, int(rng.integers(3, 10)), float(rng.uniform(-math.pi, math.pi)))
    track.hold(float(rng.uniform(1, 4)), sway_fn(rng, z_speed_mps=0.01, angle_deg=1.5))


# ---------------------------------------------------------------------------------------------
# Truth by the spec's definitions


def rep_truth(
    v: F64, conc: tuple[int, int], ecc: tuple[int, int], t0_s: float
) -> dict[str, float]:
    """Phase boundaries where the true vertical speed ``v`` (m/s, fine grid) crosses 5 % of
    the rep's peak concentric speed (times on the recording's time base, seconds)."""
    c0, c1 = conc
    e0, e1 = ecc
    pk = c0 + int(np.argmax(v[c0 : c1 + 1]))
    thr = 0.05 * float(v[pk])

    def cross_back(sig: F64, i: int) -> float:  # last time before i that sig rose through thr
        below = np.nonzero(sig[:i] < thr)[0]
        j = int(below[-1])
        return float(j + (thr - sig[j]) / (sig[j + 1] - sig[j]))

    def cross_fwd(sig: F64, i: int) -> float:  # first time after i that sig fell through thr
        j = i + int(np.nonzero(sig[i:] < thr)[0][0])
        return float(j - 1 + (sig[j - 1] - thr) / (sig[j - 1] - sig[j]))

    dpk = e0 + int(np.argmin(v[e0 : e1 + 1]))
    idx = {
        "t_start": cross_back(v, pk),
        "t_lockout": cross_fwd(v, pk),
        "t_descent": cross_back(-v, dpk),
        "t_bottom": cross_fwd(-v, dpk),
    }
    t = {k: t0_s + i * DT_S for k, i in idx.items()}
    return {
        **t,
        "concentric_s": t["t_lockout"] - t["t_start"],
        "hold_s": t["t_descent"] - t["t_lockout"],
        "eccentric_s": t["t_bottom"] - t["t_descent"],
    }


def asymmetry(sets: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    legs: dict[str, Any] = {}
    for leg in ("left", "right"):
        reps = [r for s in sets if s["leg"] == leg for r in s["reps"]]
        legs[leg] = {"reps": len(reps)}
        for m in PHASES:
            legs[leg][m] = float(np.mean([r[m] for r in reps])) if reps else None
    asym: dict[str, Any] = {"threshold_pct": THRESHOLD_PCT}
    flags = []
    for m in PHASES:
        a, b = legs["left"][m], legs["right"][m]
        idx = None if a is None or b is None else abs(a - b) / ((a + b) / 2) * 100
        asym[m.replace("_s", "_pct")] = idx
        if idx is not None and idx > THRESHOLD_PCT:
            flags.append(m)
    asym["flags"] = flags
    asym["flagged"] = bool(flags)
    return legs, asym


# ---------------------------------------------------------------------------------------------
# The sensor


def _rot_x(a: F64, v: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    return np.stack([v[:, 0], c * v[:, 1] - s * v[:, 2], s * v[:, 1] + c * v[:, 2]], axis=1)


def _rot_y(a: F64, v: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[:, 0] + s * v[:, 2], v[:, 1], -s * v[:, 0] + c * v[:, 2]], axis=1)


def _rot_z(a: F64, v: F64) -> F64:
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], axis=1)


def body_to_world(st: F64, v: F64) -> F64:
    """R v with R = Rz(yaw) Ry(pitch) Rx(roll), row by row."""
    return _rot_z(st[:, YAW], _rot_y(st[:, PITCH], _rot_x(st[:, ROLL], v)))


def world_to_body(st: F64, v: F64) -> F64:
    """R^T v."""
    return _rot_x(-st[:, ROLL], _rot_y(-st[:, PITCH], _rot_z(-st[:, YAW], v)))


def body_rate(st: F64) -> F64:
    """Angular rate of R = Rz(yaw) Ry(pitch) Rx(roll) in the body's axes, rad/s."""
    d = np.gradient(st, DT_S, axis=0)
    phi, th = st[:, ROLL], st[:, PITCH]
    dphi, dth, dpsi = d[:, ROLL], d[:, PITCH], d[:, YAW]
    return np.stack(
        [
            dphi - dpsi * np.sin(th),
            dth * np.cos(phi) + dpsi * np.cos(th) * np.sin(phi),
            dpsi * np.cos(th) * np.cos(phi) - dth * np.sin(phi),
        ],
        axis=1,
    )


def ideal_sensor(st: F64, lever_m: F64, mount: F64) -> tuple[F64, F64, F64]:
    """Noise-free specific force (g) and angular rate (deg/s) in the sensor's axes, and the
    sensor's world position (m), on the fine grid. ``mount``: sensor-to-body rotation."""
    pos = st[:, :3] + body_to_world(st, np.repeat(lever_m[None, :], st.shape[0], axis=0))
    acc = np.gradient(np.gradient(pos, DT_S, axis=0), DT_S, axis=0)
    acc[:, 2] += G_MPS2
    f_sensor = world_to_body(st, acc) @ mount / G_MPS2  # (M^T f)^T = f^T M
    w_sensor = np.degrees(body_rate(st) @ mount)
    return f_sensor, w_sensor, pos


def sample_sensor(
    rng: np.random.Generator, f_g: F64, w_dps: F64, *, rate_hz: float, with_gyro: bool, t0_s: float
) -> Samples:
    """Anti-alias filter, sample with jitter, add the sensor's errors, drop a few samples."""
    fc = min(0.35 * rate_hz, 0.4 * FINE_HZ / 2)
    b, a = butter(2, fc, fs=FINE_HZ)
    f_lp = lfilter(b, a, f_g - f_g[0], axis=0) + f_g[0]
    w_lp = lfilter(b, a, w_dps, axis=0)
    t_fine = np.arange(f_g.shape[0]) * DT_S
    t_true = np.arange(float(rng.uniform(0, 1 / rate_hz)), t_fine[-1], 1 / rate_hz)
    n = t_true.shape[0]
    acc = np.stack([np.interp(t_true, t_fine, f_lp[:, k]) for k in range(3)], axis=1)
    gyro = np.stack([np.interp(t_true, t_fine, w_lp[:, k]) for k in range(3)], axis=1)
    noise_g = float(rng.uniform(0.001, 0.005))
    acc = acc * rng.uniform(0.99, 1.01, 3) + rng.uniform(-0.02, 0.02, 3)
    acc += rng.normal(0, noise_g, (n, 3))
    q_g = float(rng.choice([0.001, 1 / 2048, 1 / 4096, 1 / 16384]))
    acc = np.clip(np.round(acc / q_g) * q_g, -16.0, 16.0)
    gyro = gyro * rng.uniform(0.99, 1.01, 3) + rng.uniform(-1.5, 1.5, 3)
    gyro += rng.normal(0, float(rng.uniform(0.03, 0.2)), (n, 3))
    q_dps = float(rng.choice([1 / 16.4, 0.07, 1 / 131.0]))
    gyro = np.round(gyro / q_dps) * q_dps
    jitter = np.clip(rng.normal(0, 0.04 / rate_hz, n), -0.2 / rate_hz, 0.2 / rate_hz)
    t_rec = t0_s + t_true + jitter
    keep = np.ones(n, dtype=bool)
    if rng.random() < 0.35:
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(10, n - 40))
            keep[i : i + int(rng.integers(1, max(2, min(10, round(0.3 * rate_hz)))))] = False
    return Samples(t_rec[keep], acc[keep], gyro[keep] if with_gyro else None, {})


# ---------------------------------------------------------------------------------------------
# The session


def _plan_leg_tempo(rng: np.random.Generator, pause_s: float | None) -> dict[str, float]:
    return {
        "conc_s": float(rng.uniform(0.6, 1.4)),
        "hold_s": pause_s + 0.15 if pause_s else float(rng.uniform(0.3, 1.8)),
        "ecc_s": float(rng.uniform(0.8, 2.4)),
        "bottom_s": float(rng.uniform(0.2, 1.2)),
    }


def _jit(rng: np.random.Generator) -> float:
    """Rep-to-rep variation of a duration (a factor)."""
    return float(rng.uniform(0.92, 1.08))


def _build(
    rng: np.random.Generator, seed: int
) -> tuple[Track, list[dict[str, Any]], dict[str, Any], Athlete]:
    """One attempt: the plan, the motion and the truth (before the sensor)."""
    mount = "hip" if rng.random() < 0.6 else "bar"
    busy = bool(rng.random() < 0.5)
    pause_s = float(rng.choice([2.0, 2.5, 3.0])) if rng.random() < 0.3 else None
    first_leg = "left" if rng.random() < 0.5 else "right"
    n_sets = int(rng.integers(2, 7))
    asym_wanted = bool(rng.random() < 0.5)
    if mount == "hip":
        z_bottom = float(rng.uniform(0.12, 0.2))
        pitch_top = -math.radians(float(rng.uniform(78, 100)))
        pitch_bottom = pitch_top + math.radians(float(rng.uniform(30, 60)))
        ath = Athlete(
            mount, z_bottom, z_bottom - float(rng.uniform(0.0, 0.04)), pitch_bottom, pitch_top,
            math.radians(float(rng.uniform(0, 6))), float(rng.uniform(-0.3, 0.3)),
            float(rng.uniform(0.003, 0.008)), 0.8,
        )
    else:
        z_bottom = PLATE_RADIUS_M + float(rng.uniform(0.02, 0.06))
        pitch_bottom = float(rng.uniform(-math.pi, math.pi))
        ath = Athlete(
            mount, z_bottom, z_bottom - float(rng.uniform(0.0, 0.015)), pitch_bottom,
            pitch_bottom + math.radians(float(rng.uniform(-5, 5))),
            math.radians(float(rng.uniform(0, 3))), float(rng.uniform(-0.3, 0.3)),
            float(rng.uniform(0.002, 0.006)), 0.15,
        )
    base = _plan_leg_tempo(rng, pause_s)
    tempo = {"left": dict(base), "right": dict(base)}
    if asym_wanted:
        weak = "left" if rng.random() < 0.5 else "right"
        options = ["conc_s", "ecc_s"] + ([] if pause_s else ["hold_s"])
        picks = rng.choice(options, size=int(rng.integers(1, len(options) + 1)), replace=False)
        for key in picks:
            tempo[weak][str(key)] *= float(rng.uniform(1.3, 1.55))
    else:
        for durations in tempo.values():
            for key in durations:
                durations[key] *= float(rng.uniform(0.98, 1.02))
    rom_m = float(rng.uniform(0.15, 0.35))

    legs = [first_leg if i % 2 == 0 else ("right" if first_leg == "left" else "left")
            for i in range(n_sets)]
    reps_per_set = [int(rng.integers(5, 13)) for _ in range(n_sets)]
    # keep the whole session under ~14 minutes
    per_rep_s = 1.3 * sum(base.values())
    work_s = per_rep_s * sum(reps_per_set)
    rest_budget = max(20.0, (MAX_SESSION_S - work_s - 60) / max(1, n_sets - 1))
    rests = [min(float(rng.uniform(30, 120)), rest_budget) for _ in range(n_sets - 1)]

    track = Track(np.array([0.0, 0.0, ath.z_rest, ath.pitch_bottom, 0.0,
                            float(rng.uniform(-math.pi, math.pi))]))
    if mount == "hip":
        if busy:
            track.state = np.array([float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2)),
                                    float(rng.uniform(0.88, 1.0)), 0.0, 0.0, track.state[YAW]])
            track.blocks = [track.state[None, :].copy()]
            setup_hip(track, rng, ath)
        else:
            rest_still(track, rng, ath, float(rng.uniform(3, 8)))
    elif busy:
        track.state = np.array([0.8, 0.0, PLATE_RADIUS_M, ath.pitch_bottom + 0.8 / 0.225, 0.0,
                                track.state[YAW]])
        track.blocks = [track.state[None, :].copy()]
        setup_bar(track, rng, ath)
    else:
        rest_still(track, rng, ath, float(rng.uniform(3, 8)))
    track.move(float(rng.uniform(0.6, 1.2)), {Z: ath.z_bottom, PITCH: ath.pitch_bottom})
    track.hold(float(rng.uniform(0.8, 2.0)), sway_fn(rng, z_speed_mps=0.003, angle_deg=0.3))

    ranges: list[list[tuple[tuple[int, int], tuple[int, int]]]] = []
    for si in range(n_sets):
        leg = legs[si]
        sign = 1.0 if leg == "left" else -1.0
        tp = tempo[leg]
        n = reps_per_set[si]
        fatigue = float(rng.uniform(0.0, 0.45))
        set_ranges = []
        for ri in range(n):
            f = 1 + fatigue * (ri / max(1, n - 1)) ** 1.5
            hold = tp["hold_s"] * _jit(rng)
            if pause_s and rng.random() < 0.15:
                hold = pause_s - float(rng.uniform(0.4, 1.2))  # held short
            elif pause_s:
                hold = pause_s + float(rng.uniform(0.1, 0.8)) * (tp["hold_s"] / (pause_s + 0.15))
            rep = RepPlan(
                rom_m=rom_m * float(rng.uniform(0.93, 1.05)) * (1 - 0.1 * fatigue * ri / n),
                conc_s=tp["conc_s"] * f * _jit(rng),
                hold_s=max(0.15, hold),
                ecc_s=tp["ecc_s"] * (1 + 0.3 * (f - 1)) * _jit(rng),
                bottom_s=tp["bottom_s"] * _jit(rng),
                conc_shape=random_shape(rng, sticking=True),
                ecc_shape=random_shape(rng, sticking=False),
                pitch_lead=float(rng.uniform(-0.3, 0.3)),
            )
            set_ranges.append(do_rep(track, rng, ath, rep, sign))
        ranges.append(set_ranges)
        if si < n_sets - 1:
            (rest_hip if mount == "hip" else rest_bar)(track, rng, ath, rests[si], busy)
    if busy and rng.random() < 0.6:
        if mount == "hip":
            finish_hip(track, rng, ath)
        else:
            finish_bar(track, rng)
    else:
        rest_still(track, rng, ath, float(rng.uniform(2, 6)))

    t0_s = float(rng.choice([0.0, float(rng.uniform(10, 5e4))]))
    v_mps = np.gradient(track.array()[:, Z], DT_S)
    sets = []
    for si, set_ranges in enumerate(ranges):
        reps = [rep_truth(v_mps, c, e, t0_s) for c, e in set_ranges]
        sets.append({
            "index": si,
            "leg": legs[si],
            "rep_count": len(reps),
            "reps": [{"index": i, **r} for i, r in enumerate(reps)],
        })
    legs_doc, asym = asymmetry(sets)
    truth: dict[str, Any] = {
        "schema": "hipthrust.truth",
        "seed": seed,
        "mount": mount,
        "lift": "hip_thrust",
        "rate_hz": 0.0,
        "with_gyro": False,
        "top_start": False,
        "pause_s": pause_s,
        "first_leg": first_leg,
        "nuisances": busy,
        "legs": legs_doc,
        "asymmetry": asym,
        "sets": sets,
        "t0_s": t0_s,
    }
    return track, sets, truth, ath


def _ambiguous(truth: dict[str, Any]) -> bool:
    lo, hi = AMBIGUOUS_PCT
    for m in PHASES:
        idx = truth["asymmetry"][m.replace("_s", "_pct")]
        if idx is not None and lo <= idx <= hi:
            return True
    return False


def make_session(seed: int) -> tuple[Samples, dict[str, Any]]:
    """A simulated session and its truth, deterministic per seed."""
    rng = np.random.default_rng(seed)
    for _ in range(50):
        track, _sets, truth, ath = _build(rng, seed)
        if not _ambiguous(truth):
            break
    rate_hz = float(rng.choice(RATES_HZ))
    with_gyro = bool(rng.random() < 0.5)
    if ath.mount == "hip":  # belt clip at the side of the pelvis, near the hip joint
        lever = np.array([rng.uniform(-0.03, 0.03), rng.choice([-1, 1]) * rng.uniform(0.1, 0.16),
                          rng.uniform(-0.03, 0.03)])
    else:  # on a sleeve or collar, along the bar's axis
        lever = np.array([0.0, rng.choice([-1, 1]) * rng.uniform(0.75, 1.05), 0.0])
    mount = Rotation.random(random_state=rng).as_matrix()
    f_g, w_dps, _pos = ideal_sensor(track.array(), lever, mount)
    samples = sample_sensor(
        rng, f_g, w_dps, rate_hz=rate_hz, with_gyro=with_gyro, t0_s=float(truth["t0_s"])
    )
    truth["rate_hz"] = rate_hz
    truth["with_gyro"] = with_gyro
    del truth["t0_s"]
    return samples, truth


def main() -> int:
    ap = argparse.ArgumentParser(description="write one plain session as CSV + truth JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("csv")
    ap.add_argument("truth")
    args = ap.parse_args()
    from sensor.recording import write_recording  # noqa: PLC0415 - only the CLI writes files

    samples, truth = make_session(args.seed)
    write_recording(args.csv, samples)
    Path(args.truth).write_text(json.dumps(truth, indent=2) + "\n")
    sets = [(s["leg"], s["rep_count"]) for s in truth["sets"]]
    print(f"seed {args.seed}: {truth['mount']} {truth['rate_hz']:g} Hz "
          f"{'gyro' if truth['with_gyro'] else 'no gyro'} nuisances={truth['nuisances']} "
          f"pause={truth['pause_s']} first_leg={truth['first_leg']} sets={sets} "
          f"asym={truth['asymmetry']['flags']} ({samples.duration_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
