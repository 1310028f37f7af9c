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

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensor.samples import FloatArray, Samples

_FEW_SAMPLES = 4096  # up to this many input samples, all channels share one bincount


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
    one step of a grid point in range must be present.
    """
    return resample_columns(
        t_s, np.ascontiguousarray(values.T), k_from, k_to, rate_hz, max_gap_s
    )


def resample_columns(  # noqa: PLR0917 - as resample_block
    t_s: FloatArray, columns: FloatArray, k_from: int, k_to: int, rate_hz: float,
    max_gap_s: float,
) -> GridBlock:
    """``resample_block`` with the (finite) values given as channel rows, shape (c, m)."""
    k = np.arange(k_from, k_to, dtype=np.int64)
    n = k.size
    c = columns.shape[0]
    if n == 0:
        return GridBlock(k, np.empty((0, c)), np.empty(0, dtype=bool))
    tg = k / rate_hz
    pos = t_s * rate_hz - k_from  # sample positions in grid steps from k_from
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    # rows: weights, counts, then the weighted channels; each bin sums its samples in order
    acc = np.zeros((c + 2, n))
    few = t_s.size <= _FEW_SAMPLES
    row_bins = (np.arange(c + 2) * n)[:, None] if few else None
    weighted = np.empty((c + 2, t_s.size) if few else t_s.size)
    for idx, w in ((lo, 1.0 - frac), (lo + 1, frac)):
        # Samples out of range, or with no weight, add exact zeros to the end bins: the same
        # sums as leaving them out, without copying the rest.
        ok = (idx >= 0) & (idx < n) & (w > 0)
        bins = np.maximum(idx, 0)  # np.clip(idx, 0, n - 1), without its wrapper
        np.minimum(bins, n - 1, out=bins)
        w_ok = np.where(ok, w, 0.0)
        if row_bins is not None:  # a short block: every row in one bincount
            weighted[0] = w_ok
            weighted[1] = ok
            np.multiply(columns, w_ok, out=weighted[2:])
            acc += np.bincount(
                (bins + row_bins).ravel(), weights=weighted.ravel(), minlength=(c + 2) * n
            ).reshape(c + 2, n)
            continue
        acc[0] += np.bincount(bins, weights=w_ok, minlength=n)
        acc[1] += np.bincount(bins[ok], minlength=n)  # whole numbers: exact either way
        for j in range(c):  # a long block: one channel at a time, no (c, m) temporary
            np.multiply(columns[j], w_ok, out=weighted)
            acc[j + 2] += np.bincount(bins, weights=weighted, minlength=n)
    weights, counts, sums = acc[0], acc[1], acc[2:]
    dense = (counts >= 2) & (weights >= 0.5)  # enough samples around k for a weighted mean
    out = np.ascontiguousarray((sums / np.maximum(weights, 0.5)).T)
    sparse = np.flatnonzero(~dense)
    if sparse.size:  # the others: linear interpolation
        for j in range(c):
            out[sparse, j] = np.interp(tg[sparse], t_s, columns[j])
    return GridBlock(k, out, _in_gaps(t_s, tg, max_gap_s))


def _in_gaps(t_s: FloatArray, tg: FloatArray, max_gap_s: float) -> NDArray[np.bool_]:
    """Grid times ``tg`` (sorted) that fall in a gap of the samples longer than ``max_gap_s``:
    after a sample and at or before the next one (before the first sample and after the last
    count with the first and last intervals)."""
    gap = np.zeros(tg.size, dtype=bool)
    for i in np.flatnonzero(np.diff(t_s) > max_gap_s).tolist():
        lo = 0 if i == 0 else int(np.searchsorted(tg, t_s[i], side="right"))
        hi = tg.size if i == t_s.size - 2 else int(np.searchsorted(tg, t_s[i + 1], side="right"))
        gap[lo:hi] = True
    return gap


class GridResampler:
    """Streaming wrapper: keeps the input tail that later grid points still need."""

    def __init__(self, rate_hz: float, max_gap_s: float) -> None:
        self.rate_hz = rate_hz
        self.max_gap_s = max_gap_s
        self._t = np.empty(0)
        self._v = np.empty((0, 0))  # channel rows (c, m)
        self._next_k: int | None = None

    def push(self, samples: Samples) -> GridBlock | None:
        """Add samples; return the grid points that are now final (or None)."""
        if len(samples) == 0:
            return None
        # channel rows (c, m), contiguous: acc, then gyro
        v = np.empty((3 if samples.gyro_dps is None else 6, len(samples)))
        v[:3] = samples.acc_g.T
        if samples.gyro_dps is not None:
            v[3:] = samples.gyro_dps.T
        if self._t.size:
            keep = samples.t_s >= self._t[-1]  # drop samples that go back in time
            self._t = np.concatenate([self._t, samples.t_s[keep]])
            self._v = np.ascontiguousarray(np.concatenate([self._v, v[:, keep]], axis=1))
        else:
            self._t, self._v = samples.t_s.copy(), v
        if self._next_k is None:
            self._next_k = int(np.ceil(self._t[0] * self.rate_hz - 1e-9))
        # Final: grid points whose one-step support is closed (a later sample is past it).
        k_last = int(np.ceil(self._t[-1] * self.rate_hz)) - 2
        if k_last < self._next_k:
            return None
        block = resample_columns(
            self._t, self._v, self._next_k, k_last + 1, self.rate_hz, self.max_gap_s
        )
        self._next_k = k_last + 1
        # Keep the samples still needed: those within a step of the next grid point, and the
        # last one before (for interpolation).
        t_next = (self._next_k - 1) / self.rate_hz
        first = max(0, int(np.searchsorted(self._t, t_next, side="left")) - 1)
        self._t, self._v = self._t[first:], self._v[:, first:]
        return block

    def flush(self) -> GridBlock | None:
        """At the end of the stream: the grid points up to the last sample."""
        if self._next_k is None or self._t.size == 0:
            return None
        k_last = int(np.floor(self._t[-1] * self.rate_hz + 1e-9))
        if k_last < self._next_k:
            return None
        block = resample_columns(
            self._t, self._v, self._next_k, k_last + 1, self.rate_hz, self.max_gap_s
        )
        self._next_k = k_last + 1
        return block
