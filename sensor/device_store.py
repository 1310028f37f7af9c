"""Remembering the paired sensor between runs.

The paired sensor is kept as a small JSON document in the user's config directory
(``sensor.paths.config_dir()``: ``$XDG_CONFIG_HOME/hipthrust`` or
``~/.config/hipthrust`` on Linux, ``~/Library/Application Support/hipthrust`` on macOS,
``%LOCALAPPDATA%\\hipthrust`` on Windows). The address is stored exactly as bleak gives it
(a MAC address, or a UUID on macOS).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sensor.errors import ConfigError, one_line_os_error
from sensor.paths import config_dir, write_text_atomic

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
    return config_dir() / STORE_FILE


def save_paired(sensor: PairedSensor, path: Path | None = None) -> Path:
    """Remember ``sensor``, replacing any previous one atomically. Returns the file written.

    Raises ConfigError (one line) when the file cannot be written.
    """
    target = path or store_path()
    document = {"schema": SCHEMA, "version": 1, **asdict(sensor)}
    with one_line_os_error(target, "write the paired sensor", ConfigError):
        return write_text_atomic(target, json.dumps(document, indent=2) + "\n")


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
