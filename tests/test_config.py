"""Configuration: precedence flags > environment > file > defaults, XDG dirs, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensor.config import Config, load_config, parse_broker_url
from sensor.errors import ConfigError


@pytest.fixture(autouse=True)
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """platformdirs honours XDG_CONFIG_HOME / XDG_DATA_HOME on Linux."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def write_file(xdg: Path, text: str) -> Path:
    path = xdg / "cfg" / "hipthrust" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_follow_xdg(xdg: Path) -> None:
    cfg = load_config({}, env={})
    assert cfg.broker is None
    assert cfg.topic_prefix == "hipthrust"
    assert cfg.discovery_prefix == "homeassistant"
    assert cfg.data_dir == xdg / "data" / "hipthrust"
    assert cfg.store_path.parent == xdg / "data" / "hipthrust"
    assert cfg.config_file is None
    assert cfg.device_id  # from the host name, sanitised
    assert all(c.isalnum() or c in "_-" for c in cfg.device_id)


def test_precedence_flag_over_env_over_file(xdg: Path) -> None:
    path = write_file(xdg, '[mqtt]\nbroker = "mqtt://file-host"\nusername = "file-user"\n'
                      'topic_prefix = "fromfile"\ndevice_id = "filedev"\n')
    env = {"HIPTHRUST_BROKER": "mqtts://env-host:9999", "HIPTHRUST_MQTT_USERNAME": "env-user"}
    cfg = load_config({"username": "flag-user"}, env=env)
    assert cfg.broker == parse_broker_url("mqtts://env-host:9999")
    assert cfg.username == "flag-user"
    assert cfg.topic_prefix == "fromfile"
    assert cfg.device_id == "filedev"
    assert cfg.config_file == path
    assert cfg.sources["broker"] == "environment"
    assert cfg.sources["username"] == "flag"
    assert cfg.sources["topic_prefix"] == "config file"
    assert load_config({}, env={}).broker == parse_broker_url("mqtt://file-host:1883")


def test_password_from_env_or_file_never_shown(xdg: Path) -> None:
    secret = xdg / "pw"
    secret.write_text("from-file-pw\n")
    write_file(xdg, f'[mqtt]\nusername = "u"\npassword_file = "{secret}"\n')
    cfg = load_config({}, env={})
    assert cfg.password == "from-file-pw"  # noqa: S105 - a test value, not a credential
    from_env = load_config({}, env={"HIPTHRUST_MQTT_PASSWORD": "envpw"})
    assert from_env.password == "envpw"  # noqa: S105 - a test value
    flagged = load_config({"password_file": str(secret)}, env={"HIPTHRUST_MQTT_PASSWORD": "x"})
    assert flagged.password == "from-file-pw"  # noqa: S105 - a test value
    assert "from-file-pw" not in repr(cfg)
    assert "from-file-pw" not in str(cfg.display())
    assert ("password", "********", "config file (password file)") in cfg.display()


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"broker": "http://x"}, {}, "use mqtt://host:port or mqtts://host:port"),
        ({"broker": "mqtt://"}, {}, "no host name"),
        ({"broker": "mqtt://u:p@host"}, {}, "do not put credentials in the URL"),
        ({"broker": "mqtt://host:99999"}, {}, "broker URL"),
        ({"ca_file": "/nonexistent/ca.pem"}, {}, "CA file /nonexistent/ca.pem does not exist"),
        ({"config_file": "/nonexistent.toml"}, {}, "config file /nonexistent.toml does not exist"),
        ({"password_file": "/nonexistent-pw"}, {"HIPTHRUST_MQTT_USERNAME": "u"},
         "password file /nonexistent-pw"),
        ({}, {"HIPTHRUST_MQTT_PASSWORD": "pw"}, "a password is set but no user name"),
    ],
)
def test_wrong_config_is_one_line(flags: dict[str, str], env: dict[str, str],
                                  message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(flags, env=env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mqtt\nbroker=", "config.toml"),
        ('[mqtt]\npassword = "inline"\n', "put the password in a file"),
        ('[mqtt]\nbrokr = "mqtt://x"\n', "unknown key 'brokr'"),
        ('[other]\nx = "y"\n', "unknown section [other]"),
        ("[mqtt]\nbroker = 3\n", "broker must be a string"),
    ],
)
def test_bad_config_file_is_one_line(xdg: Path, text: str, message: str) -> None:
    write_file(xdg, text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config({}, env={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_ca_file_needs_mqtts(xdg: Path) -> None:
    ca = xdg / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ConfigError, match="not mqtts://"):
        load_config({"broker": "mqtt://h", "ca_file": str(ca)}, env={})
    assert load_config({"broker": "mqtts://h", "ca_file": str(ca)}, env={}).ca_file == ca


def test_hostile_names_are_sanitised(xdg: Path) -> None:
    cfg = load_config({"device_id": "a/+/#", "topic_prefix": "/home//gym +/"}, env={})
    assert "/" not in cfg.device_id
    assert "+" not in cfg.device_id
    assert "#" not in cfg.device_id
    assert cfg.topic_prefix.split("/")[0] == "home"
    assert len(cfg.topic_prefix.split("/")) == 2


def test_broker_url_ports() -> None:
    assert str(parse_broker_url("mqtt://h")) == "mqtt://h:1883"
    assert str(parse_broker_url("mqtts://h")) == "mqtts://h:8883"
    assert parse_broker_url("mqtts://[::1]:1").host == "::1"
    assert str(parse_broker_url("mqtts://[::1]:1")) == "mqtts://[::1]:1"
    assert parse_broker_url("mqtts://h").tls
    assert not parse_broker_url("mqtt://h").tls


def test_require_broker_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="--broker"):
        Config().require_broker()
