"""The broker fixture's contract: a missing mosquitto skips locally but fails under CI=true."""

from __future__ import annotations

import mosquitto_broker
import pytest


def _no_binaries(names: tuple[str, ...]) -> str | None:
    return None


def test_missing_mosquitto_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_broker, "find_binary", _no_binaries)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install mosquitto"):
        mosquitto_broker.require_mosquitto()


def test_missing_mosquitto_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_broker, "find_binary", _no_binaries)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install mosquitto"):
        mosquitto_broker.require_mosquitto()
