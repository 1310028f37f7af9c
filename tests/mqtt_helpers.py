"""Helpers shared by the MQTT tests: a ``Config`` for a test broker and reading until quiet."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
from mosquitto_broker import Mosquitto

from sensor.config import Config, parse_broker_url


def make_config(broker: Mosquitto, tmp_path: Path, *, tls: bool = False,
                **overrides: Any) -> Config:
    """A config for ``broker`` with fresh, unique topic and discovery prefixes."""
    values: dict[str, Any] = {
        "broker": parse_broker_url(broker.tls_url if tls else broker.url),
        "username": broker.username,
        "password": broker.password,
        "ca_file": broker.ca_file if tls else None,
        "topic_prefix": f"t{uuid.uuid4().hex[:10]}",
        "device_id": "bench",
        "discovery_prefix": f"ha{uuid.uuid4().hex[:10]}",
        "data_dir": tmp_path / "data",
    }
    values.update(overrides)
    return Config(**values)


async def messages_until_quiet(client: aiomqtt.Client, quiet_s: float = 0.5,
                               ) -> list[aiomqtt.Message]:
    """Every message ``client`` receives, in order, until none comes for ``quiet_s``."""
    found: list[aiomqtt.Message] = []
    while True:
        try:
            async with asyncio.timeout(quiet_s):
                found.append(await anext(client.messages))
        except TimeoutError:
            return found


async def last_message_per_topic(client: aiomqtt.Client, quiet_s: float = 0.5,
                                 ) -> dict[str, aiomqtt.Message]:
    """``messages_until_quiet`` keyed by topic (the last message of each topic)."""
    return {m.topic.value: m for m in await messages_until_quiet(client, quiet_s)}
