"""The session report: what the PNG and the HTML contain, and that errors write nothing."""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from sensor import report
from sensor.cli import main
from sensor.engine import AnalysisOptions
from sensor.pipeline import analyze_file
from sensor.recording import write_recording
from sensor.samples import FloatArray
from sensor.simulate import simulate_session
from sensor.summary import (
    PHASE_METRICS,
    Asymmetry,
    Leg,
    LegStats,
    Mount,
    PhaseAsymmetry,
    Rep,
    RepFlag,
    SessionSummary,
    SetResult,
)

WIDTH_PX = round(report.FIG_SIZE_IN[0] * report.FIG_DPI)
HEIGHT_PX = round(report.FIG_SIZE_IN[1] * report.FIG_DPI)


@dataclass(frozen=True)
class Trace:
    t_s: FloatArray
    speed_mps: FloatArray
    position_m: FloatArray


def _asym(legs: dict[Leg, LegStats], threshold_pct: float = 15.0) -> Asymmetry:
    phases = []
    for m in PHASE_METRICS:
        lv, rv = getattr(legs[Leg.LEFT], m), getattr(legs[Leg.RIGHT], m)
        idx = abs(lv - rv) / ((lv + rv) / 2) * 100
        phases.append(PhaseAsymmetry(m, idx, 5.0, idx > threshold_pct and idx > 5.0))
    return Asymmetry(threshold_pct, tuple(phases))


def make_session(
    *, mount: Mount = Mount.HIP, pause_s: float | None = 2.0, tilt_threshold_deg: float = 7.0
) -> tuple[SessionSummary, Trace]:
    """Four sets (left, right, left, right), the right leg slower up; a synthetic trace.

    Holds near the 2 s target with some missed, one bounce, some reps over the tilt limit.
    """
    rng = np.random.default_rng(7)
    sets: list[SetResult] = []
    t = 5.0
    rep_index = 0
    for set_index, (leg, n) in enumerate(
        [(Leg.LEFT, 8), (Leg.RIGHT, 8), (Leg.LEFT, 7), (Leg.RIGHT, 6)]
    ):
        reps = []
        for k in range(n):
            conc = (1.0 if leg is Leg.LEFT else 1.4) + rng.uniform(-0.1, 0.1)
            hold = 2.0 + rng.uniform(-0.6, 0.5)
            if set_index == 1 and k == 5:
                hold = 0.08
            ecc = 1.8 + rng.uniform(-0.2, 0.2)
            bottom = 0.6 + rng.uniform(-0.1, 0.1) if k < n - 1 else None
            tilt = float(rng.uniform(2, 6)) if mount is Mount.HIP else None
            if mount is Mount.HIP and set_index == 3 and k in (2, 4):
                tilt = 9.5
            flags: list[RepFlag] = []
            if pause_s is not None and hold < pause_s:
                flags.append(RepFlag.PAUSE_MISSED)
            if hold < 0.15:
                flags.append(RepFlag.BOUNCE)
            if tilt is not None and tilt > tilt_threshold_deg:
                flags.append(RepFlag.PELVIC_TILT)
            rep = Rep(index=rep_index, t_start=t, t_lockout=t + conc, t_descent=t + conc + hold,
                      t_bottom=t + conc + hold + ecc, concentric_s=conc, hold_s=hold,
                      eccentric_s=ecc, peak_speed_mps=0.45, range_m=0.26,
                      bottom_s=bottom, tilt_deg=tilt, flags=tuple(flags))
            reps.append(rep)
            rep_index += 1
            t = rep.t_bottom + (bottom or 0.0)
        sets.append(SetResult(set_index, leg, tuple(reps)))
        t += 45.0
    legs: dict[Leg, LegStats] = {}
    for leg in Leg:
        reps_leg = [r for s in sets if s.leg is leg for r in s.reps]
        vals = {m: [r.metric(m) for r in reps_leg] for m in PHASE_METRICS}
        legs[leg] = LegStats(
            len(reps_leg),
            *(float(np.mean(vals[m])) for m in PHASE_METRICS),
            *(float(np.std(vals[m], ddof=1)) for m in PHASE_METRICS),
        )
    summary = SessionSummary(
        session_id="2025-03-04T18-30-00-test", mount=mount, sets=tuple(sets), legs=legs,
        asymmetry=_asym(legs), pause_target_s=pause_s, sampling_rate_hz=100.0, has_gyro=True,
        duration_s=t, source="synthetic.csv",
    )
    return summary, synthetic_trace(summary, end_s=t)


def synthetic_trace(summary: SessionSummary, end_s: float, rate_hz: float = 50.0) -> Trace:
    """Position rising in each concentric, flat in the hold, falling in the eccentric."""
    t = np.arange(0.0, end_s, 1.0 / rate_hz)
    pos = np.zeros_like(t)
    for s in summary.sets:
        for r in s.reps:
            up = (t >= r.t_start) & (t < r.t_lockout)
            pos[up] = r.range_m * (1 - np.cos(np.pi * (t[up] - r.t_start) / r.concentric_s)) / 2
            pos[(t >= r.t_lockout) & (t < r.t_descent)] = r.range_m
            down = (t >= r.t_descent) & (t < r.t_bottom)
            pos[down] = r.range_m * (1 + np.cos(np.pi * (t[down] - r.t_descent)
                                                / r.eccentric_s)) / 2
    pos += 0.002 * np.sin(2 * np.pi * 0.3 * t)
    return Trace(t, np.gradient(pos, t), pos)


class _TableText(HTMLParser):
    """Collects the text of each table row by table id, and the img sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.links.append(a[key] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> tuple[str, _TableText]:
    text = path.read_text(encoding="utf-8")
    parser = _TableText()
    parser.feed(text)
    return text, parser


def _pixels(data: bytes) -> FloatArray:
    return np.asarray(mpimg.imread(io.BytesIO(data), format="png"), dtype=float)


def _assert_picture(pixels: FloatArray) -> None:
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    rgb = pixels[..., :3]
    assert rgb.std() > 0.05, "the picture is blank"
    # The phase colours are really drawn (not only lines and text): each shows up in
    # a good number of pixels. Shading is at alpha 0.45 on white, so compare blended.
    for colour in report.PHASE_COLOURS.values():
        c = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        blended = 0.45 * c + 0.55
        close = np.all(np.abs(rgb - blended) < 0.04, axis=-1)
        assert close.sum() > 500, f"phase colour {colour} hardly appears"


def test_png_has_the_expected_size_and_content(tmp_path: Path) -> None:
    summary, trace = make_session()
    out = report.render_png(summary, trace, tmp_path / "report.png")
    assert out == tmp_path / "report.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    _assert_picture(_pixels(data))
    # The leg colours mark the sets and the bars.
    rgb = _pixels(data)[..., :3]
    for colour in report.LEG_COLOURS.values():
        c = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        assert np.all(np.abs(rgb - c) < 0.04, axis=-1).sum() > 500


def test_html_lists_every_set_rep_leg_and_flag(tmp_path: Path) -> None:
    summary, trace = make_session()
    path = report.render_html(summary, trace, tmp_path / "report.html")
    text, parsed = _parse(path)

    sets = parsed.tables["sets"]
    assert [(row[0], row[1], row[2]) for row in sets] == [
        (str(s.index + 1), s.leg.value, str(s.rep_count)) for s in summary.sets
    ]
    reps = parsed.tables["reps"]
    assert len(reps) == summary.rep_count == 29
    expected = [(s, k, r) for s in summary.sets for k, r in enumerate(s.reps, start=1)]
    for row, (s, k, r) in zip(reps, expected, strict=True):
        assert row[:3] == [str(s.index + 1), s.leg.value, str(k)]
        assert row[3:7] == [f"{x:.2f}" for x in (r.t_start, r.t_lockout, r.t_descent,
                                                  r.t_bottom)]
        assert row[7:10] == [f"{r.metric(m):.2f}" for m in PHASE_METRICS]
        assert row[-1].split() == ([f.value for f in r.flags] or [report.NO_VALUE])
    legs = {row[0]: row for row in parsed.tables["legs"]}
    assert set(legs) == {"left", "right"}
    for leg, st in summary.legs.items():
        assert legs[leg.value][1] == str(st.reps)
        assert legs[leg.value][2].startswith(f"{st.concentric_s:.2f} ±")
    asym = {row[0].split()[-1]: row for row in parsed.tables["asymmetry"]}
    for p in summary.asymmetry.phases:
        assert asym[p.metric][1] == f"{p.index_pct:.1f} %"
        assert asym[p.metric][-1] == ("flagged" if p.flagged else "no")
    # Session flags: the designed ones are all there, and each is listed in the page.
    assert set(summary.flags) == {"asymmetry:concentric_s", "pause_missed", "bounce",
                                  "pelvic_tilt"}
    flags_block = text[text.index('id="session-flags"'):text.index("</ul>")]
    for flag in summary.flags:
        assert f">{flag}</code>" in flags_block
    assert "set 4 rep 3" in flags_block  # the tilted reps are named
    # Self-contained: one embedded PNG, no external resources.
    assert len(parsed.images) == 1
    assert parsed.images[0].startswith("data:image/png;base64,")
    assert parsed.links == []
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    _assert_picture(_pixels(base64.b64decode(parsed.images[0].split(",", 1)[1])))


def test_html_escapes_the_session_id(tmp_path: Path) -> None:
    summary, trace = make_session()
    summary = replace(summary, session_id="<script>alert(1)</script>")
    text, _ = _parse(report.render_html(summary, trace, tmp_path / "r.html"))
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def test_bar_mount_without_pause_target_has_no_tilt_or_flags(tmp_path: Path) -> None:
    summary, trace = make_session(mount=Mount.BAR, pause_s=None)
    assert summary.flags == ("asymmetry:concentric_s", "bounce")
    text, parsed = _parse(report.render_html(summary, trace, tmp_path / "r.html"))
    assert "Pelvic tilt limit" not in text
    assert all(row[13] == report.NO_VALUE for row in parsed.tables["reps"])  # tilt column
    _assert_picture(_pixels(report.png_bytes(summary, trace)))


def test_no_reps_still_renders(tmp_path: Path) -> None:
    summary, trace = make_session()
    empty = replace(summary, sets=(), legs={}, asymmetry=Asymmetry(15.0, ()))
    assert empty.flags == ()
    text, parsed = _parse(report.render_html(empty, trace, tmp_path / "r.html"))
    assert parsed.tables["reps"] == []
    assert "No flags" in text
    pixels = _pixels(report.png_bytes(empty, trace))
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    assert pixels[..., :3].std() > 0.02


def test_an_error_writes_no_file(tmp_path: Path) -> None:
    summary, trace = make_session()
    broken = Trace(trace.t_s, trace.speed_mps, trace.position_m[:-10])  # mismatched arrays
    for name in ("r.png", "r.html"):
        render = report.render_png if name.endswith(".png") else report.render_html
        with pytest.raises(ValueError, match=r"one-dimensional of one size"):
            render(summary, broken, tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_rendering_over_an_existing_report_replaces_it(tmp_path: Path) -> None:
    summary, trace = make_session()
    path = tmp_path / "r.html"
    path.write_text("old")
    report.render_html(summary, trace, path)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_flag_sentences_name_reps_and_indices() -> None:
    summary, _ = make_session()
    text = report._flag_title("asymmetry:concentric_s", summary)
    idx = summary.asymmetry.index_pct("concentric_s")
    assert idx is not None
    assert math.isfinite(idx)
    assert f"{idx:.1f} %" in text
    assert "set 2 rep 6" in report._flag_title("bounce", summary)


# --- the command on a simulated session ---------------------------------------------------


@pytest.fixture(scope="module")
def simulated_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hip-mount session with a pause target, a slow right leg, tilted and bounced reps."""
    samples, _truth = simulate_session(
        21, mount=Mount.HIP, pause_s=3.0, tilt_reps=True, weak_leg=Leg.RIGHT,
        weak_factors={"concentric_s": 1.5}, bounce_reps=1, with_gyro=True)
    path = tmp_path_factory.mktemp("rec") / "session.csv"
    write_recording(path, samples)
    return path


def test_report_command_html_shows_the_whole_summary(
    simulated_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(simulated_recording), "-o", str(out), "--pause", "3"]) == 0
    summary = analyze_file(simulated_recording, AnalysisOptions(pause_s=3.0))
    assert summary.rep_count > 0
    assert set(summary.flags) >= {"asymmetry:concentric_s", "pause_missed", "pelvic_tilt"}
    assert f"wrote {out}: {summary.rep_count} reps in {len(summary.sets)} sets" in (
        capsys.readouterr().out)
    text, parsed = _parse(out)
    assert [(r[0], r[1], r[2]) for r in parsed.tables["sets"]] == [
        (str(st.index + 1), st.leg.value, str(st.rep_count)) for st in summary.sets]
    reps = parsed.tables["reps"]
    assert len(reps) == summary.rep_count
    for row, rep in zip(reps, (r for st in summary.sets for r in st.reps), strict=True):
        assert row[3] == f"{rep.t_start:.2f}"
        assert row[8] == f"{rep.hold_s:.2f}"
        assert row[-1].split() == ([f.value for f in rep.flags] or [report.NO_VALUE])
    assert {r[0] for r in parsed.tables["legs"]} == {leg.value for leg in summary.legs}
    for flag in summary.flags:
        assert f">{flag}</code>" in text
    _assert_picture(_pixels(base64.b64decode(parsed.images[0].split(",", 1)[1])))


def test_report_command_png(simulated_recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.png"
    assert main(["report", str(simulated_recording), "-o", str(out)]) == 0
    _assert_picture(_pixels(out.read_bytes()))


def test_report_command_default_output_name(simulated_recording: Path, tmp_path: Path) -> None:
    rec = tmp_path / "mine.csv"
    rec.write_bytes(simulated_recording.read_bytes())
    assert main(["report", str(rec)]) == 0
    assert (tmp_path / "mine-report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "{tmp}/report.txt"], "the report is .html or .png"),
    (["-o", "{tmp}/missing/report.html"], "does not exist"),
])
def test_report_command_refuses_bad_output_and_writes_nothing(
    simulated_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:
    argv = ["report", str(simulated_recording), *(a.format(tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hipthrust: ")
    assert message in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_report_command_on_a_bad_recording_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "bad.csv"
    rec.write_text("t,ax,ay,az\n0,0,0,1\nbanana\n")
    assert main(["report", str(rec), "-o", str(tmp_path / "r.html")]) == 2
    assert "bad.csv" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
