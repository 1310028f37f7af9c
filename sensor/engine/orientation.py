"""Stage 4: what the sensor's orientation says: mount detection and pelvic tilt. Pure.

Both work on the unit direction of the low-passed accelerometer (mostly gravity), so they
assume no axis. The pelvis of a hip thrust rotates mostly about its medio-lateral axis
(pitch); frontal-plane roll (pelvic tilt) is the change of gravity's component along that
axis, in degrees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sensor.samples import FloatArray


def unit(v: FloatArray) -> FloatArray:
    """``v`` over its norm along the last axis (np.linalg.norm's own arithmetic, inlined)."""
    return np.asarray(v / np.sqrt(np.add.reduce(v * v, axis=-1, keepdims=True)))


def mean_rows(a: FloatArray) -> FloatArray:
    """``a.mean(axis=0)`` (the same arithmetic) without its per-call overhead."""
    if a.shape[0] == 0:
        return np.asarray(a.mean(axis=0))
    return np.asarray(np.add.reduce(a, axis=0) / a.shape[0])


def angle_deg(a: FloatArray, b: FloatArray) -> float:
    """Angle between two vectors, degrees."""
    c = float(np.dot(unit(a), unit(b)))
    return float(np.degrees(np.arccos(min(max(c, -1.0), 1.0))))


def pitch_axis(directions: FloatArray) -> FloatArray:
    """Normal of the plane gravity sweeps: mean direction x largest principal component."""
    mean = directions.mean(axis=0)
    d = directions - mean
    _, vecs = np.linalg.eigh(d.T @ d)
    return unit(np.cross(unit(mean), vecs[:, -1]))


def tilt_per_rep(
    acc_lp: FloatArray, spans: Sequence[tuple[int, int, int]], settle: int
) -> list[float]:
    """Frontal-plane roll of each rep at lockout relative to its start, degrees, unsigned.

    ``spans`` holds (start, lockout, bottom) grid indices per rep; gravity is read where the
    sensor is nearly still: ``settle`` samples before the start, and around the lockout. The
    pitch axis is the median over reps of the axis that turns gravity from start to lockout
    (most reps do not tilt, so the median is the medio-lateral axis); the roll is the change
    of gravity's component along it.
    """
    if not spans:
        return []
    n = acc_lp.shape[0]
    before = np.array([mean_rows(acc_lp[max(0, s - settle) : s + 1]) for s, _, _ in spans])
    top = np.array(
        [mean_rows(acc_lp[max(0, lk - settle // 2) : min(n, lk + settle // 2 + 1)])
         for _, lk, _ in spans]
    )
    b, t = unit(before), unit(top)
    axes = np.empty_like(b)  # np.cross(b, t), the same products, without its overhead
    axes[:, 0] = b[:, 1] * t[:, 2] - b[:, 2] * t[:, 1]
    axes[:, 1] = b[:, 2] * t[:, 0] - b[:, 0] * t[:, 2]
    axes[:, 2] = b[:, 0] * t[:, 1] - b[:, 1] * t[:, 0]
    strong = np.linalg.norm(axes, axis=1) > np.sin(np.radians(5.0))
    if not strong.any():  # no pitch to speak of (a bar): fall back to the spread of gravity
        axis = pitch_axis(np.vstack([b, t]))
    else:
        a = unit(axes[strong])
        a *= np.sign(a @ a[0])[:, None]  # one orientation for all
        axis = unit(np.median(a, axis=0))
    roll = np.degrees(np.arcsin(np.clip(t @ axis, -1, 1)) - np.arcsin(np.clip(b @ axis, -1, 1)))
    return [float(abs(r)) for r in roll]
