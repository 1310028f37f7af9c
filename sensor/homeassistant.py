"""Home Assistant MQTT discovery payloads (pure).

One device per ``device_id`` with sensors for the latest session: rep count, mean lockout hold
(s, weighted by reps over both legs), hold asymmetry (%) and the worst phase asymmetry (%),
all read with ``value_template`` from the retained ``latest`` summary, plus a connectivity
binary sensor on the ``status`` (availability) topic.

The summary sensors deliberately do not go unavailable when the recorder disconnects: they
describe the last finished session, which stays true while the sensor is switched off. They
are unavailable only while no valid summary is retained on ``latest`` (availability template on
that topic). The recorder's own online/offline state is the connectivity sensor.

Topics are ``<discovery_prefix>/<component>/<device_id>/<key>/config``, retained. Entity ids
are set with ``default_entity_id`` (``sensor.hipthrust_<device>_<key>``); the deprecated
``object_id`` is not used (Home Assistant 2025.10+).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sensor import __version__
from sensor.mqtt_topics import Topics

# Weighted mean of the per-leg hold means, by rep count; "unknown" when there are no reps.
_MEAN_HOLD = (
    "{% set n = namespace(s=0, c=0) %}"
    "{% for leg in value_json.legs.values() %}"
    "{% if leg.hold_s is number and leg.reps %}"
    "{% set n.s = n.s + leg.hold_s * leg.reps %}{% set n.c = n.c + leg.reps %}"
    "{% endif %}{% endfor %}"
    "{{ (n.s / n.c) | round(2) if n.c else 'unknown' }}"
)
_HOLD_ASYM = (
    "{% set x = value_json.asymmetry.hold_pct %}{{ x if x is number else 'unknown' }}"
)
_MAX_ASYM = (
    "{% set a = value_json.asymmetry %}"
    "{% set xs = [a.concentric_pct, a.hold_pct, a.eccentric_pct] | select('number') | list %}"
    "{{ xs | max if xs else 'unknown' }}"
)
_AVAILABLE = (
    "{{ 'online' if value_json is mapping and value_json.schema == 'hipthrust.session' "
    "else 'offline' }}"
)


@dataclass(frozen=True)
class SensorSpec:
    key: str
    name: str
    value_template: str
    unit: str | None
    icon: str
    device_class: str | None = None
    json_attributes_template: str | None = None


SENSORS: tuple[SensorSpec, ...] = (
    SensorSpec("rep_count", "Reps", "{{ value_json.rep_count }}", None, "mdi:counter"),
    SensorSpec("mean_hold", "Mean hold", _MEAN_HOLD, "s", "mdi:timer-outline", "duration"),
    SensorSpec("hold_asymmetry", "Hold asymmetry", _HOLD_ASYM, "%", "mdi:scale-unbalanced"),
    SensorSpec("max_asymmetry", "Asymmetry", _MAX_ASYM, "%", "mdi:scale-unbalanced",
               json_attributes_template="{{ value_json.asymmetry | tojson }}"),
)


def device_block(device_id: str) -> dict[str, Any]:
    return {
        "identifiers": [f"hipthrust_{device_id}"],
        "name": f"hipthrust {device_id}",
        "manufacturer": "hipthrust",
        "model": "wearable rep counter",
        "sw_version": __version__,
    }


def _entity_slug(device_id: str, key: str) -> str:
    return f"hipthrust_{device_id}_{key}".replace("-", "_").lower()


def discovery_messages(topics: Topics, discovery_prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) pairs to publish retained, QoS 1, for the device of ``topics``."""
    dev = topics.device_id
    origin = {"name": "hipthrust", "sw_version": __version__}
    messages: list[tuple[str, dict[str, Any]]] = []
    for spec in SENSORS:
        slug = _entity_slug(dev, spec.key)
        payload: dict[str, Any] = {
            "name": spec.name,
            "unique_id": slug,
            "default_entity_id": f"sensor.{slug}",
            "state_topic": topics.latest,
            "value_template": spec.value_template,
            "availability_topic": topics.latest,
            "availability_template": _AVAILABLE,
            "icon": spec.icon,
            "state_class": "measurement",
            "device": device_block(dev),
            "origin": origin,
        }
        if spec.unit is not None:
            payload["unit_of_measurement"] = spec.unit
        if spec.device_class is not None:
            payload["device_class"] = spec.device_class
        if spec.json_attributes_template is not None:
            payload["json_attributes_topic"] = topics.latest
            payload["json_attributes_template"] = spec.json_attributes_template
        messages.append((f"{discovery_prefix}/sensor/{dev}/{spec.key}/config", payload))
    slug = _entity_slug(dev, "connected")
    messages.append((
        f"{discovery_prefix}/binary_sensor/{dev}/connected/config",
        {
            "name": "Connected",
            "unique_id": slug,
            "default_entity_id": f"binary_sensor.{slug}",
            "state_topic": topics.status,
            "payload_on": "online",
            "payload_off": "offline",
            "device_class": "connectivity",
            "entity_category": "diagnostic",
            "device": device_block(dev),
            "origin": origin,
        },
    ))
    return messages


HA_STATUS_TOPIC_SUFFIX = "status"


def ha_status_topic(discovery_prefix: str) -> str:
    """Where Home Assistant announces itself (``online``) after it starts."""
    return f"{discovery_prefix}/{HA_STATUS_TOPIC_SUFFIX}"
