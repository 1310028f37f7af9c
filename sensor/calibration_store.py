"""Calibration profiles on disk, one JSON file per device.

Location: ``sensor.paths.config_dir()/calibration/<device>.json``; on Linux
that is ``$XDG_CONFIG_HOME/hipthrust/calibration/`` (``~/.config/...`` when unset). The
device name is made file-safe with ``sensor.calibration.slug``.
"""

from __future__ import annotations

from pathlib import Path

from sensor.calibration import CalibrationError, CalibrationProfile, slug
from sensor.errors import one_line_os_error
from sensor.paths import config_dir, write_text_atomic


def calibration_dir() -> Path:
    """The folder holding the per-device profiles (not created here)."""
    return config_dir() / "calibration"


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
    with one_line_os_error(path, "write", CalibrationError):
        return write_text_atomic(path, profile.to_json())


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
