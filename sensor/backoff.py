"""Reconnect back-off: how long to wait before the next connection attempt.

A pure function, modelled on bleak-retry-connector's back-off: exponential growth from
``base_s``, capped at ``max_s``. Jitter (to keep several hosts from retrying in lock-step) is
a number the caller draws, so the function itself stays deterministic and testable.
"""

from __future__ import annotations

_MAX_DOUBLINGS = 60  # 2**60 times any sane base is far past any cap; avoids float overflow


def backoff_delay_s(
    attempt: int, base_s: float = 0.25, max_s: float = 8.0, jitter: float = 0.0
) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (1 = the first retry).

    The delay is ``base_s * 2**(attempt - 1)``, stretched by ``1 + jitter`` and capped at
    ``max_s``. ``jitter`` is a fraction >= 0 the caller draws (e.g. ``rng.uniform(0, 0.2)``).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, not {attempt}")
    if base_s < 0 or max_s < 0 or jitter < 0:
        raise ValueError("base_s, max_s and jitter must be >= 0")
    raw_s = base_s * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)
    return min(max_s, raw_s * (1.0 + jitter))
