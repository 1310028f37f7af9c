"""Stage 4: what the sensor's orientation says: mount detection and pelvic tilt. Pure.

Both work on the unit direction of the low-passed accelerometer (mostly gravity), so they
assume no axis. The pelvis of a hip thrust rotates mostly about its medio-lateral axis
(pitch): gravity sweeps the plane spanned by its mean direction and its main direction of
change (the largest principal component), and the pitch axis is normal to that plane. Frontal-plane roll (pelvic tilt) is the angle of
gravity out of the plane the pitch sweeps, in degrees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sensor.samples import FloatArray


def unit(v: FloatArray) -> FloatArray:
    return np.asarray(v / np.linalg.norm(v, axis=-1, keepdims=True))


def angle_deg(a: FloatArray, b: FloatArray) -> float:
    """Angle between two vectors, degrees."""
    c = float(np.dot(unit(a), unit(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def pitch_axis(directions: FloatArray) -> FloatArray:
    """Normal of the plane gravity sweeps: mean direction x largest principal component."""
    mean = directions.mean(axis=0)
    d = directions - mean
    _, vecs = np.linalg.eigh(d.T @ d)
    return unit(np.cross(unit(mean), vecs[:, -1]))


def tilt_per_rep(
    acc_lp: FloatArray, spans: Sequence[tuple[int, int, int]], settle: int
) -> list[float]:
    """Largest frontal-plane roll of each rep relative to its start, degrees, unsigned.

    ``spans`` holds (start, lockout, bottom) grid indices per rep; the roll is read where the
    sensor is nearly still: ``settle`` samples before the start, and around the lockout.
    """
    if not spans:
        return []
    lo = max(0, min(min(sp) for sp in spans) - settle)
    hi = min(acc_lp.shape[0], max(max(sp) for sp in spans) + settle + 1)
    dirs = unit(acc_lp[lo:hi])
    axis = pitch_axis(dirs)
    roll = np.degrees(np.arcsin(np.clip(dirs @ axis, -1, 1)))  # index 0 is sample lo
    out = []
    for s, lock, _ in spans:
        s, lock = s - lo, lock - lo
        before = roll[max(0, s - settle) : s + 1].mean()
        top = roll[max(0, lock - settle // 2) : lock + settle // 2 + 1].mean()
        out.append(float(abs(top - before)))
    return out
