"""Effective configuration: command-line flags > environment > config file > defaults.

The config file is TOML at ``platformdirs.user_config_dir("hipthrust")/config.toml`` (on Linux
``$XDG_CONFIG_HOME/hipthrust/config.toml``); the local summary store lives in
``platformdirs.user_data_dir("hipthrust")`` (``$XDG_DATA_HOME/hipthrust``). Example::

    [mqtt]
    broker = "mqtts://broker.example.org:8883"
    username = "coach"
    password_file = "~/.config/hipthrust/mqtt-password"
    ca_file = "/etc/ssl/my-ca.pem"
    topic_prefix = "hipthrust"
    device_id = "garage"

The password is never taken from a flag (flags show up in ``ps``): it comes from
``HIPTHRUST_MQTT_PASSWORD``, or from a file named by ``--password-file``,
``HIPTHRUST_MQTT_PASSWORD_FILE`` or ``password_file``. It is never logged or printed.
"""

from __future__ import annotations

import argparse
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sensor.errors import ConfigError
from sensor.mqtt_topics import sanitise_prefix, sanitise_segment
from sensor.paths import APP_NAME, config_dir, data_dir

CONFIG_FILE_NAME = "config.toml"
DEFAULT_TOPIC_PREFIX = "hipthrust"
DEFAULT_DISCOVERY_PREFIX = "homeassistant"
SCHEME_PORTS: dict[str, int] = {"mqtt": 1883, "mqtts": 8883}
"""Supported broker URL schemes and their default ports."""


@dataclass(frozen=True)
class BrokerURL:
    """A parsed ``mqtt://host:port`` or ``mqtts://host:port`` (TLS) broker address."""

    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_broker_url(text: str) -> BrokerURL:
    """Parse a broker URL; credentials in the URL are refused (they would end up in logs)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"broker URL {text!r}: {exc}") from None
    if parts.scheme not in SCHEME_PORTS:
        raise ConfigError(f"broker URL {text!r}: use mqtt://host:port or mqtts://host:port")
    if not parts.hostname:
        raise ConfigError(f"broker URL {text!r}: no host name")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "broker URL: do not put credentials in the URL; use --username and "
            "HIPTHRUST_MQTT_PASSWORD or a password file"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"broker URL {text!r}: unexpected path or query")
    return BrokerURL(parts.scheme, parts.hostname, port or SCHEME_PORTS[parts.scheme])


@dataclass(frozen=True)
class Config:
    """The effective configuration. ``sources`` says where each setting came from."""

    broker: BrokerURL | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    client_id: str | None = None
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    device_id: str = "hipthrust"
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX
    data_dir: Path = Path(".")
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def store_path(self) -> Path:
        """The SQLite outbox of session summaries."""
        return self.data_dir / "summaries.sqlite3"

    def require_broker(self) -> BrokerURL:
        if self.broker is None:
            raise ConfigError(
                "no broker configured: pass --broker mqtt://host:port, set HIPTHRUST_BROKER "
                f"or add broker = ... under [mqtt] in {self.config_file or default_config_file()}"
            )
        return self.broker

    def display(self) -> list[tuple[str, str, str]]:
        """(setting, value, source) rows for ``hipthrust config``, the password masked."""
        rows: list[tuple[str, str, str]] = []
        for name, value in (
            ("broker", str(self.broker) if self.broker else "(none: local store only)"),
            ("username", self.username or "(none)"),
            ("password", "********" if self.password else "(none)"),
            ("ca_file", str(self.ca_file) if self.ca_file else "(system trust store)"),
            ("client_id", self.client_id or "(random)"),
            ("topic_prefix", self.topic_prefix),
            ("device_id", self.device_id),
            ("discovery_prefix", self.discovery_prefix),
            ("data_dir", str(self.data_dir)),
            ("config_file", str(self.config_file) if self.config_file else "(none)"),
        ):
            rows.append((name, value, self.sources.get(name, "default")))
        return rows


# Setting name -> environment variable. The password file is resolved into ``password``.
ENV_VARS: dict[str, str] = {
    "broker": "HIPTHRUST_BROKER",
    "username": "HIPTHRUST_MQTT_USERNAME",
    "password": "HIPTHRUST_MQTT_PASSWORD",
    "password_file": "HIPTHRUST_MQTT_PASSWORD_FILE",
    "ca_file": "HIPTHRUST_MQTT_CA_FILE",
    "client_id": "HIPTHRUST_MQTT_CLIENT_ID",
    "topic_prefix": "HIPTHRUST_TOPIC_PREFIX",
    "device_id": "HIPTHRUST_DEVICE_ID",
    "discovery_prefix": "HIPTHRUST_DISCOVERY_PREFIX",
    "data_dir": "HIPTHRUST_DATA_DIR",
    "config_file": "HIPTHRUST_CONFIG",
}

# Keys allowed in the config file, per table.
FILE_KEYS: dict[str, frozenset[str]] = {
    "mqtt": frozenset(
        {"broker", "username", "password_file", "ca_file", "client_id", "topic_prefix",
         "device_id", "discovery_prefix"}
    ),
    "store": frozenset({"data_dir"}),
}


def default_config_file() -> Path:
    return config_dir() / CONFIG_FILE_NAME


def default_data_dir() -> Path:
    return data_dir()


def default_device_id() -> str:
    return sanitise_segment(socket.gethostname() or APP_NAME)


def read_config_file(path: Path) -> dict[str, Any]:
    """Flatten the TOML config file into setting -> value, checking names and types."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    flat: dict[str, Any] = {}
    for table, value in data.items():
        if table not in FILE_KEYS or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown section [{table}] (expected [mqtt] or [store])")
        for key, item in value.items():
            if key not in FILE_KEYS[table]:
                hint = "; put the password in a file and name it with password_file" \
                    if key == "password" else ""
                raise ConfigError(f"{path}: unknown key {key!r} in [{table}]{hint}")
            if not isinstance(item, str):
                raise ConfigError(f"{path}: [{table}] {key} must be a string")
            flat[key] = item
    return flat


def _read_password_file(path: Path) -> str:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"password file {path}: {exc.strerror or exc}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise ConfigError(f"password file {path} is empty")
    return password


def load_config(
    flags: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge flags > environment > config file > defaults into a ``Config``.

    ``flags`` maps setting names (as in ``ENV_VARS``) to values, None meaning not given.
    ``env`` defaults to ``os.environ``.
    """
    given: dict[str, str] = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    env_values = {name: env[var] for name, var in ENV_VARS.items() if env.get(var)}

    if "config_file" in given:
        config_file, file_explicit = Path(given["config_file"]).expanduser(), True
    elif "config_file" in env_values:
        config_file, file_explicit = Path(env_values["config_file"]).expanduser(), True
    else:
        config_file, file_explicit = default_config_file(), False
    if file_explicit and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    file_values = read_config_file(config_file)

    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for layer_name, layer in (("config file", file_values), ("environment", env_values),
                              ("flag", given)):
        for key, value in layer.items():
            if key == "config_file":
                continue
            values[key] = value
            sources[key] = layer_name
    # A password file given at a higher level than a literal password wins, and vice versa.
    rank = {"default": 0, "config file": 1, "environment": 2, "flag": 3}
    password: str | None = None
    if "password_file" in values and (
        "password" not in values
        or rank[sources["password_file"]] > rank[sources["password"]]
    ):
        password = _read_password_file(Path(values["password_file"]))
        sources["password"] = f"{sources['password_file']} (password file)"
    elif "password" in values:
        password = values["password"]

    broker = parse_broker_url(values["broker"]) if "broker" in values else None
    prefix = sanitise_prefix(values.get("topic_prefix", DEFAULT_TOPIC_PREFIX))
    discovery = sanitise_prefix(values.get("discovery_prefix", DEFAULT_DISCOVERY_PREFIX))
    device_id = sanitise_segment(values["device_id"]) if "device_id" in values \
        else default_device_id()
    ca_file = Path(values["ca_file"]).expanduser() if "ca_file" in values else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"CA file {ca_file} does not exist")
    if ca_file is not None and broker is not None and not broker.tls:
        raise ConfigError(f"a CA file is set but the broker {broker} is not mqtts://")
    if password is not None and "username" not in values:
        raise ConfigError("a password is set but no user name (--username or "
                          "HIPTHRUST_MQTT_USERNAME)")
    data_dir = Path(values["data_dir"]).expanduser() if "data_dir" in values \
        else default_data_dir()
    if file_values or file_explicit:
        sources["config_file"] = "flag" if "config_file" in given else (
            "environment" if "config_file" in env_values else "default")
    return Config(
        broker=broker,
        username=values.get("username"),
        password=password,
        ca_file=ca_file,
        client_id=values.get("client_id"),
        topic_prefix=prefix,
        device_id=device_id,
        discovery_prefix=discovery,
        data_dir=data_dir,
        config_file=config_file if (file_values or file_explicit) else None,
        sources=sources,
    )


def add_config_options(parser: argparse.ArgumentParser, *, broker: bool = True) -> None:
    """The configuration flags every command that talks to MQTT (or the store) takes."""
    group = parser.add_argument_group("configuration (flags override HIPTHRUST_* and the file)")
    group.add_argument("--config", dest="config_file", metavar="FILE",
                       help=f"config file (default {default_config_file()})")
    group.add_argument("--data-dir", metavar="DIR", help="where the local summary store lives")
    if not broker:
        return
    group.add_argument("--broker", metavar="URL", help="mqtt://host:port or mqtts://host:port")
    group.add_argument("--username", metavar="NAME", help="MQTT user name")
    group.add_argument("--password-file", metavar="FILE",
                       help="file holding the MQTT password (or HIPTHRUST_MQTT_PASSWORD)")
    group.add_argument("--ca-file", metavar="FILE", help="CA certificate(s) for mqtts://")
    group.add_argument("--client-id", metavar="ID", help="MQTT client id")
    group.add_argument("--topic-prefix", metavar="PREFIX", help="topic prefix (hipthrust)")
    group.add_argument("--device-id", metavar="NAME", help="device id in topics (host name)")


def config_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """``load_config`` with the flags of ``add_config_options``."""
    names = ("config_file", "data_dir", "broker", "username", "password_file", "ca_file",
             "client_id", "topic_prefix", "device_id")
    return load_config({n: getattr(args, n, None) for n in names}, env)
