"""Known answers for the reconnect back-off."""

from __future__ import annotations

import pytest

from sensor.backoff import backoff_delay_s


@pytest.mark.parametrize(
    ("attempt", "expected_s"),
    [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 8.0), (7, 8.0), (1000, 8.0)],
)
def test_doubles_from_base_up_to_the_cap(attempt: int, expected_s: float) -> None:
    assert backoff_delay_s(attempt) == expected_s


def test_jitter_stretches_the_delay_but_never_past_the_cap() -> None:
    assert backoff_delay_s(2, jitter=0.5) == 0.75
    assert backoff_delay_s(3, base_s=0.1, max_s=1.0, jitter=0.2) == pytest.approx(0.48)
    assert backoff_delay_s(6, jitter=0.2) == 8.0


def test_other_base_and_cap() -> None:
    assert backoff_delay_s(1, base_s=1.0, max_s=30.0) == 1.0
    assert backoff_delay_s(5, base_s=1.0, max_s=30.0) == 16.0
    assert backoff_delay_s(6, base_s=1.0, max_s=30.0) == 30.0


@pytest.mark.parametrize(
    "bad", [{"attempt": 0}, {"attempt": 1, "jitter": -0.1}, {"attempt": 1, "base_s": -1}]
)
def test_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=">="):
        backoff_delay_s(**bad)  # type: ignore[arg-type]
