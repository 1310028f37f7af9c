"""Stage 4: what the sensor's orientation says: mount detection and pelvic tilt. Pure.

Both work on the unit direction of the low-passed accelerometer (mostly gravity), so they
assume no axis. The pelvis of a hip thrust rotates mostly about its medio-lateral axis
(pitch); the pelvic tilt is how far that axis leaves the horizontal during a rep (the hips
stop being level), in degrees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from sensor.samples import FloatArray


def unit(v: FloatArray) -> FloatArray:
    """``v`` over its norm along the last axis (np.linalg.norm's own arithmetic, inlined)."""
    return np.asarray(v / np.sqrt(np.add.reduce(v * v, axis=-1, keepdims=True)))


def window_sums(a: FloatArray, lo: NDArray[np.int64], width: int) -> FloatArray:
    """Sums of the rows ``lo .. lo + width - 1`` of ``a`` (n, c), for each start in ``lo``
    (any shape): shape ``(*lo.shape, c)``. Rows outside ``[0, n)`` count for nothing. Over
    the low-passed accelerometer, the direction of gravity in those windows (``unit``)."""
    n = a.shape[0]
    rows = lo[..., None] + np.arange(width)
    inside = (rows >= 0) & (rows < n)
    return np.asarray((a[np.clip(rows, 0, n - 1)] * inside[..., None]).sum(axis=-2))


def angles_deg(a: FloatArray, b: FloatArray) -> FloatArray:
    """Angles between the rows of ``a`` and ``b`` (..., 3), degrees."""
    c = np.einsum("...c,...c->...", unit(a), unit(b))
    return np.asarray(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def pitch_axis(directions: FloatArray) -> FloatArray:
    """Normal of the plane gravity sweeps: mean direction x largest principal component."""
    mean = directions.mean(axis=0)
    d = directions - mean
    _, vecs = np.linalg.eigh(d.T @ d)
    return unit(np.cross(unit(mean), vecs[:, -1]))


_LEVEL_DEG = 3.0  # a rep whose roll reads under this about an axis is level about it (Tukey c)
_MIN_SWING = float(np.sin(np.radians(5.0)))  # a rep that pitches less says nothing of the axis
_CONVERGED_COS = float(np.cos(np.radians(0.01)))  # the axis search stops when it moves less


def _tukey(x: FloatArray) -> FloatArray:
    """Tukey's biweight of ``x`` (in units of its cut-off): 1 at 0, 0 from |x| >= 1."""
    return np.where(np.abs(x) < 1.0, (1.0 - x * x) ** 2, 0.0)


def roll_change_deg(before: FloatArray, top: FloatArray, axis: FloatArray) -> FloatArray:
    """Change of ``axis``' elevation above the horizontal from ``before`` to ``top``, degrees.

    ``before`` and ``top`` are (n, 3) unit directions of gravity's reaction (up), ``axis`` the
    unit medio-lateral axis (3,), all in the sensor frame; positive when ``axis`` rises.
    ``axis`` may be several axes as columns (3, m): then (n, m), one column per axis.
    """
    return np.asarray(
        np.degrees(np.arcsin(np.clip(top @ axis, -1, 1)) - np.arcsin(np.clip(before @ axis, -1, 1)))
    )


def ml_axis(before: FloatArray, top: FloatArray) -> FloatArray:
    """The medio-lateral axis (unit, sensor frame) from reps' gravity at start and lockout.

    A level rep pitches the pelvis about this axis only, from a level start (sitting on the
    floor), so its turning axis ``before x top`` is the axis itself; a tilted rep's turning
    axis leans off it. The axis is the one about which the most reps read level (a Tukey
    M-estimate over the reps' turning axes, started from each of them), so any share of the
    reps may tilt as long as the level ones outnumber each group of equally tilted ones.
    Reps with little pitch are left out; with none, the normal of the plane gravity sweeps.
    """
    axes = np.cross(before, top)
    strong = np.linalg.norm(axes, axis=1) > _MIN_SWING
    if not strong.any():  # no pitch to speak of: fall back to the spread of gravity
        return pitch_axis(np.vstack([before, top]))
    b, t, a = before[strong], top[strong], unit(axes[strong])
    a *= np.where(a @ a[0] < 0, -1.0, 1.0)[:, None]  # one orientation for all

    def support(axis: FloatArray) -> FloatArray:
        return _tukey(roll_change_deg(b, t, axis) / _LEVEL_DEG)

    # the start: the turning axis most reps read level about (all of them at once: column j
    # of roll_change_deg(b, t, a.T) is the reps' rolls about axis j)
    best: FloatArray = a[int(np.argmax(support(a.T).sum(axis=0)))]
    for _ in range(5):  # reweighted mean of the level reps' axes
        w = support(best)
        if not w.any():
            break
        new = unit(w @ a)
        done = float(new @ best) > _CONVERGED_COS
        best = new
        if done:
            break
    return best


def tilt_per_rep(
    acc_lp: FloatArray, spans: Sequence[tuple[int, int, int]], settle: int
) -> list[float]:
    """Pelvic tilt of each rep: frontal-plane roll at lockout relative to its start, degrees.

    The roll is the change of the elevation of the pelvis' medio-lateral axis (the line
    through both hips) above the horizontal, from the rep's start to its lockout: 0 when the
    hips stay level, whatever the sensor's mounting and the pelvis' pitch; unsigned. Exact
    for any pose; for a pelvis pitched by ``p`` at lockout and then rolled by ``r`` about its
    own antero-posterior axis (the simulator's yaw-pitch-roll order), it is
    ``asin(sin r cos p)``.

    ``acc_lp`` is the low-passed accelerometer (g, sensor frame, mostly gravity) on the grid;
    ``spans`` holds (start, lockout, bottom) grid indices per rep; gravity is read where the
    sensor is nearly still: ``settle`` samples before the start, and around the lockout. The
    medio-lateral axis comes from the reps themselves (``ml_axis``).
    """
    if not spans:
        return []
    starts, lockouts = np.array([(s, lk) for s, lk, _ in spans], dtype=np.int64).T
    b = unit(window_sums(acc_lp, starts - settle, settle + 1))
    t = unit(window_sums(acc_lp, lockouts - settle // 2, settle // 2 * 2 + 1))
    return [float(abs(r)) for r in roll_change_deg(b, t, ml_axis(b, t))]
