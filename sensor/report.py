"""The session report: one PNG figure, or a self-contained HTML page that embeds it.

Pure rendering from a ``SessionSummary`` and the engine's trace (any object with uniform-grid
numpy arrays ``t_s`` (s), ``speed_mps`` (m/s, up positive) and ``position_m`` (m, up
positive)); ``sensor.commands.report`` reads the files and runs the engine. Files are written
only after everything has rendered, through a temporary file, so an error leaves no file.

Panels: the position over time per set, each rep's phases shaded (concentric, hold,
eccentric) and the set titled with its leg; per-leg tempo bars with the asymmetry index of
each phase and its flag; the lockout hold of every rep against the pause target; the pelvic
tilt of every rep against its threshold (hip mount); a text box with the session flags.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sensor.samples import FloatArray
from sensor.summary import (
    PHASE_METRICS,
    Leg,
    Mount,
    Phase,
    Rep,
    RepFlag,
    SessionSummary,
    SetResult,
)

FIG_SIZE_IN = (12.0, 10.0)
FIG_DPI = 100
"""The PNG is ``FIG_SIZE_IN * FIG_DPI`` = 1200 x 1000 pixels."""
DEFAULT_TILT_THRESHOLD_DEG = 7.0

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PHASE_COLOURS: dict[Phase, str] = {
    Phase.CONCENTRIC: "#E69F00",
    Phase.HOLD: "#009E73",
    Phase.ECCENTRIC: "#56B4E9",
}
LEG_COLOURS: dict[Leg, str] = {Leg.LEFT: "#0072B2", Leg.RIGHT: "#CC79A7"}
FLAG_COLOUR = "#D55E00"
INK = "#222222"
MUTED = "#777777"
NO_VALUE = "\N{EN DASH}"
"""Shown for a missing value (no tilt on a bar mount, no flags...)."""

METRIC_LABELS: dict[str, str] = {
    "concentric_s": "concentric",
    "hold_s": "hold",
    "eccentric_s": "eccentric",
}
FLAG_TEXT: dict[str, str] = {
    RepFlag.PAUSE_MISSED.value: "hold shorter than the pause target",
    RepFlag.BOUNCE.value: "bounced lockout (almost no hold in a set meant to hold)",
    RepFlag.PELVIC_TILT.value: "pelvic tilt over the threshold",
}


class TraceLike(Protocol):
    """What the report needs of the engine's trace: arrays on one uniform time grid."""

    @property
    def t_s(self) -> FloatArray: ...

    @property
    def speed_mps(self) -> FloatArray: ...

    @property
    def position_m(self) -> FloatArray: ...


def _fmt(x: float | None, nd: int = 2, unit: str = "") -> str:
    if x is None or not math.isfinite(x):
        return NO_VALUE
    return f"{x:.{nd}f}{unit}"


def _rep_rows(summary: SessionSummary) -> Iterator[tuple[SetResult, int, Rep]]:
    """Every rep with its set and its 1-based number within the set."""
    for s in summary.sets:
        for k, rep in enumerate(s.reps, start=1):
            yield s, k, rep


def _phase_spans(rep: Rep) -> dict[Phase, tuple[float, float]]:
    """Start and end time of each phase. The hold follows the lockout for ``hold_s``
    (for a lift that starts at the top the descent comes first)."""
    return {
        Phase.CONCENTRIC: (rep.t_start, rep.t_lockout),
        Phase.HOLD: (rep.t_lockout, rep.t_lockout + rep.hold_s),
        Phase.ECCENTRIC: (rep.t_descent, rep.t_bottom),
    }


def _rep_span(rep: Rep) -> tuple[float, float]:
    spans = _phase_spans(rep).values()
    return min(a for a, _b in spans), max(b for _a, b in spans)


def _flag_title(flag: str, summary: SessionSummary, max_reps: int | None = None) -> str:
    """A sentence for a session flag (``asymmetry:<metric>`` or a ``RepFlag`` value).

    Names the reps concerned, the first ``max_reps`` of them when given.
    """
    if flag.startswith("asymmetry:"):
        metric = flag.split(":", 1)[1]
        idx = summary.asymmetry.index_pct(metric)
        return (f"left/right asymmetry in {METRIC_LABELS.get(metric, metric)}: "
                f"{_fmt(idx, 1, ' %')} (threshold {summary.asymmetry.threshold_pct:g} %)")
    reps = [f"set {s.index + 1} rep {k}" for s, k, r in _rep_rows(summary)
            if flag in (f.value for f in r.flags)]
    shown = reps if max_reps is None or len(reps) <= max_reps else [*reps[:max_reps], "..."]
    return f"{FLAG_TEXT.get(flag, flag)}: {len(reps)} rep(s) ({', '.join(shown)})"


# --- the figure -------------------------------------------------------------------------


def build_figure(
    summary: SessionSummary,
    trace: TraceLike,
    *,
    tilt_threshold_deg: float = DEFAULT_TILT_THRESHOLD_DEG,
) -> Figure:
    """The whole report as one matplotlib figure (not drawn yet).

    Raises ValueError when the trace's arrays are not one-dimensional of one length.
    """
    shapes = {np.shape(a) for a in (trace.t_s, trace.speed_mps, trace.position_m)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"trace arrays must be one-dimensional of one size, not {shapes}")
    fig = Figure(figsize=FIG_SIZE_IN, dpi=FIG_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    title = f"Session {summary.session_id}  ·  {summary.mount.value} mount  ·  "
    title += f"{_plural(summary.rep_count, 'rep')} in {_plural(len(summary.sets), 'set')}"
    fig.suptitle(title, fontsize=14, fontweight="bold", color=INK)
    grid = fig.add_gridspec(3, 3, height_ratios=[1.35, 1.0, 1.0])
    _signal_panels(fig, grid[0, :], summary, trace)
    _tempo_panel(fig.add_subplot(grid[1, 0]), summary)
    _hold_panel(fig.add_subplot(grid[1, 1:]), summary)
    _flags_panel(fig.add_subplot(grid[2, 0]), summary)
    _tilt_panel(fig.add_subplot(grid[2, 1:]), summary, tilt_threshold_deg)
    return fig


def _signal_panels(fig: Figure, cell: Any, summary: SessionSummary, trace: TraceLike) -> None:
    t = np.asarray(trace.t_s, dtype=float)
    pos_cm = np.asarray(trace.position_m, dtype=float) * 100
    sets = [s for s in summary.sets if s.reps]
    what = "hip" if summary.mount is Mount.HIP else "bar"
    if not sets:
        ax = fig.add_subfigure(cell).subplots()
        if t.size:
            ax.plot(t, pos_cm, color=INK, lw=1)
        ax.set_title("No reps found", color=MUTED)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(f"{what} height (cm)")
        return
    pad_s = 2.0
    windows = [(min(_rep_span(r)[0] for r in s.reps) - pad_s,
                max(_rep_span(r)[1] for r in s.reps) + pad_s) for s in sets]
    sub = fig.add_subfigure(cell)
    axes = sub.subplots(1, len(sets), sharey=True, squeeze=False,
                        width_ratios=[b - a for a, b in windows])[0]
    for i, (ax, s, (a, b)) in enumerate(zip(axes, sets, windows, strict=True)):
        sel = (t >= a) & (t <= b)
        if sel.any():
            base = float(np.nanmin(pos_cm[sel]))
            ax.plot(t[sel], pos_cm[sel] - base, color=INK, lw=1.2)
        for k, rep in enumerate(s.reps, start=1):
            for phase, (x0, x1) in _phase_spans(rep).items():
                ax.axvspan(x0, x1, color=PHASE_COLOURS[phase], alpha=0.45, lw=0)
            flagged = bool(rep.flags)
            ax.text(sum(_rep_span(rep)) / 2, 1.02, str(k), transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8,
                    color=FLAG_COLOUR if flagged else MUTED,
                    fontweight="bold" if flagged else "normal")
        ax.set_xlim(a, b)
        ax.set_title(f"Set {s.index + 1} · {s.leg.value} leg · {_plural(s.rep_count, 'rep')}",
                     color=LEG_COLOURS[s.leg], fontsize=10, fontweight="bold", pad=14)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.spines["top"].set_visible(True)
        ax.spines["top"].set_color(LEG_COLOURS[s.leg])
        ax.spines["top"].set_linewidth(3)
        ax.tick_params(labelsize=8)
        ax.locator_params(axis="x", nbins=4)
        if i == 0:
            ax.set_ylabel(f"{what} height (cm)")
    sub.supxlabel("time in the recording (s); rests between sets are cut out", fontsize=9,
                  color=MUTED)
    handles = [Patch(color=PHASE_COLOURS[p], alpha=0.6, label=p.value)
               for p in (Phase.CONCENTRIC, Phase.HOLD, Phase.ECCENTRIC)]
    handles.append(Patch(color=FLAG_COLOUR, label="rep number of a flagged rep"))
    sub.legend(handles=handles, loc="outside upper right", ncols=4, fontsize=8, frameon=False)


def _tempo_panel(ax: Any, summary: SessionSummary) -> None:
    legs = [leg for leg in Leg if leg in summary.legs]
    x = np.arange(len(PHASE_METRICS))
    width = 0.38
    top = 0.0
    for j, leg in enumerate(legs):
        st = summary.legs[leg]
        means = [getattr(st, m) for m in PHASE_METRICS]
        sds = [getattr(st, m.replace("_s", "_sd_s")) for m in PHASE_METRICS]
        sds = [v if v is not None and math.isfinite(v) else 0.0 for v in sds]
        offset = (j - (len(legs) - 1) / 2) * width
        ax.bar(x + offset, means, width * 0.95, yerr=sds, capsize=3,
               color=LEG_COLOURS[leg], label=f"{leg.value} ({st.reps} reps)",
               error_kw={"elinewidth": 1, "ecolor": INK})
        top = max(top, *(m + sd for m, sd in zip(means, sds, strict=True)
                         if math.isfinite(m)))
    for i, metric in enumerate(PHASE_METRICS):
        idx = summary.asymmetry.index_pct(metric)
        flagged = metric in summary.asymmetry.flags
        label = f"AI {_fmt(idx, 0, ' %')}" + ("\nFLAGGED" if flagged else "")
        ax.text(x[i], top * 1.05 if top > 0 else 0.1, label, ha="center", va="bottom",
                fontsize=9, color=FLAG_COLOUR if flagged else MUTED,
                fontweight="bold" if flagged else "normal")
    ax.set_ylim(0, (top or 1.0) * 1.6)
    ax.set_xticks(x, [METRIC_LABELS[m] for m in PHASE_METRICS])
    ax.set_ylabel("seconds")
    ax.set_title(f"Tempo per leg (mean ± sd); asymmetry flag over "
                 f"{summary.asymmetry.threshold_pct:g} %", fontsize=10)
    if legs:
        ax.legend(fontsize=8, frameon=False, loc="upper center", ncols=2)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _rep_positions(summary: SessionSummary) -> tuple[list[float], list[tuple[SetResult, int, Rep]]]:
    """x positions for per-rep panels: reps side by side, a gap between sets."""
    xs: list[float] = []
    rows = list(_rep_rows(summary))
    x = 0.0
    last_set = None
    for s, _k, _rep in rows:
        if last_set is not None and s is not last_set:
            x += 1.0
        xs.append(x)
        x += 1.0
        last_set = s
    return xs, rows


def _per_rep_axes(ax: Any, summary: SessionSummary, xs: Sequence[float],
                  rows: Sequence[tuple[SetResult, int, Rep]]) -> None:
    ax.set_xticks(xs, [str(k) for _s, k, _r in rows], fontsize=7)
    ax.set_xlim(-0.8, (xs[-1] if xs else 0) + 0.8)
    for s in summary.sets:
        mine = [x for x, (rs, _k, _r) in zip(xs, rows, strict=True) if rs is s]
        if mine:
            ax.text((mine[0] + mine[-1]) / 2, 0.98, f"set {s.index + 1} · {s.leg.value}",
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8,
                    color=LEG_COLOURS[s.leg], fontweight="bold")
    ax.set_xlabel("rep within its set", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _hold_panel(ax: Any, summary: SessionSummary) -> None:
    xs, rows = _rep_positions(summary)
    target = summary.pause_target_s
    holds = [r.hold_s for _s, _k, r in rows]
    missed = [RepFlag.PAUSE_MISSED in r.flags for _s, _k, r in rows]
    bounced = [RepFlag.BOUNCE in r.flags for _s, _k, r in rows]
    colours = [LEG_COLOURS[s.leg] for s, _k, _r in rows]
    ax.bar(xs, holds, 0.8, color=colours)
    top = max([*holds, target or 0.0, 0.5])
    miss_x = [x for x, m in zip(xs, missed, strict=True) if m]
    miss_h = [h for h, m in zip(holds, missed, strict=True) if m]
    if miss_x:
        ax.scatter(miss_x, [h + 0.04 * top for h in miss_h], marker="x", s=28,
                   color=FLAG_COLOUR, linewidths=2, zorder=3, label="missed the target")
    for x, h, b in zip(xs, holds, bounced, strict=True):
        if b:
            ax.text(x, h + 0.1 * top, "bounce", ha="center", va="bottom", fontsize=8,
                    color=FLAG_COLOUR, fontweight="bold")
    if target is not None:
        ax.axhline(target, color=FLAG_COLOUR, ls="--", lw=1.5)
        ax.text(1.0, target, f" target {target:g} s", transform=ax.get_yaxis_transform(),
                ha="left", va="center", fontsize=8, color=FLAG_COLOUR)
        n_missed = sum(missed)
        ax.set_title(f"Lockout hold per rep vs the {target:g} s pause target: "
                     f"{n_missed} of {len(rows)} missed", fontsize=10)
    else:
        ax.set_title("Lockout hold per rep (no pause target set)", fontsize=10)
    ax.set_ylim(0, top * 1.45)
    ax.set_ylabel("hold (s)")
    if miss_x:
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.92), fontsize=8, frameon=False)
    _per_rep_axes(ax, summary, xs, rows)


def _tilt_panel(ax: Any, summary: SessionSummary, threshold_deg: float) -> None:
    xs, rows = _rep_positions(summary)
    tilts = [r.tilt_deg for _s, _k, r in rows]
    if summary.mount is not Mount.HIP or all(v is None for v in tilts):
        ax.set_axis_off()
        why = ("Pelvic tilt is measured with a hip mount only."
               if summary.mount is not Mount.HIP else "No pelvic tilt in this session.")
        ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=11, color=MUTED,
                transform=ax.transAxes)
        return
    vals = [v if v is not None else math.nan for v in tilts]
    over = [RepFlag.PELVIC_TILT in r.flags for _s, _k, r in rows]
    ax.bar(xs, vals, 0.8, color=[FLAG_COLOUR if o else LEG_COLOURS[s.leg]
                                 for o, (s, _k, _r) in zip(over, rows, strict=True)])
    ax.axhline(threshold_deg, color=FLAG_COLOUR, ls="--", lw=1.5)
    ax.text(1.0, threshold_deg, f" limit {threshold_deg:g}°", transform=ax.get_yaxis_transform(),
            ha="left", va="center", fontsize=8, color=FLAG_COLOUR)
    finite = [v for v in vals if math.isfinite(v)]
    ax.set_ylim(0, max([*finite, threshold_deg]) * 1.45)
    ax.set_ylabel("tilt (deg)")
    ax.set_title(f"Pelvic tilt per rep (largest side-to-side roll): {sum(over)} over the "
                 f"{threshold_deg:g}° limit", fontsize=10)
    _per_rep_axes(ax, summary, xs, rows)


def _flags_panel(ax: Any, summary: SessionSummary) -> None:
    ax.set_axis_off()
    lines = [f"{_plural(len(summary.sets), 'set')}, {_plural(summary.rep_count, 'rep')}"]
    for leg in Leg:
        n_sets = sum(1 for s in summary.sets if s.leg is leg)
        n_reps = sum(s.rep_count for s in summary.sets if s.leg is leg)
        if n_sets:
            lines.append(f"  {leg.value}: {_plural(n_sets, 'set')}, {_plural(n_reps, 'rep')}")
    if summary.pause_target_s is not None:
        lines.append(f"pause target {summary.pause_target_s:g} s")
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=10, color=INK,
            transform=ax.transAxes)
    flags = summary.flags
    head = "Flags" if flags else "No flags: symmetric, on target, level."
    body = "\n".join(_wrap(f"• {_flag_title(f, summary, max_reps=4)}", 48) for f in flags)
    ax.text(0.0, 0.55, head, va="top", ha="left", fontsize=11, fontweight="bold",
            color=FLAG_COLOUR if flags else "#009E73", transform=ax.transAxes)
    ax.text(0.0, 0.45, body, va="top", ha="left", fontsize=8.5, color=INK,
            transform=ax.transAxes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = "   " + w
        else:
            line = f"{line} {w}" if line else w
    lines.append(line)
    return "\n".join(lines)


def png_bytes(
    summary: SessionSummary,
    trace: TraceLike,
    *,
    tilt_threshold_deg: float = DEFAULT_TILT_THRESHOLD_DEG,
) -> bytes:
    """The report figure as PNG bytes (``FIG_SIZE_IN * FIG_DPI`` pixels)."""
    fig = build_figure(summary, trace, tilt_threshold_deg=tilt_threshold_deg)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIG_DPI, facecolor="white")
    return buf.getvalue()


# --- HTML -------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1240px;
color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem}
.meta{color:#666;margin-top:0}
img{max-width:100%;height:auto;border:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e3e3e3;padding:.25rem .6rem;text-align:right}
th{background:#f5f5f5} td.l,th.l{text-align:left}
tr.flagged td{background:#fdebe3} .flag{color:#D55E00;font-weight:600}
.ok{color:#009E73;font-weight:600} .left{color:#0072B2;font-weight:600}
.right{color:#CC79A7;font-weight:600} code{font-size:.85em}
"""


def _e(x: object) -> str:
    return html.escape(str(x))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
           left_cols: int = 1, row_classes: Sequence[str] | None = None,
           table_id: str = "") -> str:
    """An HTML table; cells are already HTML (escape them before)."""
    def cls(i: int) -> str:
        return ' class="l"' if i < left_cols else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for n, row in enumerate(rows):
        rc = row_classes[n] if row_classes else ""
        tr = f'<tr class="{rc}">' if rc else "<tr>"
        body.append(tr + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    tid = f' id="{table_id}"' if table_id else ""
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return (f"<table{tid}>{thead}<tbody>"
            + "\n".join(body) + "</tbody></table>")


def _leg_html(leg: Leg) -> str:
    return f'<span class="{leg.value}">{leg.value}</span>'


def _flags_html(flags: Sequence[str]) -> str:
    return " ".join(f'<span class="flag">{_e(f)}</span>' for f in flags) or NO_VALUE


def html_document(summary: SessionSummary, png: bytes, *,
                  tilt_threshold_deg: float = DEFAULT_TILT_THRESHOLD_DEG) -> str:
    """The self-contained HTML report around the PNG bytes of the figure."""
    s = summary
    overview = [
        ("Session", _e(s.session_id)),
        ("Source", _e(s.source or NO_VALUE)),
        ("Mount", _e(s.mount.value)),
        ("Duration", _fmt(s.duration_s, 1, " s")),
        ("Sampling rate", _fmt(s.sampling_rate_hz, 1, " Hz")),
        ("Gyroscope", NO_VALUE if s.has_gyro is None else ("yes" if s.has_gyro else "no")),
        ("Pause target", _fmt(s.pause_target_s, 1, " s")),
        ("Sets", str(len(s.sets))),
        ("Reps", str(s.rep_count)),
    ]
    if s.mount is Mount.HIP:
        overview.append(("Pelvic tilt limit", f"{tilt_threshold_deg:g}°"))
    overview_html = _table(["", ""], [[f"<b>{k}</b>", v] for k, v in overview], left_cols=2)

    if s.flags:
        flag_items = "".join(
            f'<li><code class="flag">{_e(f)}</code> {_e(_flag_title(f, s))}</li>' for f in s.flags)
        flags_html = f'<ul id="session-flags">{flag_items}</ul>'
    else:
        flags_html = ('<p id="session-flags" class="ok">No flags: symmetric, on target, '
                      'level.</p>')

    set_rows = [[str(st.index + 1), _leg_html(st.leg), str(st.rep_count), _fmt(st.t_start),
                 _fmt(st.t_end), _flags_html(st.flags)] for st in s.sets]
    sets_html = _table(["Set", "Leg", "Reps", "Start (s)", "End (s)", "Flags"], set_rows,
                       left_cols=2, table_id="sets")

    rep_rows: list[list[str]] = []
    rep_classes: list[str] = []
    for st, k, r in _rep_rows(s):
        rep_rows.append([
            str(st.index + 1), _leg_html(st.leg), str(k), _fmt(r.t_start), _fmt(r.t_lockout),
            _fmt(r.t_descent), _fmt(r.t_bottom), _fmt(r.concentric_s), _fmt(r.hold_s),
            _fmt(r.eccentric_s), _fmt(r.bottom_s), _fmt(r.peak_speed_mps),
            _fmt(r.range_m * 100 if r.range_m is not None else None, 1),
            _fmt(r.tilt_deg, 1), _flags_html([f.value for f in r.flags]),
        ])
        rep_classes.append("flagged" if r.flags else "")
    reps_html = _table(
        ["Set", "Leg", "Rep", "t_start", "t_lockout", "t_descent", "t_bottom",
         "Concentric (s)", "Hold (s)", "Eccentric (s)", "Bottom (s)", "Peak speed (m/s)",
         "Range (cm)", "Tilt (deg)", "Flags"],
        rep_rows, left_cols=2, row_classes=rep_classes, table_id="reps")

    leg_rows = []
    for leg in Leg:
        if leg not in s.legs:
            continue
        stats = s.legs[leg]
        leg_rows.append([_leg_html(leg), str(stats.reps)] + [
            f"{_fmt(getattr(stats, m))} ± {_fmt(getattr(stats, m.replace('_s', '_sd_s')))}"
            for m in PHASE_METRICS])
    legs_html = _table(["Leg", "Reps", "Concentric (s)", "Hold (s)", "Eccentric (s)"],
                       leg_rows, table_id="legs")

    asym_rows = []
    asym_classes = []
    for p in s.asymmetry.phases:
        asym_rows.append([
            _e(METRIC_LABELS.get(p.metric, p.metric)) + f" <code>{_e(p.metric)}</code>",
            _fmt(p.index_pct, 1, " %"), _fmt(p.noise_pct, 1, " %"),
            f"{s.asymmetry.threshold_pct:g} %",
            '<span class="flag">flagged</span>' if p.flagged else '<span class="ok">no</span>',
        ])
        asym_classes.append("flagged" if p.flagged else "")
    asym_html = _table(["Phase", "Asymmetry index", "Noise floor", "Threshold", "Flag"],
                       asym_rows, row_classes=asym_classes, table_id="asymmetry")
    asym_note = ("<p>Index = |L &minus; R| / ((L + R) / 2) &times; 100 on the per-leg means. "
                 "A phase is flagged when its index is above the threshold and above the noise "
                 "floor (two standard errors of the difference of the means).</p>")

    img = base64.b64encode(png).decode("ascii")
    title = f"hipthrust session {s.session_id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{s.rep_count} reps in {len(s.sets)} sets · {_e(s.mount.value)} mount</p>
<h2>Flags</h2>
{flags_html}
<img alt="Session report: position over time with rep phases, tempo per leg, hold per rep,
pelvic tilt per rep" src="data:image/png;base64,{img}">
<h2>Overview</h2>
{overview_html}
<h2>Sets</h2>
{sets_html}
<h2>Legs</h2>
{legs_html}
<h2>Asymmetry</h2>
{asym_html}
{asym_note}
<h2>Reps</h2>
{reps_html}
<p class="meta">Times are seconds on the recording's own time base. Made by hipthrust.</p>
</body></html>
"""


# --- writing ----------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    The file gets the usual permissions (umask), unlike a ``mkstemp`` file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def render_png(
    summary: SessionSummary,
    trace: TraceLike,
    path: str | Path,
    *,
    tilt_threshold_deg: float = DEFAULT_TILT_THRESHOLD_DEG,
) -> Path:
    """Write the report figure as a PNG; returns the path."""
    data = png_bytes(summary, trace, tilt_threshold_deg=tilt_threshold_deg)
    return _write_atomic(Path(path), data)


def render_html(
    summary: SessionSummary,
    trace: TraceLike,
    path: str | Path,
    *,
    tilt_threshold_deg: float = DEFAULT_TILT_THRESHOLD_DEG,
) -> Path:
    """Write the self-contained HTML report (figure embedded); returns the path."""
    png = png_bytes(summary, trace, tilt_threshold_deg=tilt_threshold_deg)
    doc = html_document(summary, png, tilt_threshold_deg=tilt_threshold_deg)
    return _write_atomic(Path(path), doc.encode("utf-8"))
