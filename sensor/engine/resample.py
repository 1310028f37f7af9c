"""Stage 1: irregular IMU samples to a uniform time grid, in chunks of any size.

The grid is ``t = k / grid_rate_hz`` for integer k, on the recording's own time base, so the
result does not depend on how the input was chunked. A grid point takes the triangle-weighted
mean of the input samples within one grid step of it when there are two or more (an
anti-alias filter at high rates, centred even when samples sit exactly half a step away), and
otherwise the linear interpolation of its two neighbours (low rates, jitter, duplicated
timestamps). Points inside a gap longer than ``max_gap_s`` are
interpolated too but flagged, so later stages treat them as a break.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensor.engine.kernels import append_samples, resample_bins
from sensor.samples import FloatArray, Samples

_NO_GYRO = np.empty((0, 3))


@dataclass(frozen=True)
class GridBlock:
    """Resampled values: ``k`` grid indices, ``values`` (n, c), ``gap`` flags (n,)."""

    k: NDArray[np.int64]
    values: FloatArray
    gap: NDArray[np.bool_]


def resample_block(  # noqa: PLR0917 - a pure stage: arrays and the grid, named by unit
    t_s: FloatArray, values: FloatArray, k_from: int, k_to: int, rate_hz: float, max_gap_s: float
) -> GridBlock:
    """Grid points ``k_from <= k < k_to`` from samples that bracket them. Pure.

    Every grid time in range must lie within ``[t_s[0], t_s[-1]]`` and every sample within
    one step of a grid point in range must be present. ``values`` (m, c) are finite.

    The binning is compiled (``kernels.resample_bins``); the points with too few samples
    around them are interpolated here (rare: low rates, jitter).
    """
    k = np.arange(k_from, k_to, dtype=np.int64)
    n = k.size
    c = values.shape[1]
    if n == 0:
        return GridBlock(k, np.empty((0, c)), np.empty(0, dtype=bool))
    t_s = np.ascontiguousarray(t_s, dtype=np.float64)  # the kernel's layout
    values = np.ascontiguousarray(values, dtype=np.float64)
    out, dense, gap, n_sparse = resample_bins(
        t_s, values, k_from, n, float(rate_hz), float(max_gap_s)
    )
    if n_sparse:  # the others: linear interpolation
        tg = k / rate_hz
        sparse = np.flatnonzero(~dense)
        for j in range(c):
            out[sparse, j] = np.interp(tg[sparse], t_s, values[:, j])
    return GridBlock(k, out, gap)


def resample_columns(  # noqa: PLR0917 - as resample_block
    t_s: FloatArray, columns: FloatArray, k_from: int, k_to: int, rate_hz: float,
    max_gap_s: float,
) -> GridBlock:
    """``resample_block`` with the values given as channel rows, shape (c, m)."""
    return resample_block(t_s, columns.T, k_from, k_to, rate_hz, max_gap_s)


class GridResampler:
    """Streaming wrapper: keeps the input tail that later grid points still need."""

    def __init__(self, rate_hz: float, max_gap_s: float) -> None:
        self.rate_hz = rate_hz
        self.max_gap_s = max_gap_s
        self._t = np.empty(0)
        self._v = np.empty((0, 0))  # values (m, c): acc in g, then gyro in deg/s
        self._next_k: int | None = None

    def push(self, samples: Samples) -> GridBlock | None:
        """Add samples; return the grid points that are now final (or None)."""
        if len(samples) == 0:
            return None
        # the buffer: times and values (m, c), acc then gyro; samples that go back in time
        # are dropped
        gyro = samples.gyro_dps
        if not self._t.size:
            self._v = np.empty((0, 3 if gyro is None else 6))
        self._t, self._v = append_samples(
            self._t,
            self._v,
            np.ascontiguousarray(samples.t_s, dtype=np.float64),  # the kernel's layout
            np.ascontiguousarray(samples.acc_g, dtype=np.float64),
            _NO_GYRO if gyro is None else np.ascontiguousarray(gyro, dtype=np.float64),
        )
        if self._next_k is None:
            self._next_k = math.ceil(float(self._t[0]) * self.rate_hz - 1e-9)
        # Final: grid points whose one-step support is closed (a later sample is past it).
        k_last = math.ceil(float(self._t[-1]) * self.rate_hz) - 2
        if k_last < self._next_k:
            return None
        block = resample_block(
            self._t, self._v, self._next_k, k_last + 1, self.rate_hz, self.max_gap_s
        )
        self._next_k = k_last + 1
        # Keep the samples still needed: those within a step of the next grid point, and the
        # last one before (for interpolation).
        t_next = (self._next_k - 1) / self.rate_hz
        first = max(0, int(np.searchsorted(self._t, t_next, side="left")) - 1)
        self._t, self._v = self._t[first:], self._v[first:]
        return block

    def flush(self) -> GridBlock | None:
        """At the end of the stream: the grid points up to the last sample."""
        if self._next_k is None or self._t.size == 0:
            return None
        k_last = int(np.floor(self._t[-1] * self.rate_hz + 1e-9))
        if k_last < self._next_k:
            return None
        block = resample_block(
            self._t, self._v, self._next_k, k_last + 1, self.rate_hz, self.max_gap_s
        )
        self._next_k = k_last + 1
        return block
