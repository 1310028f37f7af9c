"""Errors that reach the user as one clear line, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class HipthrustError(Exception):
    """Base class: the CLI prints ``hipthrust: <message>`` and exits with status 2."""


class RecordingError(HipthrustError):
    """A recording file that cannot be read: names the file, the line and the problem."""


class ConfigError(HipthrustError):
    """Wrong configuration: a bad flag, environment variable or config file."""


@contextmanager
def one_line_os_error(
    path: object, action: str, error: type[HipthrustError] = HipthrustError
) -> Iterator[None]:
    """Turn an ``OSError`` inside the block into ``error("PATH: cannot ACTION: reason")``."""
    try:
        yield
    except OSError as exc:
        raise error(f"{path}: cannot {action}: {exc.strerror or exc}") from None
