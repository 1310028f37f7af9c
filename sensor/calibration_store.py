"""Calibration profiles on disk, one JSON file per device.

Location: ``platformdirs.user_config_dir("hipthrust")/calibration/<device>.json``; on Linux
that is ``$XDG_CONFIG_HOME/hipthrust/calibration/`` (``~/.config/...`` when unset). The
device name is made file-safe with ``sensor.calibration.slug``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

from sensor.calibration import CalibrationError, CalibrationProfile, slug


def calibration_dir() -> Path:
    """The folder holding the per-device profiles (not created here)."""
    return Path(platformdirs.user_config_dir("hipthrust")) / "calibration"


def profile_path(device: str) -> Path:
    return calibration_dir() / f"{slug(device)}.json"


def read_profile_file(path: Path) -> CalibrationProfile:
    """A profile from any JSON file; raises CalibrationError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not a text file") from None
    try:
        return CalibrationProfile.from_json(text)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def load_profile(device: str) -> CalibrationProfile | None:
    """The stored profile of ``device``, or None when it has none."""
    path = profile_path(device)
    if not path.exists():
        return None
    return read_profile_file(path)


def save_profile(profile: CalibrationProfile, device: str | None = None) -> Path:
    """Store ``profile`` for ``device`` (default: ``profile.device``), atomically.

    Returns the path written. A previous profile of the device is replaced.
    """
    path = profile_path(device or profile.device)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(profile.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def list_profiles() -> list[tuple[Path, CalibrationProfile | str]]:
    """Every stored profile file with its profile, or the reason it cannot be read."""
    folder = calibration_dir()
    if not folder.is_dir():
        return []
    found: list[tuple[Path, CalibrationProfile | str]] = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path, read_profile_file(path)))
        except CalibrationError as exc:
            found.append((path, str(exc)))
    return found
