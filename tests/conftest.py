"""Shared fixtures, available to every test module by name.

- the real-mosquitto ones (``tests/mosquitto_broker.py``) and ``no_blocking``
  (``tests/blocking.py``), registered as plugins;
- ``config_home``: a private user config folder for the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("mosquitto_broker", "blocking")


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$XDG_CONFIG_HOME`` for this test (platformdirs honours it on Linux): ``tmp_path/cfg``.

    Paired sensor, calibration profiles and the config file then live in ``cfg/hipthrust``.
    """
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    return tmp_path / "cfg"
