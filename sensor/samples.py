"""IMU samples: the one data type every source produces and the engine consumes.

Conventions (the recording format of the product spec):
- ``t_s``: seconds, strictly increasing within a block, any origin.
- ``acc_g``: specific force in g, gravity included, in the sensor's own axes.
- ``gyro_dps``: angular rate in deg/s in the sensor's own axes, or ``None`` without a gyro.
The sensor may be mounted in any orientation: nothing downstream assumes an axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Samples:
    """A block of IMU samples.

    Attributes:
        t_s: sample times, shape (n,), seconds.
        acc_g: accelerometer, shape (n, 3), g, gravity included.
        gyro_dps: gyroscope, shape (n, 3), deg/s, or None when the sensor has none.
        metadata: free-form ``key=value`` pairs (``sensor``, ``fs``, ``calibration``...).
    """

    t_s: FloatArray
    acc_g: FloatArray
    gyro_dps: FloatArray | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.t_s.shape[0]
        if self.t_s.ndim != 1:
            raise ValueError("t_s must be one-dimensional")
        if self.acc_g.shape != (n, 3):
            raise ValueError(f"acc_g must have shape ({n}, 3), not {self.acc_g.shape}")
        if self.gyro_dps is not None and self.gyro_dps.shape != (n, 3):
            raise ValueError(f"gyro_dps must have shape ({n}, 3), not {self.gyro_dps.shape}")

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def has_gyro(self) -> bool:
        return self.gyro_dps is not None

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0]) if len(self) > 1 else 0.0

    def slice(self, start: int, stop: int) -> Samples:
        """Samples ``start:stop`` (index positions), sharing memory with this block."""
        gyro = None if self.gyro_dps is None else self.gyro_dps[start:stop]
        return Samples(self.t_s[start:stop], self.acc_g[start:stop], gyro, self.metadata)

    def chunks(self, sizes: int | Sequence[int]) -> list[Samples]:
        """Split into consecutive blocks of ``sizes`` samples, cycling through the sizes when
        several are given (the last block may be shorter)."""
        cycle = [sizes] if isinstance(sizes, int) else list(sizes)
        out: list[Samples] = []
        i = j = 0
        while i < len(self):
            n = max(1, cycle[j % len(cycle)])
            out.append(self.slice(i, i + n))
            i, j = i + n, j + 1
        return out

    @staticmethod
    def empty(*, with_gyro: bool = False) -> Samples:
        return Samples(
            np.empty(0), np.empty((0, 3)), np.empty((0, 3)) if with_gyro else None, {}
        )

    @staticmethod
    def concat(blocks: Sequence[Samples]) -> Samples:
        """Join blocks in order. Gyro is kept only when every block has it."""
        if not blocks:
            return Samples.empty()
        with_gyro = all(b.gyro_dps is not None for b in blocks)
        gyro = (
            np.concatenate([b.gyro_dps for b in blocks if b.gyro_dps is not None])
            if with_gyro
            else None
        )
        return Samples(
            np.concatenate([b.t_s for b in blocks]),
            np.concatenate([b.acc_g for b in blocks]),
            gyro,
            dict(blocks[0].metadata),
        )
