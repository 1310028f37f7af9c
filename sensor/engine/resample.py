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

from sensor.engine.kernels import (
    NO_K,
    SCAN_DONE,
    SCAN_NO_INPUT,
    grid_lockout_step,
    grid_push,
    grid_push_into,
    resample_rows,
)
from sensor.samples import FloatArray, Samples

_NO_GYRO = np.empty((0, 3))
_F64 = np.dtype(np.float64)
_NO_TIMES = np.empty(0)


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

    The per-sample work is compiled (``kernels.resample_rows``).
    """
    k = np.arange(k_from, k_to, dtype=np.int64)
    n = k.size
    c = values.shape[1]
    if n == 0:
        return GridBlock(k, np.empty((0, c)), np.empty(0, dtype=bool))
    out, gap = resample_rows(
        np.ascontiguousarray(t_s, dtype=np.float64),  # the kernel's layout
        np.ascontiguousarray(values, dtype=np.float64),
        k_from, n, float(rate_hz), float(max_gap_s),
    )
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
        self.rate_hz = float(rate_hz)
        self.max_gap_s = float(max_gap_s)
        self._t = np.empty(0)  # times, s: the first _m are the buffer
        self._v = np.empty((0, 0))  # values (m, c): acc in g, then gyro in deg/s
        # the kernels' two counters, in place: samples kept (_m), next grid point (_next_k)
        self._state = np.array([0, NO_K], dtype=np.int64)

    @property
    def _m(self) -> int:
        return int(self._state[0])

    @property
    def _next_k(self) -> int:
        return int(self._state[1])

    def push(self, samples: Samples) -> GridBlock | None:
        """Add samples; return the grid points that are now final (or None)."""
        t_s, gyro = samples.t_s, samples.gyro_dps
        if t_s.shape[0] == 0:
            return None
        self._room(samples)
        return self._step(
            np.ascontiguousarray(t_s, dtype=np.float64),  # the kernel's layout
            np.ascontiguousarray(samples.acc_g, dtype=np.float64),
            _NO_GYRO if gyro is None else np.ascontiguousarray(gyro, dtype=np.float64),
            final=False,
        )

    def push_into(
        self,
        samples: Samples,
        rows: FloatArray,
        gap: NDArray[np.bool_],
        at: int,
        lockout: tuple[FloatArray, ...] | None = None,
    ) -> tuple[int, int, int, int]:
        """``push``, with the grid points that are now final written straight into the
        caller's buffers: values into ``rows[at:]`` (c columns, as the samples), flags into
        ``gap[at:]``. Returns (grid index of the first, how many, 0, SCAN_DONE). When they do
        not fit, nothing is done and the count is negative: make room for that many and call
        again.

        ``lockout``: a lockout detector's kernel arguments (``LockoutDetector.kernel_args``):
        the new rows also go through the detector's kernel, in the same compiled call, and
        the last two numbers are its scan's stopping row and SCAN_* code.
        """
        t_s, acc, gyro = samples.t_s, samples.acc_g, samples.gyro_dps
        if gyro is None:
            gyro = _NO_GYRO
        if t_s.dtype != _F64 or acc.dtype != _F64 or gyro.dtype != _F64:
            # the kernels' types, any layout (native float64 only)
            t_s, acc, gyro = (x.astype(np.float64) for x in (t_s, acc, gyro))
        if lockout is not None:  # (the kernel checks the input buffer's room)
            out = grid_lockout_step(t_s, acc, gyro, rows, gap, at, self._t, self._v,
                                    self._state, self.rate_hz, self.max_gap_s, *lockout)
            if out[3] != SCAN_NO_INPUT:
                return out
            self._room(samples)
            return grid_lockout_step(t_s, acc, gyro, rows, gap, at, self._t, self._v,
                                     self._state, self.rate_hz, self.max_gap_s, *lockout)
        n = t_s.shape[0]
        if n == 0:
            return 0, 0, 0, SCAN_DONE
        c = 3 if samples.gyro_dps is None else 6
        if self._state[0] + n > self._t.size or self._v.shape[1] != c:
            self._room(samples)
        state = self._state
        m, k_to, n = grid_push_into(
            self._t, self._v, int(state[0]), t_s, acc, gyro, int(state[1]), self.rate_hz,
            self.max_gap_s, rows, gap, at,
        )
        if n >= 0:
            state[0], state[1] = m, k_to
        return k_to - max(n, 0), n, 0, SCAN_DONE

    def _room(self, samples: Samples) -> None:
        """Room in the input buffer for ``samples`` (the kernel fills it)."""
        n = samples.t_s.shape[0]
        c = 3 if samples.gyro_dps is None else 6
        if self._v.shape[1] not in (0, c):
            raise ValueError("every block must have the gyro, or none")
        need = self._m + n
        if need > self._t.size:  # room for the new samples (the kernel fills it)
            cap = max(need, 2 * self._t.size, 64)
            t, v = np.empty(cap), np.empty((cap, c))
            if self._m:
                t[: self._m], v[: self._m] = self._t[: self._m], self._v[: self._m]
            self._t, self._v = t, v

    def flush(self) -> GridBlock | None:
        """At the end of the stream: the grid points up to the last sample."""
        if self._next_k == NO_K or self._m == 0:
            return None
        return self._step(_NO_TIMES, _NO_GYRO, _NO_GYRO, final=True)

    def _step(
        self, t_s: FloatArray, acc: FloatArray, gyro: FloatArray, *, final: bool
    ) -> GridBlock | None:
        m, k_to, out, gap = grid_push(
            self._t, self._v, self._m, t_s, acc, gyro, self._next_k, self.rate_hz,
            self.max_gap_s, final,
        )
        self._state[0], self._state[1] = m, k_to
        n = out.shape[0]
        if n == 0:
            return None
        return GridBlock(np.arange(k_to - n, k_to, dtype=np.int64), out, gap)
