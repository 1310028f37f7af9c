"""MQTT topic layout, name sanitising and live-event payloads (pure, no I/O).

Layout under the prefix (default ``hipthrust``)::

    <prefix>/<device_id>/status              retained "online"/"offline" (last will)
    <prefix>/<device_id>/latest              retained summary of the latest session, QoS 1
    <prefix>/<device_id>/sessions/<session>  retained summary per session, QoS 1
    <prefix>/<device_id>/events/<kind>       live events (rep, set, lockout, link), QoS 0

Every user-given name that ends up in a topic (device id, session id, prefix segments) goes
through ``sanitise_segment``: only ``[A-Za-z0-9_-]`` survive, so ``+``, ``#``, ``/``, spaces,
NUL and a leading ``$`` cannot add levels, match wildcards or leave the prefix. A name that had
to change gets a short hash of the original appended, so two different names never share a
topic.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sensor.events import Event, LinkBack, LinkLost, LockoutReached, RepDone, SetDone
from sensor.summary import rep_to_dict

MAX_SEGMENT_CHARS = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
EVENT_SCHEMA = "hipthrust.event"
EVENT_SCHEMA_VERSION = 1


def sanitise_segment(name: str) -> str:
    """One topic level made only of ``[A-Za-z0-9_-]``, at most ``MAX_SEGMENT_CHARS`` long."""
    cleaned = _UNSAFE.sub("_", name).strip("_")
    if cleaned == name and 0 < len(name) <= MAX_SEGMENT_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: MAX_SEGMENT_CHARS - 9] or 'x'}-{digest}"


def sanitise_prefix(prefix: str) -> str:
    """A prefix of one or more levels (``home/gym``); each level sanitised, empty ones dropped."""
    levels = [sanitise_segment(p) for p in prefix.split("/") if p.strip()]
    return "/".join(levels) or "hipthrust"


def is_safe_topic(topic: str) -> bool:
    """True for a publishable topic name: no wildcards, NUL or empty levels."""
    return bool(topic) and not any(c in topic for c in "+#\0") and "" not in topic.split("/")


@dataclass(frozen=True)
class Topics:
    """The topics of one device under one prefix. Build with ``Topics.for_device``."""

    prefix: str
    device_id: str

    @classmethod
    def for_device(cls, prefix: str, device_id: str) -> Topics:
        return cls(sanitise_prefix(prefix), sanitise_segment(device_id))

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def latest(self) -> str:
        return f"{self.base}/latest"

    def session(self, session_id: str) -> str:
        return f"{self.base}/sessions/{sanitise_segment(session_id)}"

    def event(self, kind: str) -> str:
        return f"{self.base}/events/{sanitise_segment(kind)}"

    def contains(self, topic: str) -> bool:
        """True if ``topic`` is a safe topic inside this device's tree."""
        return is_safe_topic(topic) and topic.startswith(self.base + "/")


def sessions_filter(prefix: str, device_id: str | None = None) -> str:
    """Subscription filter for the retained per-session summaries (all devices by default)."""
    device = "+" if device_id is None else sanitise_segment(device_id)
    return f"{sanitise_prefix(prefix)}/{device}/sessions/+"


def event_kind(event: Event) -> str:
    """The ``events/<kind>`` topic level of an event."""
    return _EVENT_KINDS[type(event)]


_EVENT_KINDS: dict[type, str] = {
    LockoutReached: "lockout",
    RepDone: "rep",
    SetDone: "set",
    LinkLost: "link",
    LinkBack: "link",
}


def event_payload(event: Event) -> dict[str, Any]:
    """JSON document of a live event: ``schema``, ``version``, ``type`` and the event fields.

    Times are on the recording's time base, in seconds; durations end in ``_s``.
    """
    body: dict[str, Any]
    match event:
        case LockoutReached():
            body = {"type": "lockout", "t_s": event.t_s, "set_index": event.set_index,
                    "rep_index": event.rep_index, "leg": event.leg.value}
        case RepDone():
            body = {"type": "rep", "set_index": event.set_index, "leg": event.leg.value,
                    "rep": rep_to_dict(event.rep)}
        case SetDone():
            s = event.set
            body = {"type": "set", "set_index": s.index, "leg": s.leg.value,
                    "rep_count": s.rep_count, "flags": list(s.flags)}
        case LinkLost():
            body = {"type": "link_lost", "t_s": event.t_s}
        case LinkBack():
            body = {"type": "link_back", "t_s": event.t_s, "lost_packets": event.lost_packets}
    return {"schema": EVENT_SCHEMA, "version": EVENT_SCHEMA_VERSION, **body}
