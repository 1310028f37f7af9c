"""Home Assistant discovery: payloads, templates rendered on a real summary, and republishing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jinja2
from mosquitto_broker import Mosquitto
from mqtt_docs import make_doc
from mqtt_helpers import last_message_per_topic, make_config

from sensor.homeassistant import discovery_messages
from sensor.mqtt_publish import MqttSink, make_client, topics_for
from sensor.mqtt_topics import Topics


def render(template: str, doc: Any) -> str:
    """Render like Home Assistant does: ``value_json`` is the parsed payload."""
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - plain text, not HTML
    env.filters["tojson"] = json.dumps
    return env.from_string(template).render(value_json=doc).strip()


def test_discovery_payloads_follow_current_conventions() -> None:
    topics = Topics.for_device("hipthrust", "garage")
    messages = dict(discovery_messages(topics, "homeassistant"))
    assert set(messages) == {
        "homeassistant/sensor/garage/rep_count/config",
        "homeassistant/sensor/garage/mean_hold/config",
        "homeassistant/sensor/garage/hold_asymmetry/config",
        "homeassistant/sensor/garage/max_asymmetry/config",
        "homeassistant/binary_sensor/garage/connected/config",
    }
    identifiers = {json.dumps(p["device"]["identifiers"]) for p in messages.values()}
    assert identifiers == {'["hipthrust_garage"]'}  # one device
    for topic, payload in messages.items():
        assert "object_id" not in payload
        component = topic.split("/")[1]
        assert payload["default_entity_id"] == f"{component}.{payload['unique_id']}"
    rep = messages["homeassistant/sensor/garage/rep_count/config"]
    assert rep["state_topic"] == "hipthrust/garage/latest"
    assert messages["homeassistant/binary_sensor/garage/connected/config"]["state_topic"] == \
        "hipthrust/garage/status"


def test_value_templates_give_the_latest_session_values() -> None:
    doc = make_doc("s", left_hold_s=2.0, right_hold_s=1.5)  # 3 reps per leg
    payloads = {p["unique_id"]: p for _, p in
                discovery_messages(Topics.for_device("hipthrust", "g"), "homeassistant")}
    assert render(payloads["hipthrust_g_rep_count"]["value_template"], doc) == "6"
    assert render(payloads["hipthrust_g_mean_hold"]["value_template"], doc) == "1.75"
    assert render(payloads["hipthrust_g_hold_asymmetry"]["value_template"], doc) == "28.6"
    assert render(payloads["hipthrust_g_max_asymmetry"]["value_template"], doc) == "28.6"
    attrs = render(payloads["hipthrust_g_max_asymmetry"]["json_attributes_template"], doc)
    assert json.loads(attrs)["hold_pct"] == 28.6
    available = payloads["hipthrust_g_rep_count"]["availability_template"]
    assert render(available, doc) == "online"
    assert render(available, {"schema": "other"}) == "offline"
    no_reps: dict[str, Any] = {**doc, "legs": {}}
    assert render(payloads["hipthrust_g_mean_hold"]["value_template"], no_reps) == "unknown"


async def test_discovery_is_retained_and_republished_when_ha_comes_online(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path, device_id="garage")
    async with MqttSink(cfg) as sink:
        assert await sink.wait_connected(10)
        await sink.publish_summary(make_doc("ha-1"))
        async with asyncio.timeout(10):
            await sink.drain()
        async with make_client(cfg, role="ha") as ha:
            await ha.subscribe(f"{cfg.discovery_prefix}/+/garage/+/config", qos=1)
            retained = await last_message_per_topic(ha)
            assert len(retained) == 5
            assert all(m.retain for m in retained.values())
            state = json.loads(next(iter(retained.values())).payload)
            assert state["state_topic"] == topics_for(cfg).latest

            await ha.publish(f"{cfg.discovery_prefix}/status", "online", qos=1)
            again = await last_message_per_topic(ha)
            assert set(again) == set(retained)
            assert not any(m.retain for m in again.values())  # live republish, not the backlog
