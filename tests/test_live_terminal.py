"""The live display: pure rendering, event lines, and the state that follows the events."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from sensor.engine import AnalysisOptions
from sensor.engine.lockout import LiveTempo
from sensor.events import LinkBack, LinkLost, LockoutReached, RepDone, SetDone
from sensor.live import LiveSession
from sensor.summary import Leg, Phase, Rep, SetResult
from sensor.terminal import (
    KEYS_HELP,
    Display,
    LiveView,
    ViewState,
    event_line,
    key_handler,
    key_reader,
    render,
)


def view(**kw: object) -> LiveView:
    base: dict[str, object] = dict(
        set_index=1, leg=Leg.RIGHT, reps=4, phase=Phase.HOLD, hold_s=2.34,
        tempo=LiveTempo(1.21, 0.8, 1.9), pause_target_s=None, rate_hz=100.4, loss_pct=1.25,
        lost_packets=3, battery_pct=87, connected=True,
    )
    base.update(kw)
    return LiveView(**base)  # type: ignore[arg-type]


def test_render_shows_count_hold_tempo_set_leg_and_link() -> None:
    assert render(view()) == [
        "set 2  leg right  reps  4  HOLD  2.3s",
        "last rep  up  1.2s  hold  0.8s  down  1.9s",
        "link connected  100/s  loss 1.2% (3)  battery 87%",
    ]


def test_render_pause_target_unknowns_reconnecting_and_keys() -> None:
    lines = render(view(hold_s=1.0, pause_target_s=3.0, tempo=LiveTempo(1.0, None, None),
                        rate_hz=None, battery_pct=None, connected=False, keys=True,
                        last_set="set 1 (left): 8 reps"))
    assert lines[0].endswith("HOLD  1.0s / 3s ...")
    assert lines[1] == "last rep  up  1.0s  hold   -    down   -  "
    assert lines[2] == "link RECONNECTING  -  loss 1.2% (3)  battery ?"
    assert lines[3:] == ["set 1 (left): 8 reps", KEYS_HELP]
    assert render(view(hold_s=3.2, pause_target_s=3.0))[0].endswith("/ 3s ok")
    assert "HOLD" not in render(view(hold_s=None))[0]
    # a sensor with no sequence numbers (WitMotion): loss cannot be counted, and says so
    assert render(view(loss_pct=None))[2] == "link connected  100/s  loss n/a  battery 87%"


def make_set(index: int, leg: Leg, n: int) -> SetResult:
    reps = tuple(Rep(i, 10.0 * i, 10.0 * i + 1, 10.0 * i + 2, 10.0 * i + 3, 1.0, 1.0, 1.0,
                     0.3, 0.25)
                 for i in range(n))
    return SetResult(index, leg, reps)


def test_event_lines() -> None:
    assert event_line(LockoutReached(12.345, 0, 2, Leg.LEFT)) == \
        "    12.35s  lockout  set 1 (left) rep 3"
    assert event_line(SetDone(make_set(1, Leg.RIGHT, 6))).strip() == "set 2 (right): 6 reps"
    assert event_line(LinkLost(3.0)) == "     3.00s  link lost, reconnecting"
    assert event_line(LinkBack(4.5, 7)) == "     4.50s  link back, 7 packets lost"
    assert event_line(RepDone(0, Leg.LEFT, make_set(0, Leg.LEFT, 1).reps[0])) is None


def test_view_state_follows_events_and_keys(tmp_path: Path) -> None:
    session = LiveSession(tmp_path / "x.csv", AnalysisOptions(first_leg=Leg.RIGHT))
    state = ViewState(session)
    assert (state.set_index, state.leg, state.reps) == (0, Leg.RIGHT, 0)
    state.on_event(LockoutReached(1.0, 0, 0, Leg.RIGHT))
    state.on_event(LockoutReached(3.0, 0, 1, Leg.RIGHT))
    assert state.reps == 2
    state.on_event(SetDone(make_set(0, Leg.RIGHT, 2)))
    assert (state.set_index, state.leg, state.reps) == (1, Leg.LEFT, 0)
    assert state.last_set == "set 1 (right): 2 reps"
    state.on_event(LinkLost(5.0))
    assert not state.view().connected
    state.on_event(LinkBack(6.0, 2))
    assert state.view().connected
    stop = asyncio.Event()
    on_key = key_handler(state, stop)
    on_key("r")
    assert state.leg is Leg.RIGHT
    # the engine was told too: its next set (none closed here) is on the right leg
    assert session.engine._leg(len(session.engine.sets)) is Leg.RIGHT
    on_key("l")
    assert state.leg is Leg.LEFT
    assert session.engine._leg(len(session.engine.sets)) is Leg.LEFT
    on_key("q")
    assert stop.is_set()


def test_plain_output_when_not_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    display = Display(LiveSession(tmp_path / "y.csv"), out)
    assert not display.live
    display.on_event(LockoutReached(1.5, 0, 0, Leg.LEFT))
    display.on_event(LinkLost(2.0))
    assert out.getvalue().splitlines() == [
        "     1.50s  lockout  set 1 (left) rep 1",
        "     2.00s  link lost, reconnecting",
    ]


def test_live_panel_redraws_in_place(tmp_path: Path) -> None:
    out = io.StringIO()
    display = Display(LiveSession(tmp_path / "z.csv"), out, live=True)
    display.draw()
    display.draw()
    text = out.getvalue()
    assert text.count("\x1b[3F") == 1  # the second draw moves up over the three lines
    assert text.count("reps  0") == 2


async def test_keys_are_not_read_without_a_terminal() -> None:
    with key_reader(lambda _ch: pytest.fail("no key expected"), io.StringIO()) as reading:
        assert reading is False
