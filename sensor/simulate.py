"""A realistic simulator: a training session as an IMU would record it, with its ground truth.

The athlete's motion is built on a 1 kHz grid from smooth minimum-jerk moves (hip thrust reps,
setup, walking, standing up and sitting down, rolling the bar in and off), then seen through a
sensor mounted in a random orientation, sampled at its own rate with noise, bias, scale error,
quantisation, dropped packets and timestamp jitter.

The ground truth follows the product spec exactly: phase boundaries are where the vertical
speed of the smooth (tremor-free) trajectory crosses 5 % of the rep's peak concentric speed.
World frame: z up, metres; rotations are body yaw (z), pitch (y), roll (x) in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from sensor.engine.metrics import asymmetry, leg_stats
from sensor.samples import FloatArray, Samples
from sensor.summary import PHASE_METRICS, Leg, Mount, Rep

SIM_RATE_HZ = 1000.0
GRAVITY_MPS2 = 9.80665
PHASE_THRESHOLD = 0.05  # the spec's 5 % of peak concentric speed


class Lift(StrEnum):
    HIP_THRUST = "hip_thrust"
    SQUAT = "squat"
    DEADLIFT = "deadlift"
    ROW = "row"
    PRESS = "press"
    CURL = "curl"


TOP_START_LIFTS = frozenset({Lift.SQUAT})


@dataclass(frozen=True)
class LiftShape:
    """Typical range of motion (m) and phase durations (s) of a lift: (low, high) each."""

    range_m: tuple[float, float]
    concentric_s: tuple[float, float]
    eccentric_s: tuple[float, float]
    hold_s: tuple[float, float]
    bottom_s: tuple[float, float]
    pitch_deg: tuple[float, float]  # sensor rotation over the range of motion


LIFT_SHAPES: dict[Lift, LiftShape] = {
    Lift.HIP_THRUST: LiftShape((0.20, 0.34), (0.7, 1.8), (1.0, 2.8), (0.2, 1.2), (0.2, 1.2),
                               (30, 55)),
    Lift.SQUAT: LiftShape((0.40, 0.60), (0.8, 1.8), (1.2, 2.5), (0.5, 2.0), (0.0, 0.4), (0, 4)),
    Lift.DEADLIFT: LiftShape((0.45, 0.60), (0.8, 1.8), (1.0, 2.2), (0.3, 1.2), (0.5, 1.5),
                             (0, 4)),
    Lift.ROW: LiftShape((0.22, 0.35), (0.5, 0.9), (0.8, 1.5), (0.1, 0.6), (0.3, 1.0), (0, 6)),
    Lift.PRESS: LiftShape((0.40, 0.55), (0.8, 1.6), (1.0, 2.0), (0.3, 1.0), (0.3, 1.0), (0, 4)),
    Lift.CURL: LiftShape((0.35, 0.50), (0.7, 1.4), (1.0, 2.2), (0.2, 0.8), (0.2, 0.8),
                         (80, 120)),
}


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated session. ``random_config(seed)`` samples the grid."""

    seed: int = 0
    mount: Mount = Mount.HIP
    lift: Lift = Lift.HIP_THRUST
    rate_hz: float = 100.0
    with_gyro: bool = True
    n_sets: int = 4
    reps_per_set: tuple[int, ...] = (8, 8, 8, 8)
    first_leg: Leg = Leg.LEFT
    pause_s: float | None = None  # pause-rep target at lockout
    weak_leg: Leg | None = None  # the leg whose tempo is slower
    weak_factors: dict[str, float] = field(default_factory=dict)  # metric -> duration factor
    nuisances: bool = True  # setup, walking, standing, rolling the bar
    rest_s: tuple[float, float] = (25.0, 60.0)
    tilt_reps: bool = False  # hip mount: some reps tilt the pelvis over the threshold
    bounce_reps: int = 0  # reps without hold in a pause set
    noise_g: float = 0.004
    gyro_noise_dps: float = 0.3
    bias_g: float = 0.02  # per-axis accelerometer bias, up to this, in g
    scale_err: float = 0.015  # per-axis scale error, up to this fraction
    gyro_bias_dps: float = 1.5
    accel_range_g: int = 16
    drop_rate: float = 0.01  # fraction of packets lost
    jitter_s: float = 0.0003  # timestamp jitter (standard deviation), s
    duplicate_rate: float = 0.001  # fraction of samples delivered twice


def random_config(seed: int, **overrides: Any) -> SimConfig:
    """A session drawn from the whole grid: mount x rate x gyro x orientation x nuisances."""
    rng = np.random.default_rng([seed, 1])
    mount = Mount.HIP if rng.random() < 0.6 else Mount.BAR
    lift = Lift.HIP_THRUST
    if mount is Mount.BAR and rng.random() < 0.35:
        lift = Lift(rng.choice([x.value for x in Lift if x is not Lift.HIP_THRUST]))
    n_sets = int(rng.integers(2, 7))
    weak_leg = Leg(rng.choice(["left", "right"])) if rng.random() < 0.5 else None
    weak_factors: dict[str, float] = {}
    if weak_leg is not None:
        metrics = [m for m in ("concentric_s", "eccentric_s") if rng.random() < 0.6]
        for m in metrics or ["concentric_s"]:
            weak_factors[m] = float(rng.uniform(1.3, 1.6))
    pause = 3.0 if rng.random() < 0.3 else None
    cfg = SimConfig(
        seed=seed,
        mount=mount,
        lift=lift,
        rate_hz=float(rng.choice([12.5, 25.0, 50.0, 52.0, 100.0, 104.0, 200.0, 400.0])),
        with_gyro=bool(rng.random() < 0.6),
        n_sets=n_sets,
        reps_per_set=tuple(int(rng.integers(4, 13)) for _ in range(n_sets)),
        first_leg=Leg(rng.choice(["left", "right"])),
        pause_s=pause,
        weak_leg=weak_leg,
        weak_factors=weak_factors,
        nuisances=bool(rng.random() < 0.85),
        tilt_reps=bool(mount is Mount.HIP and rng.random() < 0.3),
        bounce_reps=int(rng.integers(0, 3)) if pause else 0,
        noise_g=float(rng.uniform(0.002, 0.01)),
        bias_g=float(rng.uniform(0.0, 0.04)),
        scale_err=float(rng.uniform(0.0, 0.03)),
        drop_rate=float(rng.choice([0.0, 0.005, 0.02])),
    )
    return replace(cfg, **overrides)


def _minjerk(n: int) -> FloatArray:
    """Minimum-jerk progress from 0 to 1 over n points (endpoints included at 0 and 1)."""
    tau = np.linspace(0.0, 1.0, n)
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


class _Timeline:
    """Builds the 1 kHz world trajectory from moves, holds and oscillations."""

    CH = ("x", "y", "z", "yaw", "pitch", "roll")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: list[FloatArray] = []
        self.smooth_z: list[FloatArray] = []
        self.state = np.zeros(6)
        self.n = 0

    @property
    def t_s(self) -> float:
        return self.n / SIM_RATE_HZ

    def _append(self, block: FloatArray, smooth_z: FloatArray | None = None) -> None:
        self.parts.append(block)
        self.smooth_z.append(block[:, 2].copy() if smooth_z is None else smooth_z)
        self.n += block.shape[0]
        self.state = block[-1].copy()

    def move(self, duration_s: float, warp: float = 1.0, **delta: float) -> tuple[int, int]:
        """A minimum-jerk move of the given channels by ``delta``; returns its index span."""
        n = max(2, round(duration_s * SIM_RATE_HZ))
        prog = _minjerk(n) ** 1.0
        if warp != 1.0:  # skew the velocity profile without changing the end points
            tau = np.linspace(0, 1, n) ** warp
            prog = tau**3 * (10 - 15 * tau + 6 * tau**2)
        d = np.array([delta.get(c, 0.0) for c in self.CH])
        block = self.state + prog[:, None] * d
        start = self.n
        self._append(block[1:] if self.parts else block)
        return start, self.n

    def hold(self, duration_s: float, tremor_m: float = 0.0) -> tuple[int, int]:
        n = max(1, round(duration_s * SIM_RATE_HZ))
        block = np.repeat(self.state[None, :], n, axis=0)
        smooth = block[:, 2].copy()
        if tremor_m > 0:
            t = np.arange(n) / SIM_RATE_HZ
            f = self.rng.uniform(8.0, 11.0)
            env = np.sin(np.pi * np.arange(n) / n) ** 2
            block[:, 2] += tremor_m * env * np.sin(2 * np.pi * f * t + self.rng.uniform(0, 6))
            block[:, 4] += 0.0003 * env * np.sin(2 * np.pi * f * t)
        start = self.n
        self._append(block, smooth)
        return start, self.n

    def walk(self, duration_s: float, *, bob_m: float = 0.02, speed_mps: float = 1.1) -> None:
        """Walking: vertical bob at step frequency, forward travel, a turn, sway."""
        n = max(2, round(duration_s * SIM_RATE_HZ))
        t = np.arange(n) / SIM_RATE_HZ
        f = self.rng.uniform(1.6, 2.1)
        ramp = np.clip(np.minimum(t, t[-1] - t) / 0.8, 0, 1)
        block = np.repeat(self.state[None, :], n, axis=0)
        heading = self.state[3] + np.cumsum(ramp) / SIM_RATE_HZ * self.rng.uniform(-0.6, 0.6)
        travel = np.cumsum(ramp) / SIM_RATE_HZ * speed_mps
        block[:, 0] += travel * np.cos(heading) - travel[0]
        block[:, 1] += travel * np.sin(heading)
        block[:, 3] = heading
        block[:, 2] += bob_m * ramp * np.sin(2 * np.pi * f * t) ** 2
        block[:, 1] += 0.02 * ramp * np.sin(np.pi * f * t)
        block[:, 5] += 0.05 * ramp * np.sin(np.pi * f * t)
        self._append(block)

    def fidget(self, duration_s: float, amp_m: float = 0.03) -> None:
        """Shifting on the floor or bench: a few small random moves."""
        end = self.t_s + duration_s
        while self.t_s < end:
            dz = float(self.rng.uniform(-amp_m, amp_m))
            dx = float(self.rng.uniform(-0.05, 0.05))
            self.move(float(self.rng.uniform(0.3, 0.8)), z=dz, x=dx,
                      pitch=float(self.rng.uniform(-0.1, 0.1)))
            self.move(float(self.rng.uniform(0.3, 0.8)), z=-dz)
            self.hold(float(self.rng.uniform(0.3, 1.5)))

    def array(self) -> tuple[FloatArray, FloatArray]:
        return np.concatenate(self.parts), np.concatenate(self.smooth_z)


@dataclass
class _TruthRep:
    rise: tuple[int, int]
    fall: tuple[int, int]


def _phase_times(v: FloatArray, rep: _TruthRep, top_start: bool) -> dict[str, float]:
    """The spec's phase boundaries from the true vertical speed (m/s) at 1 kHz."""
    r0, r1 = rep.rise
    f0, f1 = rep.fall
    rise = v[r0:r1]
    vpk = float(rise.max())
    thr = PHASE_THRESHOLD * vpk
    up = np.flatnonzero(rise >= thr)
    down = np.flatnonzero(v[f0:f1] <= -thr)

    def cross(i: int, j: int, level: float) -> float:
        # linear interpolation of the crossing between samples i and j (absolute indices)
        a, b = v[i] - level, v[j] - level
        frac = a / (a - b) if a != b else 0.0
        return (i + frac * (j - i)) / SIM_RATE_HZ

    t_start = cross(r0 + up[0] - 1, r0 + up[0], thr)
    t_lock = cross(r0 + up[-1], r0 + up[-1] + 1, thr)
    t_desc = cross(f0 + down[0] - 1, f0 + down[0], -thr)
    t_bot = cross(f0 + down[-1], f0 + down[-1] + 1, -thr)
    out = {"t_start": t_start, "t_lockout": t_lock, "t_descent": t_desc, "t_bottom": t_bot,
           "concentric_s": t_lock - t_start, "eccentric_s": t_bot - t_desc,
           "peak_speed_mps": vpk}
    out["hold_s"] = 0.0 if top_start else t_desc - t_lock
    return out


def simulate_session(
    seed: int = 0, config: SimConfig | None = None, **overrides: Any
) -> tuple[Samples, dict[str, Any]]:
    """Simulate a session. Returns the samples (as the sensor delivers them) and the truth.

    The truth dict mirrors the summary JSON: ``sets`` (leg, rep_count, reps with ``t_*`` and
    durations on the samples' time base), ``legs`` means, and ``asymmetry`` indices and flags
    (the flag is the designed weak-leg effect: an index over 15 %).
    """
    cfg = config if config is not None else random_config(seed, **overrides)
    if config is not None and overrides:
        cfg = replace(cfg, **overrides)
    rng = np.random.default_rng([cfg.seed, 2])
    tl = _Timeline(rng)
    shape = LIFT_SHAPES[cfg.lift]
    top_start = cfg.lift in TOP_START_LIFTS
    hip = cfg.mount is Mount.HIP
    u = rng.uniform

    # Athlete constants for the session.
    range_m = u(*shape.range_m)
    base = {
        "concentric_s": u(*shape.concentric_s),
        "eccentric_s": u(*shape.eccentric_s),
        "hold_s": cfg.pause_s if cfg.pause_s else u(*shape.hold_s),
        "bottom_s": u(*shape.bottom_s),
    }
    # the pelvis rotates with a hip thrust; a bar on the hips barely does
    pitch_deg = shape.pitch_deg if (hip or cfg.lift is not Lift.HIP_THRUST) else (0.0, 5.0)
    pitch_rad = math.radians(u(*pitch_deg))
    legs = [cfg.first_leg if i % 2 == 0 else cfg.first_leg.other for i in range(cfg.n_sets)]

    # Before the first set.
    if hip:
        tl.hold(u(1, 4))
        if cfg.nuisances:
            tl.walk(u(4, 12))
            tl.hold(u(0.5, 2))
        # standing -> sitting on the floor with the back against the bench
        tl.move(u(1.2, 2.0), z=-0.55, pitch=-1.2, x=0.3)
        tl.hold(u(1, 3))
    else:
        tl.hold(u(2, 5))
    sets_truth: list[dict[str, Any]] = []
    reps_all: list[tuple[int, _TruthRep]] = []
    tilt_truth: list[list[float]] = []
    for s, leg in enumerate(legs):
        if cfg.nuisances:
            _setup_moves(tl, cfg, hip, top_start)
        tl.hold(u(1.0, 3.0))
        n_reps = cfg.reps_per_set[s % len(cfg.reps_per_set)]
        bounce_idx = set(rng.choice(n_reps, size=min(cfg.bounce_reps, n_reps), replace=False))
        set_reps: list[_TruthRep] = []
        tilts: list[float] = []
        for r in range(n_reps):
            fatigue = 1.0 + 0.3 * r / max(1, n_reps - 1) * u(0.3, 1.0)
            dur = {}
            for k, b in base.items():
                f = cfg.weak_factors.get(k, 1.0) if leg is cfg.weak_leg else 1.0
                dur[k] = b * f * u(0.93, 1.07)
            dur["concentric_s"] *= fatigue
            if cfg.pause_s:
                dur["hold_s"] = cfg.pause_s + u(-0.25, 0.35)
                if r in bounce_idx:
                    dur["hold_s"] = 0.0
            rom = range_m * u(0.93, 1.03) * (1 - 0.05 * r / max(1, n_reps))
            tilt = 0.0
            if hip:
                tilt = u(-2.5, 2.5)
                if cfg.tilt_reps and r % 3 == 1:
                    tilt = math.copysign(u(9, 14), tilt)
            warp_c, warp_e = u(0.85, 1.15), u(0.85, 1.15)
            dpitch = pitch_rad * rom / range_m
            roll = math.radians(tilt)
            if top_start:
                fall = tl.move(dur["eccentric_s"], warp_e, z=-rom, pitch=-dpitch)
                tl.hold(dur["bottom_s"])
                rise = tl.move(dur["concentric_s"], warp_c, z=rom, pitch=dpitch)
                tl.hold(dur["hold_s"], tremor_m=0.0001)
            else:
                level0 = _ml_elevation_deg(tl.state)
                rise = tl.move(dur["concentric_s"], warp_c, z=rom, pitch=dpitch, roll=roll,
                               x=0.03 if not hip else 0.0)
                tilt = _ml_elevation_deg(tl.state) - level0  # the hips leave level by this
                if dur["hold_s"] > 0:
                    tl.hold(dur["hold_s"], tremor_m=u(0.00005, 0.00015))
                fall = tl.move(dur["eccentric_s"], warp_e, z=-rom, pitch=-dpitch, roll=-roll,
                               x=-0.03 if not hip else 0.0)
                if r < n_reps - 1:
                    tl.hold(dur["bottom_s"] * u(0.7, 1.3))
            tilts.append(abs(tilt))
            rep = _TruthRep(rise, fall)
            set_reps.append(rep)
            reps_all.append((s, rep))
        tilt_truth.append(tilts)
        sets_truth.append({"index": s, "leg": leg.value, "rep_count": n_reps})
        tl.hold(u(1.0, 2.5))
        if s < cfg.n_sets - 1:
            _rest(tl, cfg, hip, u(*cfg.rest_s))
    if cfg.nuisances:
        _teardown(tl, cfg, hip)
    tl.hold(u(1, 3))

    world, smooth_z = tl.array()
    v = np.gradient(smooth_z) * SIM_RATE_HZ
    samples, t_offset = _sense(world, cfg, rng)

    # Truth, on the samples' time base.
    for st in sets_truth:
        st["reps"] = []
    for s, rep in reps_all:
        times: dict[str, Any] = dict(_phase_times(v, rep, top_start))
        for k in ("t_start", "t_lockout", "t_descent", "t_bottom"):
            times[k] += t_offset
        st = sets_truth[s]
        times["index"] = len(st["reps"])
        times["tilt_deg"] = tilt_truth[s][times["index"]] if hip else None
        st["reps"].append(times)
    truth = _truth_document(cfg, sets_truth, top_start)
    return samples, truth


def _ml_elevation_deg(state: FloatArray) -> float:
    """Elevation of the pelvis' medio-lateral axis (body y) above the horizontal, degrees."""
    up = Rotation.from_euler("ZYX", state[3:6]).apply([0.0, 1.0, 0.0])[2]
    return math.degrees(math.asin(max(-1.0, min(1.0, float(up)))))


def _setup_moves(tl: _Timeline, cfg: SimConfig, hip: bool, top_start: bool) -> None:
    u = tl.rng.uniform
    if hip:
        tl.fidget(u(2, 5), amp_m=0.03)
    elif top_start:  # unrack: lift off the hooks, walk back two steps
        tl.move(u(0.5, 0.9), z=0.05)
        tl.hold(u(0.3, 0.8))
        tl.move(u(1.0, 2.0), x=-0.4, z=0.0)
        tl.hold(u(0.5, 1.0))
    else:  # roll the bar in over the thighs, small settle
        tl.move(u(1.5, 3.0), x=0.6, z=0.08)
        tl.move(u(0.6, 1.2), z=-0.05)
        tl.hold(u(0.5, 1.5))
        tl.move(u(0.4, 0.8), z=0.02)
        tl.move(u(0.4, 0.8), z=-0.02)


def _rest(tl: _Timeline, cfg: SimConfig, hip: bool, rest_s: float) -> None:
    u = tl.rng.uniform
    if not cfg.nuisances:
        tl.hold(rest_s)
        return
    if hip and tl.rng.random() < 0.6:  # stand up, walk around, sit back down
        tl.move(u(1.2, 2.0), z=0.55, pitch=1.2, x=-0.3)
        tl.hold(u(1, 3))
        tl.walk(rest_s * 0.6)
        tl.hold(u(1, 3))
        tl.move(u(1.2, 2.0), z=-0.55, pitch=-1.2, x=0.3)
        tl.hold(u(1, 3))
    elif hip:
        tl.fidget(rest_s * 0.3, amp_m=0.04)
        tl.hold(rest_s * 0.7)
    else:
        _teardown(tl, cfg, hip)
        tl.hold(rest_s)


def _teardown(tl: _Timeline, cfg: SimConfig, hip: bool) -> None:
    u = tl.rng.uniform
    if hip:
        tl.move(u(1.2, 2.0), z=0.55, pitch=1.2, x=-0.3)
        tl.walk(u(4, 10))
    elif cfg.lift in TOP_START_LIFTS:  # walk the bar back in and rack it
        tl.move(u(1.0, 2.0), x=0.4)
        tl.move(u(0.4, 0.8), z=0.04)
        tl.move(u(0.4, 0.8), z=-0.09)
    else:  # roll the bar off the thighs
        tl.move(u(1.5, 3.0), x=-0.6, z=-0.03)
    tl.hold(u(1, 2))


def _sense(world: FloatArray, cfg: SimConfig, rng: np.random.Generator) -> tuple[Samples, float]:
    """What the sensor reports: specific force (g) and rate (deg/s) in its own frame."""
    dt = 1.0 / SIM_RATE_HZ
    pos = world[:, :3]
    acc_w = np.gradient(np.gradient(pos, dt, axis=0), dt, axis=0) / GRAVITY_MPS2
    acc_w[:, 2] += 1.0
    mount = Rotation.random(random_state=int(rng.integers(2**31)))
    body = Rotation.from_euler("ZYX", world[:, 3:6])
    sensor = body * mount
    f_s = sensor.inv().apply(acc_w)
    rel = sensor[:-1].inv() * sensor[1:]
    omega = np.vstack([rel.as_rotvec() / dt, np.zeros((1, 3))])
    gyro = np.degrees(omega)

    # The sensor's own low-pass: average over one sample period, then sample.
    period = round(SIM_RATE_HZ / cfg.rate_hz)
    kernel = np.ones(max(1, period)) / max(1, period)
    n_out = int((world.shape[0] - period) / SIM_RATE_HZ * cfg.rate_hz)
    idx = np.clip(np.rint(np.arange(n_out) / cfg.rate_hz * SIM_RATE_HZ).astype(int) + period - 1,
                  0, world.shape[0] - 1)

    def sample(x: FloatArray) -> FloatArray:
        out = np.empty((n_out, 3))
        for k in range(3):
            out[:, k] = np.convolve(x[:, k], kernel, mode="full")[: x.shape[0]][idx]
        return out

    t = idx / SIM_RATE_HZ
    acc = sample(f_s)
    scale = 1 + rng.uniform(-cfg.scale_err, cfg.scale_err, 3)
    bias = rng.uniform(-cfg.bias_g, cfg.bias_g, 3)
    acc = acc * scale + bias + rng.normal(0, cfg.noise_g, acc.shape)
    lsb = cfg.accel_range_g / 32768
    acc = np.round(acc / lsb) * lsb
    gy: FloatArray | None = None
    if cfg.with_gyro:
        gy = sample(gyro) + rng.uniform(-cfg.gyro_bias_dps, cfg.gyro_bias_dps, 3)
        gy = gy + rng.normal(0, cfg.gyro_noise_dps, gy.shape)
        gy = np.round(gy / (2000 / 32768)) * (2000 / 32768)

    # Packets of a few samples; some are lost on the link.
    per_packet = max(1, round(cfg.rate_hz / 12.5))
    n_packets = math.ceil(n_out / per_packet)
    lost = rng.random(n_packets) < cfg.drop_rate
    keep = ~np.repeat(lost, per_packet)[:n_out]
    t_offset = float(rng.uniform(0, 1000))  # any origin
    t_rep = t + t_offset + rng.normal(0, cfg.jitter_s, n_out)
    t_rep = np.maximum.accumulate(t_rep)  # jitter never makes time go backwards
    dup = rng.random(n_out) < cfg.duplicate_rate
    order = np.flatnonzero(keep)
    order = np.sort(np.concatenate([order, order[dup[order]]]))
    samples = Samples(
        np.asarray(np.round(t_rep[order], 6), dtype=np.float64),
        acc[order],
        None if gy is None else gy[order],
        {"sensor": "simulated", "fs": f"{cfg.rate_hz:g}", "mount": cfg.mount.value,
         "seed": str(cfg.seed), "lift": cfg.lift.value},
    )
    return samples, t_offset


def _truth_document(cfg: SimConfig, sets: list[dict[str, Any]], top_start: bool) -> dict[str, Any]:
    """Per-leg means and asymmetry of the true reps, by the spec's definitions.

    A phase is flagged when its index exceeds 15 % and the rep-to-rep noise of the true
    durations (the same rule the engine states in its summary).
    """
    def rep_of(r: dict[str, Any]) -> Rep:
        return Rep(int(r["index"]), r["t_start"], r["t_lockout"], r["t_descent"], r["t_bottom"],
                   r["concentric_s"], r["hold_s"], r["eccentric_s"], r["peak_speed_mps"], 0.0)

    stats = {}
    legs: dict[str, dict[str, float]] = {}
    for leg in Leg:
        reps = [rep_of(r) for s in sets if s["leg"] == leg.value for r in s["reps"]]
        if reps:
            st = leg_stats(reps)
            stats[leg] = st
            legs[leg.value] = {"reps": len(reps)} | {m: getattr(st, m) for m in PHASE_METRICS}
    a = asymmetry(stats, 15.0, 0.0)
    asym: dict[str, Any] = {"threshold_pct": 15.0}
    for p in a.phases:
        asym[p.metric.removesuffix("_s") + "_pct"] = p.index_pct
    asym["flags"] = list(a.flags)
    asym["flagged"] = a.flagged
    asym["designed"] = {m: f for m, f in cfg.weak_factors.items()} if cfg.weak_leg else {}
    return {
        "schema": "hipthrust.truth", "seed": cfg.seed, "mount": cfg.mount.value,
        "lift": cfg.lift.value, "rate_hz": cfg.rate_hz, "with_gyro": cfg.with_gyro,
        "top_start": top_start, "pause_s": cfg.pause_s, "first_leg": cfg.first_leg.value,
        "nuisances": cfg.nuisances, "sets": sets, "legs": legs, "asymmetry": asym,
    }
