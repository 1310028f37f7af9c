"""The per-user folders hipthrust keeps its files in (from ``platformdirs``), and writing
those files atomically.

On Linux ``config_dir()`` is ``$XDG_CONFIG_HOME/hipthrust`` (``~/.config/hipthrust`` when
unset) and ``data_dir()`` is ``$XDG_DATA_HOME/hipthrust`` (``~/.local/share/hipthrust``).
Both are looked up on every call (so a changed environment counts) and not created here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "hipthrust"


def config_dir() -> Path:
    """The user config folder: config file, paired sensor, calibration profiles."""
    return platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    """The user data folder: the local summary store, recordings."""
    return platformdirs.user_data_path(APP_NAME)


def write_text_atomic(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) through a temporary file in the same folder.

    Creates the folder; readers see the old file or the new one, never half of one. The file
    is private to the user (``mkstemp`` mode 0600). Raises ``OSError``; returns ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
