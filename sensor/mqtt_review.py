"""Collecting the retained session summaries from the broker (aiomqtt).

Subscribes to ``<prefix>/+/sessions/+`` and reads what the broker holds retained. To know when
the retained backlog has arrived, it then publishes a unique marker to a topic it is also
subscribed to (same QoS, same connection: the broker delivers it after the backlog); if the
broker's ACL drops the marker, a quiet period ends the collection instead. Payloads that are
too large, not JSON, not ``hipthrust.session`` documents, or whose ``session_id`` does not match
their topic are ignored with a warning. The result is deduplicated by ``session_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from sensor.config import Config
from sensor.mqtt_publish import broker_error, make_client
from sensor.mqtt_topics import sanitise_prefix, sanitise_segment, sessions_filter
from sensor.summary import SummaryFormatError, validate_document

log = logging.getLogger(__name__)

MAX_SUMMARY_BYTES = 1_000_000
"""Larger payloads on the review topics are ignored (a summary of 500 reps is ~200 kB)."""


@dataclass
class Collected:
    """Valid documents by session_id, and how many payloads were ignored."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    ignored: int = 0


def check_payload(
    topic: str, payload: bytes, *, max_bytes: int = MAX_SUMMARY_BYTES
) -> dict[str, Any]:
    """The summary document in a review-topic payload; raises ValueError with a reason."""
    if len(payload) > max_bytes:
        raise ValueError(f"payload of {len(payload)} bytes is over the {max_bytes} byte limit")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    try:
        doc = validate_document(doc)
    except SummaryFormatError as exc:
        raise ValueError(str(exc)) from None
    if topic.rsplit("/", 1)[-1] != sanitise_segment(doc["session_id"]):
        raise ValueError("session_id does not match the topic")
    return doc


def add_message(collected: Collected, topic: str, payload: bytes, *,
                max_bytes: int = MAX_SUMMARY_BYTES) -> None:
    """Check one message and keep it, or count it as ignored with a warning."""
    try:
        doc = check_payload(topic, payload, max_bytes=max_bytes)
    except ValueError as exc:
        collected.ignored += 1
        log.warning("ignored %s: %s", topic[:200].encode("unicode_escape").decode(), exc)
        return
    collected.documents[doc["session_id"]] = doc


async def collect_summaries(
    cfg: Config,
    *,
    device_id: str | None = None,
    quiet_s: float = 1.0,
    max_wait_s: float = 30.0,
    max_bytes: int = MAX_SUMMARY_BYTES,
) -> Collected:
    """The retained summaries on the broker (all devices under the prefix, or one)."""
    url = cfg.require_broker()
    collected = Collected()
    marker_topic = f"{sanitise_prefix(cfg.topic_prefix)}/_review/{uuid.uuid4().hex}"
    marker = uuid.uuid4().hex.encode()
    try:
        async with make_client(cfg, role="review") as client:
            await client.subscribe(sessions_filter(cfg.topic_prefix, device_id), qos=1)
            await client.subscribe(marker_topic, qos=1)
            await client.publish(marker_topic, marker, qos=1, retain=False)
            async with asyncio.timeout(max_wait_s):
                while True:
                    try:
                        async with asyncio.timeout(quiet_s):
                            message = await anext(client.messages)
                    except TimeoutError:
                        break
                    topic = message.topic.value
                    payload = message.payload
                    data = payload if isinstance(payload, bytes) else str(payload).encode()
                    if topic == marker_topic:
                        if data == marker:
                            break
                        continue
                    add_message(collected, topic, data, max_bytes=max_bytes)
    except aiomqtt.MqttError as exc:
        raise broker_error(url, exc) from None
    except TimeoutError:
        log.warning("stopped reading retained summaries after %.0f s", max_wait_s)
    return collected
