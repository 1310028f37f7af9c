"""Topic building and sanitising: no user-given name can escape the prefix."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.events import LinkBack, LockoutReached, RepDone, SetDone
from sensor.mqtt_topics import (
    Topics,
    event_kind,
    event_payload,
    is_safe_topic,
    sanitise_prefix,
    sanitise_segment,
    sessions_filter,
)
from sensor.summary import Leg, Rep, SetResult

SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def test_layout() -> None:
    t = Topics.for_device("hipthrust", "garage")
    assert t.status == "hipthrust/garage/status"
    assert t.latest == "hipthrust/garage/latest"
    assert t.session("2024-05-01T10") == "hipthrust/garage/sessions/2024-05-01T10"
    assert t.event("rep") == "hipthrust/garage/events/rep"
    assert sessions_filter("hipthrust") == "hipthrust/+/sessions/+"
    assert sessions_filter("hipthrust", "garage") == "hipthrust/garage/sessions/+"


def test_known_hostile_names() -> None:
    assert sanitise_segment("ok-name_1") == "ok-name_1"
    for hostile in ("+", "#", "a/b", "../x", "x y", "nul\0", "$SYS", "", "é"):
        assert SAFE.fullmatch(sanitise_segment(hostile)), hostile
    assert sanitise_segment("a/b") != sanitise_segment("a_b")  # no collisions by cleaning
    assert sanitise_prefix("/a//b c/") == f"a/{sanitise_segment('b c')}"
    assert sanitise_prefix("") == "hipthrust"
    assert not is_safe_topic("a/+/b")
    assert not is_safe_topic("a//b")
    assert is_safe_topic("a/b")


@settings(max_examples=200)
@given(st.text(max_size=100), st.text(max_size=100), st.text(max_size=100))
def test_any_names_stay_inside_the_prefix(prefix: str, device: str, session: str) -> None:
    t = Topics.for_device(prefix, device)
    for topic in (t.status, t.latest, t.session(session), t.event(session)):
        assert t.contains(topic)
        assert topic.startswith(sanitise_prefix(prefix) + "/")
        levels = topic.split("/")
        assert len(levels) == len(sanitise_prefix(prefix).split("/")) + (
            2 if topic in (t.status, t.latest) else 3)
        assert all(SAFE.fullmatch(level) for level in levels)


@settings(max_examples=100)
@given(st.text(max_size=80), st.text(max_size=80))
def test_sanitising_is_stable_and_distinct(a: str, b: str) -> None:
    assert sanitise_segment(sanitise_segment(a)) == sanitise_segment(a)
    if a != b:
        assert sanitise_segment(a) != sanitise_segment(b) or len(a) > 64 or len(b) > 64


def test_event_payloads() -> None:
    rep = Rep(index=2, t_start=1.0, t_lockout=2.0, t_descent=4.5, t_bottom=6.0,
              concentric_s=1.0, hold_s=2.5, eccentric_s=1.5, peak_speed_mps=0.4, range_m=0.2)
    done = RepDone(1, Leg.LEFT, rep)
    assert event_kind(done) == "rep"
    p = event_payload(done)
    assert (p["schema"], p["type"], p["leg"], p["rep"]["hold_s"]) == (
        "hipthrust.event", "rep", "left", 2.5)
    s = event_payload(SetDone(SetResult(index=1, leg=Leg.RIGHT, reps=(rep,))))
    assert (s["type"], s["rep_count"], s["leg"]) == ("set", 1, "right")
    assert event_payload(LockoutReached(3.0, 0, 1, Leg.LEFT))["t_s"] == 3.0
    assert event_payload(LinkBack(9.0, 4))["lost_packets"] == 4
    assert event_kind(LinkBack(9.0, 4)) == "link"
