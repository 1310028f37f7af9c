"""Events the engine and the link emit while a session runs, for subscribers (terminal, MQTT).

Times ``t_s`` are on the recording's time base, in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sensor.summary import Leg, Rep, SetResult


@dataclass(frozen=True)
class LockoutReached:
    """The rise of a rep has ended at the top (emitted as soon as it is seen, live)."""

    t_s: float
    set_index: int
    rep_index: int
    leg: Leg


@dataclass(frozen=True)
class RepDone:
    """A rep is final: its phase times will not change any more."""

    set_index: int
    leg: Leg
    rep: Rep


@dataclass(frozen=True)
class SetDone:
    """A set is final (rest detected, the leg switched, or the session ended)."""

    set: SetResult


@dataclass(frozen=True)
class LinkLost:
    """The BLE link dropped."""

    t_s: float


@dataclass(frozen=True)
class LinkBack:
    """The BLE link is back; ``lost_packets`` counts what the sequence numbers say was lost."""

    t_s: float
    lost_packets: int


Event = LockoutReached | RepDone | SetDone | LinkLost | LinkBack
