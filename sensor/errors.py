"""Errors that reach the user as one clear line, never as a traceback."""


class HipthrustError(Exception):
    """Base class: the CLI prints ``hipthrust: <message>`` and exits with status 2."""


class RecordingError(HipthrustError):
    """A recording file that cannot be read: names the file, the line and the problem."""


class ConfigError(HipthrustError):
    """Wrong configuration: a bad flag, environment variable or config file."""
