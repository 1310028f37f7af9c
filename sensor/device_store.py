"""Remembering the paired sensor between runs.

The paired sensor is kept as a small JSON document in the user's config directory
(``platformdirs.user_config_path("hipthrust")``: ``$XDG_CONFIG_HOME/hipthrust`` or
``~/.config/hipthrust`` on Linux, ``~/Library/Application Support/hipthrust`` on macOS,
``%LOCALAPPDATA%\\hipthrust`` on Windows). The address is stored exactly as bleak gives it
(a MAC address, or a UUID on macOS).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from sensor.errors import ConfigError

APP_NAME = "hipthrust"
STORE_FILE = "paired-sensor.json"
SCHEMA = "hipthrust.paired-sensor"


@dataclass(frozen=True)
class PairedSensor:
    """The sensor chosen with ``hipthrust pair``: bleak address, advertised name, model id."""

    address: str
    name: str
    model: str


def store_path() -> Path:
    """Where the paired sensor is remembered (the file may not exist yet)."""
    return platformdirs.user_config_path(APP_NAME) / STORE_FILE


def save_paired(sensor: PairedSensor, path: Path | None = None) -> Path:
    """Remember ``sensor``, replacing any previous one atomically. Returns the file written."""
    target = path or store_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"schema": SCHEMA, "version": 1, **asdict(sensor)}
    fd, tmp_name = tempfile.mkstemp(prefix=".paired-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            json.dump(document, tmp, indent=2)
            tmp.write("\n")
        Path(tmp_name).replace(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def load_paired(path: Path | None = None) -> PairedSensor | None:
    """The remembered sensor, or None when none was paired. Raises ConfigError if unreadable."""
    source = path or store_path()
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the paired sensor: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ConfigError(f"{source}: not a hipthrust paired-sensor file")
    fields = {}
    for key in ("address", "name", "model"):
        value = document.get(key)
        if not isinstance(value, str) or (key == "address" and not value):
            raise ConfigError(f"{source}: field {key!r} is missing or not a string")
        fields[key] = value
    return PairedSensor(**fields)


def forget_paired(path: Path | None = None) -> bool:
    """Forget the paired sensor. Returns True when there was one."""
    target = path or store_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    return True
