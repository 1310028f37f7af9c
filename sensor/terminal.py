"""The live terminal display: rep count, hold timer, tempo, set and leg, link health; keys.

Rendering is pure: :func:`view_of` takes a snapshot of a ``LiveSession`` (a frozen
:class:`LiveView`), :func:`render` turns a view into text lines and :func:`event_line` an
event into one plain line. :class:`Display` does the I/O: on a terminal it redraws the
panel in place a few times a second; otherwise (a pipe, a log file) it prints one line per
event. :class:`KeyReader` reads single keys (``l``/``r`` leg, ``e`` end the set, ``q`` quit)
in cbreak mode, only when stdin is a terminal, and always restores the terminal settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from sensor.engine.lockout import LiveTempo
from sensor.events import Event, LinkBack, LinkLost, LockoutReached, RepDone, SetDone
from sensor.live import LiveSession
from sensor.summary import Leg, Phase

REFRESH_S = 0.1
KEYS_HELP = "keys: l/r leg  e end set  q quit"


@dataclass(frozen=True)
class LiveView:
    """What the panel shows. Times in seconds; ``set_index`` is 0-based (shown 1-based)."""

    set_index: int
    leg: Leg
    reps: int
    phase: Phase | None
    hold_s: float | None  # running hold at lockout, None when not holding
    tempo: LiveTempo
    pause_target_s: float | None
    rate_hz: float | None
    loss_pct: float | None  # None: the sensor sends no sequence number, loss is not countable
    lost_packets: int
    battery_pct: int | None
    connected: bool
    last_set: str | None = None
    keys: bool = False


def _fmt_s(x: float | None) -> str:
    return "  -  " if x is None else f"{x:4.1f}s"


def render(view: LiveView) -> list[str]:
    """The panel as text lines (no colour, no cursor codes)."""
    hold = "" if view.hold_s is None else f"  HOLD {view.hold_s:4.1f}s"
    if view.hold_s is not None and view.pause_target_s is not None:
        mark = "ok" if view.hold_s >= view.pause_target_s else "..."
        hold += f" / {view.pause_target_s:g}s {mark}"
    t = view.tempo
    rate = "-" if view.rate_hz is None else f"{view.rate_hz:.0f}/s"
    battery = "?" if view.battery_pct is None else f"{view.battery_pct}%"
    link = "connected" if view.connected else "RECONNECTING"
    loss = "n/a" if view.loss_pct is None else f"{view.loss_pct:.1f}% ({view.lost_packets})"
    lines = [
        f"set {view.set_index + 1}  leg {view.leg.value:<5}  reps {view.reps:>2}{hold}",
        f"last rep  up {_fmt_s(t.concentric_s)}  hold {_fmt_s(t.hold_s)}"
        f"  down {_fmt_s(t.eccentric_s)}",
        f"link {link}  {rate}  loss {loss}"
        f"  battery {battery}",
    ]
    if view.last_set:
        lines.append(view.last_set)
    if view.keys:
        lines.append(KEYS_HELP)
    return lines


def set_line(ev: SetDone) -> str:
    s = ev.set
    return f"set {s.index + 1} ({s.leg.value}): {len(s.reps)} reps"


def event_line(ev: Event) -> str | None:
    """One plain line for an event (the non-terminal output), or None to stay quiet."""
    if isinstance(ev, LockoutReached):
        return (f"{ev.t_s:9.2f}s  lockout  set {ev.set_index + 1} ({ev.leg.value}) "
                f"rep {ev.rep_index + 1}")
    if isinstance(ev, SetDone):
        return f"{'':11}{set_line(ev)}"
    if isinstance(ev, LinkLost):
        return f"{ev.t_s:9.2f}s  link lost, reconnecting"
    if isinstance(ev, LinkBack):
        return f"{ev.t_s:9.2f}s  link back, {ev.lost_packets} packets lost"
    if isinstance(ev, RepDone):
        return None  # the set line says it all
    return None


class ViewState:
    """Follows the events to know the current set, leg and live rep count."""

    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self.set_index = 0
        self.reps = 0
        self.leg: Leg = session.engine.options.first_leg
        self.connected = True
        self.last_set: str | None = None
        self.leg_forced = False

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, LockoutReached):
            if ev.set_index != self.set_index:
                self.set_index, self.reps = ev.set_index, 0
            self.reps = ev.rep_index + 1
            if not self.leg_forced:
                self.leg = ev.leg
        elif isinstance(ev, SetDone):
            self.last_set = set_line(ev)
            if ev.set.index >= self.set_index:
                self.set_index, self.reps = ev.set.index + 1, 0
                self.leg = ev.set.leg.other
                self.leg_forced = False
        elif isinstance(ev, LinkLost):
            self.connected = False
        elif isinstance(ev, LinkBack):
            self.connected = True

    def set_leg(self, leg: Leg) -> None:
        self.session.set_leg(leg)
        self.leg = leg
        self.leg_forced = True

    def view(self, keys: bool = False) -> LiveView:
        return view_of(self, keys)


def view_of(state: ViewState, keys: bool = False) -> LiveView:
    """A snapshot of the session for :func:`render`."""
    s = state.session
    det = s.detector
    lock = det.lockout_t_s
    now = s.stream_t_s
    hold = None if lock is None or now is None else max(0.0, now - lock)
    link = s.link
    return LiveView(
        set_index=state.set_index,
        leg=state.leg,
        reps=state.reps,
        phase=det.phase,
        hold_s=hold,
        tempo=det.tempo,
        pause_target_s=s.options.pause_s,
        rate_hz=link.rate_hz,
        loss_pct=link.loss_pct if link.loss_countable else None,
        lost_packets=link.lost_packets,
        battery_pct=link.battery_pct,
        connected=state.connected,
        last_set=state.last_set,
        keys=keys,
    )


class Display:
    """Shows the session on ``out``: a live panel on a terminal, else one line per event."""

    def __init__(self, session: LiveSession, out: TextIO | None = None, *,
                 live: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.state = ViewState(session)
        self.live = self.out.isatty() if live is None else live
        self.keys = False
        self._lines_drawn = 0
        self._task: asyncio.Task[None] | None = None

    def on_event(self, ev: Event) -> None:
        self.state.on_event(ev)
        if not self.live:
            line = event_line(ev)
            if line is not None:
                print(line, file=self.out, flush=True)

    def draw(self) -> None:
        lines = render(self.state.view(self.keys))
        up = f"\x1b[{self._lines_drawn}F" if self._lines_drawn else ""
        text = up + "".join(f"\x1b[2K{line}\n" for line in lines)
        if self._lines_drawn > len(lines):
            text += "\x1b[2K\n" * (self._lines_drawn - len(lines))
        self.out.write(text)
        self.out.flush()
        self._lines_drawn = max(self._lines_drawn, len(lines))

    async def _refresh(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(REFRESH_S)

    def start(self) -> None:
        if self.live and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.draw()


KEY_ACTIONS = ("l", "r", "e", "q")


@contextlib.contextmanager
def key_reader(on_key: Callable[[str], None], stream: TextIO | None = None) -> Iterator[bool]:
    """Call ``on_key`` with each key pressed, while in the block. Yields whether keys are read.

    Only when the stream is a terminal (and termios exists): cbreak mode, non-blocking reads
    through the event loop's reader; the terminal settings are restored on the way out.
    """
    stdin = stream or sys.stdin
    try:
        import termios  # noqa: PLC0415 - POSIX only
        import tty  # noqa: PLC0415
    except ImportError:
        yield False
        return
    if not stdin.isatty():
        yield False
        return
    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 32).decode(errors="ignore")
        except OSError:
            return
        for ch in data.lower():
            if ch in KEY_ACTIONS:
                on_key(ch)

    try:
        tty.setcbreak(fd)
        loop.add_reader(fd, readable)
        yield True
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def key_handler(state: ViewState, stop: asyncio.Event) -> Callable[[str], None]:
    """The actions of the keys on a session."""

    def on_key(ch: str) -> None:
        if ch == "l":
            state.set_leg(Leg.LEFT)
        elif ch == "r":
            state.set_leg(Leg.RIGHT)
        elif ch == "e":
            state.session.end_set()
        elif ch == "q":
            stop.set()

    return on_key
