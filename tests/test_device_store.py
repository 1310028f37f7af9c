"""The paired sensor survives a round trip through the user config dir (XDG_CONFIG_HOME)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sensor.device_store import (
    PairedSensor,
    forget_paired,
    load_paired,
    save_paired,
    store_path,
)
from sensor.errors import ConfigError

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="XDG_CONFIG_HOME is honoured by platformdirs on Linux only"
)


def test_round_trip_in_xdg_config_home(config_home: Path) -> None:
    assert load_paired() is None
    sensor = PairedSensor("F1:C0:FF:EE:12:34", "hipthrust-1234", "hipthrust")
    written = save_paired(sensor)
    assert written == config_home / "hipthrust" / "paired-sensor.json"
    assert store_path() == written
    assert load_paired() == sensor
    document = json.loads(written.read_text(encoding="utf-8"))
    assert document["schema"] == "hipthrust.paired-sensor"
    assert document["address"] == "F1:C0:FF:EE:12:34"


def test_macos_style_uuid_address_and_replacing(config_home: Path) -> None:
    save_paired(PairedSensor("F1:C0:FF:EE:12:34", "hipthrust-1234", "hipthrust"))
    mac = PairedSensor("6A1C8C5E-3F0B-4E55-9E1D-2B7F0C3D9A10", "WT901BLE67", "wt901ble")
    save_paired(mac)
    assert load_paired() == mac
    assert [p.name for p in (config_home / "hipthrust").iterdir()] == ["paired-sensor.json"]
    assert forget_paired() is True
    assert load_paired() is None
    assert forget_paired() is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('["a"]', "not a hipthrust paired-sensor file"),
        ('{"schema": "hipthrust.paired-sensor", "name": "x", "model": "hipthrust"}', "'address'"),
        (
            '{"schema": "hipthrust.paired-sensor", "address": "", "name": "x", "model": "m"}',
            "'address'",
        ),
    ],
)
def test_bad_file_is_one_clear_config_error(config_home: Path, text: str, message: str) -> None:
    path = config_home / "hipthrust" / "paired-sensor.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_paired()
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
