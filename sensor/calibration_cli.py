"""The ``--calibration DEVICE|PATH|none`` flag of the commands that analyse recordings.

``none`` (the default) analyses the data as recorded: stored profiles are never applied
silently. A value that names an existing file, ends in ``.json`` or contains a path
separator is a profile file; anything else is a device whose stored profile
(``hipthrust calibrate``) is used. Applying it is ``sensor.calibration.apply_calibration``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sensor.calibration import UNCALIBRATED, CalibrationError, CalibrationProfile
from sensor.calibration_store import load_profile, read_profile_file


def add_calibration_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--calibration", metavar="DEVICE|PATH|none", default=UNCALIBRATED,
        help="correct the data with a calibration profile first: a device's stored profile "
             "(see hipthrust calibrate --list), a profile JSON file, or none (default: "
             "none). Data recorded with a different profile is refused.")


def resolve_calibration(value: str | None) -> CalibrationProfile | None:
    """The profile ``value`` names, or None for ``none``. Raises CalibrationError."""
    if value is None or value.strip().casefold() in ("", UNCALIBRATED):
        return None
    path = Path(value)
    is_path = (path.suffix.casefold() == ".json" or path.is_file()
               or any(sep in value for sep in {os.sep, os.altsep, "/"} if sep))
    if is_path:
        return read_profile_file(path)
    profile = load_profile(value)
    if profile is None:
        raise CalibrationError(
            f"no stored calibration for device {value!r} and no such file "
            "(see hipthrust calibrate --list, or give a profile .json)")
    return profile


def calibration_from_args(args: argparse.Namespace) -> CalibrationProfile | None:
    """The profile of ``--calibration`` (None when absent or ``none``)."""
    value = getattr(args, "calibration", None)
    return resolve_calibration(value if isinstance(value, str) else None)
