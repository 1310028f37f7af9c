"""The CSV recording reader and writer (issue 2): every bad input gets one line naming the
file, the line and the problem; gaps, duplicates and jitter are accepted; write -> read is
exact to the written precision; arbitrary text only ever raises RecordingError."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensor.errors import HipthrustError, RecordingError
from sensor.recording import (
    RecordingWriter,
    parse_recording,
    read_recording,
    write_recording,
)
from sensor.samples import Samples

HEADER = "t,ax,ay,az"
HEADER6 = "t,ax,ay,az,gx,gy,gz"


def _row(i: int, rate_hz: float = 100.0, gyro: bool = False) -> str:
    base = f"{i / rate_hz:.6f},0.010000,-0.020000,0.999000"
    return base + (",0.1000,-0.2000,0.0500" if gyro else "")


def _rows(n: int = 30, rate_hz: float = 100.0, gyro: bool = False) -> list[str]:
    return [_row(i, rate_hz, gyro) for i in range(n)]


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def _replace(lines: list[str], index: int, line: str) -> list[str]:
    out = list(lines)
    out[index] = line
    return out


def _read_error(tmp_path: Path, content: str | bytes, name: str = "rec.csv") -> tuple[Path, str]:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(RecordingError) as info:
        read_recording(path)
    message = str(info.value)
    assert "\n" not in message, "the message must be one line"
    assert isinstance(info.value, HipthrustError)  # the CLI turns it into exit 2, one line
    return path, message


# -- bad input with a line number: (file text, line of the problem, words naming it) ----------

# Line numbers are 1-based file lines: line 1 is the header, data row i is line i + 2.
LINE_CASES: dict[str, tuple[Callable[[], str], int, tuple[str, ...]]] = {
    "missing header (data first)": (lambda: _text(_rows()), 1, ("header", "t, ax, ay, az")),
    "missing columns": (lambda: _text(["t,ax,ay", *_rows()]), 1, ("header", "az")),
    "missing time column": (lambda: _text(["time,ax,ay,az", *_rows()]), 1, ("header", "t ")),
    "partial gyro columns": (
        lambda: _text(["t,ax,ay,az,gx,gy", *_rows()]), 1, ("gyro", "gz"),
    ),
    "header after metadata": (
        lambda: _text(["# sensor=x", "t,ax,ay", *_rows()]), 2, ("header", "az"),
    ),
    "not a number": (
        lambda: _text([HEADER, *_replace(_rows(), 7, "0.070000,0.01,abc,1.0")]), 9,
        ("not a number", "abc"),
    ),
    "empty field": (
        lambda: _text([HEADER, *_replace(_rows(), 3, "0.030000,0.01,,1.0")]), 5,
        ("not a number",),
    ),
    "too few values in a row": (
        lambda: _text([HEADER, *_replace(_rows(), 5, "0.050000,0.01,0.02")]), 7,
        ("expected 4 values", "found 3"),
    ),
    "NaN": (
        lambda: _text([HEADER, *_replace(_rows(), 10, "0.100000,nan,0.0,1.0")]), 12,
        ("ax", "nan"),
    ),
    "inf": (
        lambda: _text([HEADER, *_replace(_rows(), 12, "0.120000,0.0,0.0,inf")]), 14,
        ("az", "inf"),
    ),
    "-inf in the gyro": (
        lambda: _text([HEADER6, *_replace(_rows(gyro=True), 4, "0.040000,0,0,1,0,-inf,0")]),
        6, ("gy", "inf"),
    ),
    "overflow to inf": (
        lambda: _text([HEADER, *_replace(_rows(), 2, "0.020000,0.0,1e400,1.0")]), 4,
        ("ay", "inf"),
    ),
    "NaN time": (
        lambda: _text([HEADER, *_replace(_rows(), 6, "nan,0.0,0.0,1.0")]), 8, ("t is", "nan"),
    ),
    "time going backwards": (
        lambda: _text([HEADER, *_replace(_rows(), 20, "0.150000,0.0,0.0,1.0")]), 22,
        ("backwards", "0.15"),
    ),
    "|a| over 32 g": (
        lambda: _text([HEADER, *_replace(_rows(), 15, "0.150000,0.0,-32.5,1.0")]), 17,
        ("ay", "-32.5", "32"),
    ),
    "gyro beyond its range": (
        lambda: _text([HEADER6, *_replace(_rows(gyro=True), 9, "0.090000,0,0,1,0,0,9000")]),
        11, ("gz", "9000"),
    ),
}


@pytest.mark.parametrize("case", sorted(LINE_CASES))
def test_bad_input_names_file_line_and_problem(tmp_path: Path, case: str) -> None:
    make, line, words = LINE_CASES[case]
    path, message = _read_error(tmp_path, make())
    assert message.startswith(f"{path}:{line}: "), message
    for word in words:
        assert word in message, (word, message)


def test_line_numbers_count_comments_and_blank_lines(tmp_path: Path) -> None:
    rows = _replace(_rows(), 0, "0.000000,zz,0,1")
    text = "# sensor=a\n\n# fs=100\n" + HEADER + "\n\n" + _text(rows)
    path, message = _read_error(tmp_path, text)
    assert message.startswith(f"{path}:6: not a number: 'zz'"), message


def test_first_bad_line_is_named(tmp_path: Path) -> None:
    rows = _replace(_replace(_rows(), 4, "0.04,x,0,1"), 9, "0.09,y,0,1")
    path, message = _read_error(tmp_path, _text([HEADER, *rows]))
    assert message.startswith(f"{path}:6: "), message


# -- bad input of the whole file: (content, words naming the problem) ------------------------

FILE_CASES: dict[str, tuple[Callable[[], str | bytes], tuple[str, ...]]] = {
    "empty file": (lambda: "", ("no header",)),
    "only comments": (lambda: "# sensor=x\n# fs=100\n", ("no header",)),
    "too few samples": (lambda: _text([HEADER, *_rows(19)]), ("too few samples", "19", "20")),
    "header only": (lambda: HEADER + "\n", ("too few samples", "(0)")),
    "rate under 12.5 Hz": (
        lambda: _text([HEADER, *_rows(40, rate_hz=10.0)]), ("sample rate", "10 Hz", "12.5-400"),
    ),
    "rate over 400 Hz": (
        lambda: _text([HEADER, *_rows(40, rate_hz=1000.0)]), ("sample rate", "1000 Hz"),
    ),
    "one timestamp": (lambda: _text([HEADER, *["5.0,0,0,1"] * 30]), ("one timestamp",)),
    "not UTF-8": (
        lambda: (HEADER + "\n").encode() + b"\xff\xfe\x00\x81garbage\n" * 30, ("not a text",),
    ),
    "binary": (lambda: bytes(range(256)) * 4, ("not a text",)),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_file_names_file_and_problem(tmp_path: Path, case: str) -> None:
    make, words = FILE_CASES[case]
    path, message = _read_error(tmp_path, make())
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, (word, message)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(RecordingError, match=r"nope\.csv: no such file$"):
        read_recording(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError) as info:
        read_recording(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a recording"


def test_rate_limits_themselves_are_accepted(tmp_path: Path) -> None:
    for rate_hz in (12.5, 400.0):
        path = tmp_path / f"r{rate_hz:g}.csv"
        path.write_text(_text([HEADER, *_rows(40, rate_hz=rate_hz)]), encoding="utf-8")
        s = read_recording(path)
        assert len(s) == 40
        assert np.allclose(np.diff(s.t_s), 1 / rate_hz)


# -- accepted input --------------------------------------------------------------------------


def test_metadata_and_values_parsed(tmp_path: Path) -> None:
    text = (
        "# sensor=hipthrust-1a2b\n"
        "#fs = 100\n"
        "# a plain comment without equals\n"
        "# calibration=bias=0.01\n"
        + HEADER6 + "\n"
        + _text(_rows(25, gyro=True))
    )
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    s = read_recording(path)
    assert dict(s.metadata) == {
        "sensor": "hipthrust-1a2b", "fs": "100", "calibration": "bias=0.01",
    }
    assert len(s) == 25
    assert s.gyro_dps is not None
    assert np.array_equal(s.acc_g[3], [0.01, -0.02, 0.999])
    assert np.array_equal(s.gyro_dps[3], [0.1, -0.2, 0.05])
    assert s.t_s[24] == pytest.approx(0.24)


def test_columns_in_any_order_and_case(tmp_path: Path) -> None:
    rows = [f"0.75,{i * 0.01:.2f},21.5,-0.25,{i / 100}" for i in range(30)]
    path = tmp_path / "o.csv"
    path.write_text(_text(["AZ, T ,temp,AY,AX", *rows]), encoding="utf-8")
    s = read_recording(path)
    assert s.gyro_dps is None
    assert np.allclose(s.t_s, np.arange(30) * 0.01)
    assert np.array_equal(s.acc_g[7], [0.07, -0.25, 0.75])


def test_no_gyro_columns_gives_no_gyro(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(_text([HEADER, *_rows()]), encoding="utf-8")
    s = read_recording(path)
    assert s.gyro_dps is None
    assert s.acc_g.shape == (30, 3)


def test_gaps_duplicates_and_jitter_are_accepted(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    t = np.arange(200) / 100.0 + rng.normal(0, 0.0008, 200)  # jitter
    t = np.maximum.accumulate(t)
    t[120:] += 4.0  # a 4 s gap (link lost)
    t = np.sort(np.concatenate([t, t[[10, 50, 51, 150]]]))  # duplicated timestamps
    lines = [HEADER] + [f"{x:.6f},0.0,0.0,1.0" for x in t]
    path = tmp_path / "j.csv"
    path.write_text(_text(lines), encoding="utf-8")
    s = read_recording(path)
    assert len(s) == 204
    assert np.allclose(s.t_s, np.round(t, 6))
    assert np.count_nonzero(np.diff(s.t_s) == 0) >= 4


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_bytes(_text([HEADER, *_rows()]).replace("\n", "\r\n").encode())
    assert len(read_recording(path)) == 30


# -- writer ------------------------------------------------------------------------------------


def test_writer_appends_and_flushes_each_block(tmp_path: Path) -> None:
    t = np.arange(40) / 50.0
    acc = np.tile([0.0, 0.0, 1.0], (40, 1))
    gyro = np.tile([1.0, 2.0, 3.0], (40, 1))
    s = Samples(t, acc, gyro, {})
    path = tmp_path / "live.csv"
    with RecordingWriter(path, with_gyro=True, metadata={"sensor": "x", "fs": "50"}) as w:
        w.write(s.slice(0, 25))
        # flushed: readable from another handle while still open
        assert read_recording(path).t_s.size == 25
        w.write(s.slice(25, 40))
        with pytest.raises(ValueError, match="gyro"):
            w.write(Samples(t[:2] + 10, acc[:2]))
        assert w.samples_written == 40
    back = read_recording(path)
    assert dict(back.metadata) == {"sensor": "x", "fs": "50"}
    assert np.array_equal(back.t_s, t)
    assert back.gyro_dps is not None
    assert np.array_equal(back.gyro_dps, gyro)
    assert path.read_text().splitlines()[:3] == ["# sensor=x", "# fs=50", HEADER6]


def test_writer_to_unwritable_place(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot write"):
        RecordingWriter(tmp_path / "no" / "such" / "dir.csv", with_gyro=False, metadata={})


# -- property tests ---------------------------------------------------------------------------

_META_KEY = st.text("abcdefghijklmnopqrstuvwxyz_0123456789-", min_size=1, max_size=12)
_META_VALUE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
).map(str.strip)


@st.composite
def valid_samples(draw: st.DrawFn) -> Samples:
    """Samples exactly representable in the written precision (us, ug, 1e-4 deg/s)."""
    n = draw(st.integers(20, 120))
    # steps in microseconds within 12.5-400 Hz; a few duplicated timestamps (step 0)
    steps = draw(st.lists(st.integers(2500, 80000), min_size=n - 1, max_size=n - 1))
    dups = draw(st.lists(st.integers(0, n - 2), max_size=n // 4))
    for i in dups:
        steps[i] = 0
    t0 = draw(st.integers(0, 10**9))  # any origin, up to 1000 s
    t_us = t0 + np.concatenate([[0], np.cumsum(steps)])
    acc_i = draw(st.lists(st.integers(-32_000_000, 32_000_000), min_size=3 * n, max_size=3 * n))
    with_gyro = draw(st.booleans())
    gyro = None
    if with_gyro:
        g_i = draw(
            st.lists(st.integers(-50_000_000, 50_000_000), min_size=3 * n, max_size=3 * n)
        )
        gyro = np.array(g_i, dtype=np.float64).reshape(n, 3) / 1e4
    meta = draw(st.dictionaries(_META_KEY, _META_VALUE, max_size=4))
    return Samples(
        t_us.astype(np.float64) / 1e6,
        np.array(acc_i, dtype=np.float64).reshape(n, 3) / 1e6,
        gyro,
        meta,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_samples())
def test_write_read_round_trip(samples: Samples) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rt.csv"
        write_recording(path, samples)
        back = read_recording(path)
    assert np.array_equal(back.t_s, samples.t_s)
    assert np.array_equal(back.acc_g, samples.acc_g)
    if samples.gyro_dps is None:
        assert back.gyro_dps is None
    else:
        assert back.gyro_dps is not None
        assert np.array_equal(back.gyro_dps, samples.gyro_dps)
    assert dict(back.metadata) == dict(samples.metadata)


def _only_recording_errors(text: str) -> None:
    try:
        s = parse_recording(text, "fuzz.csv")
    except RecordingError as err:
        message = str(err)
        assert message.startswith("fuzz.csv"), message
        assert "\n" not in message
        return
    # accepted: then it must be a valid recording
    assert len(s) >= 20
    assert np.all(np.isfinite(s.t_s))
    assert np.all(np.diff(s.t_s) >= 0)
    assert np.all(np.abs(s.acc_g) <= 32)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_recording_error(text: str) -> None:
    _only_recording_errors(text)


_TOKEN = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x1p3", "1_0", "--1", "1,", '"1"',
                     "#", "\x00", "\u0661", "\ufeff1", "t", "1e-400"]),
    st.text(max_size=4),
)


@st.composite
def csv_like(draw: st.DrawFn) -> str:
    header = draw(st.sampled_from([HEADER, HEADER6, "t,ax,ay", "t,ax,ay,az,gx", "T,AX,AY,AZ"]))
    width = draw(st.integers(3, 8))
    n = draw(st.integers(15, 40))
    base = [_row(i, draw(st.sampled_from([10.0, 100.0, 500.0]))) for i in range(n)]
    rows = [r + (",0,0,0" if header == HEADER6 else "") for r in base]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, n - 1))
        rows[i] = ",".join(draw(st.lists(_TOKEN, min_size=width, max_size=width)))
    comments = draw(st.lists(st.text(max_size=10).map(lambda s: "#" + s), max_size=3))
    return "\n".join([*comments, header, *rows])


@settings(max_examples=200, deadline=None)
@given(csv_like())
def test_mangled_csv_only_raises_recording_error(text: str) -> None:
    _only_recording_errors(text)


# -- reader defects found in review, now fixed ---------------------------------------------


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _text([HEADER, *_rows()]).encode())
    assert len(read_recording(path)) == 30


def test_underscore_number_names_its_line(tmp_path: Path) -> None:
    rows = _replace(_rows(), 4, "0.040000,1_000,0,1")
    path, message = _read_error(tmp_path, _text([HEADER, *rows]))
    assert message.startswith(f"{path}:6: "), message
