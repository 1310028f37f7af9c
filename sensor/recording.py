"""Recordings: the CSV file format of the product spec, read and written.

Format::

    # sensor=hipthrust-1a2b      <- metadata lines: "# key=value", otherwise ignored
    # fs=100
    t,ax,ay,az,gx,gy,gz          <- header; the gyro columns are optional
    0.000000,0.012000,-0.998000,0.031000,0.10,-0.20,0.05

Units: ``t`` in seconds (increasing, any origin, gaps allowed), ``a*`` in g including gravity,
``g*`` in deg/s. Duplicated timestamps and jitter are kept as they are: the engine's resampler
handles them. Anything else that is wrong raises :class:`RecordingError` naming the file, the
line and the problem.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import numpy as np

from sensor.errors import RecordingError
from sensor.samples import FloatArray, Samples

ACC_COLUMNS: Final = ("ax", "ay", "az")
GYRO_COLUMNS: Final = ("gx", "gy", "gz")
MAX_ABS_ACC_G: Final = 32.0
MAX_ABS_GYRO_DPS: Final = 5000.0
MIN_SAMPLES: Final = 20
MIN_RATE_HZ: Final = 12.5
MAX_RATE_HZ: Final = 400.0
_NUMBER: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.I)
RATE_TOLERANCE: Final = 0.05  # a median rate 5 % outside the range still passes (clock error)


def _fail(path: str, line: int | None, problem: str) -> RecordingError:
    where = f"{path}:{line}" if line is not None else path
    return RecordingError(f"{where}: {problem}")


def parse_recording(text: str, path: str = "<recording>") -> Samples:
    """Parse the text of a recording. Pure: ``path`` only names the source in errors."""
    text = text.removeprefix("\ufeff")  # a byte-order mark (Excel's "CSV UTF-8")
    metadata: dict[str, str] = {}
    header: list[str] | None = None
    header_line = 0
    rows: list[str] = []
    row_lines: list[int] = []
    for lineno, raw in enumerate(io.StringIO(text), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip():
                metadata[key.strip()] = value.strip()
            continue
        if header is None:
            header = [c.strip().lower() for c in line.split(",")]
            header_line = lineno
            continue
        rows.append(line)
        row_lines.append(lineno)

    if header is None:
        raise _fail(path, None, "no header line (expected t,ax,ay,az[,gx,gy,gz])")
    columns = _column_indices(header, path, header_line)
    if len(rows) < MIN_SAMPLES:
        raise _fail(path, None, f"too few samples ({len(rows)}); need at least {MIN_SAMPLES}")

    data = _parse_rows(rows, row_lines, len(header), path)
    t = data[:, columns["t"]]
    acc = data[:, [columns[c] for c in ACC_COLUMNS]]
    has_gyro = all(c in columns for c in GYRO_COLUMNS)
    gyro = data[:, [columns[c] for c in GYRO_COLUMNS]] if has_gyro else None

    _check_finite(data, row_lines, header, path)
    _check_time(t, row_lines, path)
    _check_range(acc, MAX_ABS_ACC_G, "g", ACC_COLUMNS, row_lines=row_lines, path=path)
    if gyro is not None:
        _check_range(
            gyro, MAX_ABS_GYRO_DPS, "deg/s", GYRO_COLUMNS, row_lines=row_lines, path=path
        )
    _check_rate(t, path)
    return Samples(
        np.ascontiguousarray(t), np.ascontiguousarray(acc),
        None if gyro is None else np.ascontiguousarray(gyro), metadata,
    )


def read_recording(path: str | Path) -> Samples:
    """Read a recording file; raises RecordingError with a one-line reason."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # -sig: Excel's "CSV UTF-8" BOM
    except FileNotFoundError:
        raise _fail(name, None, "no such file") from None
    except IsADirectoryError:
        raise _fail(name, None, "is a directory, not a recording") from None
    except UnicodeDecodeError:
        raise _fail(name, None, "not a text file (expected CSV)") from None
    except OSError as exc:
        raise _fail(name, None, exc.strerror or str(exc)) from None
    return parse_recording(text, name)


def _column_indices(header: list[str], path: str, line: int) -> dict[str, int]:
    index = {name: i for i, name in enumerate(header)}
    missing = [c for c in ("t", *ACC_COLUMNS) if c not in index]
    if missing:
        raise _fail(
            path, line,
            f"header lacks column(s) {', '.join(missing)} (expected t,ax,ay,az[,gx,gy,gz])",
        )
    gyro_present = [c for c in GYRO_COLUMNS if c in index]
    if gyro_present and len(gyro_present) != len(GYRO_COLUMNS):
        absent = [c for c in GYRO_COLUMNS if c not in index]
        raise _fail(path, line, f"header has part of the gyro columns; missing {', '.join(absent)}")
    return index


def _parse_rows(rows: list[str], row_lines: list[int], width: int, path: str) -> FloatArray:
    """Rows to a float array; on any problem, find and name the first bad line."""
    try:
        data = np.loadtxt(rows, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
        if data.shape[1] == width:
            return data
    except ValueError:
        pass
    for line, row in zip(row_lines, rows, strict=True):
        fields = row.split(",")
        if len(fields) != width:
            raise _fail(path, line, f"expected {width} values, found {len(fields)}")
        for value in fields:
            if not _NUMBER.fullmatch(value.strip()):
                raise _fail(path, line, f"not a number: {value.strip()!r}")
    raise _fail(path, None, "unreadable rows")  # pragma: no cover - loadtxt agreed with us


def _check_finite(data: FloatArray, row_lines: list[int], header: list[str], path: str) -> None:
    bad = ~np.isfinite(data)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise _fail(path, row_lines[row], f"{header[col]} is {data[row, col]} (NaN or inf)")


def _check_time(t: FloatArray, row_lines: list[int], path: str) -> None:
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise _fail(
            path, row_lines[i], f"time goes backwards ({t[i]:g} s after {t[i - 1]:g} s)"
        )


def _check_range(
    values: FloatArray, limit: float, unit: str, names: tuple[str, ...],
    *, row_lines: list[int], path: str,
) -> None:
    bad = np.abs(values) > limit
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise _fail(
            path, row_lines[row],
            f"{names[col]} = {values[row, col]:g} {unit} is beyond ±{limit:g} {unit}",
        )


def _check_rate(t: FloatArray, path: str) -> None:
    dt = np.diff(t)
    dt = dt[dt > 0]
    if dt.size == 0:
        raise _fail(path, None, "all samples share one timestamp")
    rate = 1.0 / float(np.median(dt))
    lo, hi = MIN_RATE_HZ * (1 - RATE_TOLERANCE), MAX_RATE_HZ * (1 + RATE_TOLERANCE)
    if not lo <= rate <= hi:
        raise _fail(
            path, None,
            f"sample rate {rate:.4g} Hz is outside {MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz",
        )


def estimate_rate_hz(t: FloatArray) -> float:
    """Median sample rate in Hz, ignoring duplicated timestamps; NaN with < 2 samples."""
    dt = np.diff(t)
    dt = dt[dt > 0]
    return 1.0 / float(np.median(dt)) if dt.size else math.nan


def format_rows(samples: Samples) -> str:
    """CSV rows (no header) for a block of samples: t in us, acc in ug, gyro in mdeg/s."""
    cols = [samples.t_s[:, None], samples.acc_g]
    fmt = ["%.6f", "%.6f", "%.6f", "%.6f"]
    if samples.gyro_dps is not None:
        cols.append(samples.gyro_dps)
        fmt += ["%.4f", "%.4f", "%.4f"]
    if len(samples) == 0:
        return ""
    buf = io.StringIO()
    np.savetxt(buf, np.hstack(cols), fmt=fmt, delimiter=",")
    return buf.getvalue()


def header_text(with_gyro: bool, metadata: Mapping[str, str]) -> str:
    lines = [f"# {k}={v}" for k, v in metadata.items()]
    lines.append(",".join(("t", *ACC_COLUMNS, *(GYRO_COLUMNS if with_gyro else ()))))
    return "\n".join(lines) + "\n"


class RecordingWriter:
    """Append samples to a recording as they arrive, flushed after every block.

    A crash loses at most the block being written. Use as a context manager.
    """

    def __init__(self, path: str | Path, *, with_gyro: bool, metadata: Mapping[str, str]) -> None:
        self.path = Path(path)
        self.with_gyro = with_gyro
        self.samples_written = 0
        try:
            self._file: IO[str] = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise _fail(str(path), None, f"cannot write: {exc.strerror or exc}") from None
        self._file.write(header_text(with_gyro, metadata))
        self._file.flush()

    def write(self, samples: Samples) -> None:
        if samples.has_gyro != self.with_gyro:
            raise ValueError("gyro presence differs from the recording's header")
        self._file.write(format_rows(samples))
        self._file.flush()
        self.samples_written += len(samples)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_recording(path: str | Path, samples: Samples) -> None:
    """Write a whole recording, metadata first."""
    with RecordingWriter(path, with_gyro=samples.has_gyro, metadata=samples.metadata) as w:
        w.write(samples)
