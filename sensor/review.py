"""Formatting summary documents for ``hipthrust review`` (pure), and the trends chart.

Works on ``hipthrust.session`` documents (dicts), wherever they came from (broker or local
store). Durations are in seconds, asymmetry indexes in percent. Sessions are ordered by
``started_at`` when the document has one, then by ``session_id``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PHASES: tuple[str, ...] = ("concentric_s", "hold_s", "eccentric_s")
LEGS: tuple[str, ...] = ("left", "right")
_SHORT = {"concentric_s": "conc", "hold_s": "hold", "eccentric_s": "ecc"}


def sort_key(doc: dict[str, Any]) -> tuple[str, str]:
    started = doc.get("started_at") or doc.get("recorded_at") or ""
    return (str(started), str(doc.get("session_id", "")))


def dedupe(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per session_id (the last one seen wins), in session order."""
    by_id: dict[str, dict[str, Any]] = {}
    for doc in docs:
        by_id[str(doc["session_id"])] = doc
    return sorted(by_id.values(), key=sort_key)


def _num(x: Any, nd: int = 2, unit: str = "") -> str:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return "-"
    return f"{x:.{nd}f}{unit}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: left-aligned first column, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [cells[0].ljust(widths[0])]
        out += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _leg(doc: dict[str, Any], leg: str) -> dict[str, Any]:
    legs = doc.get("legs")
    value = legs.get(leg) if isinstance(legs, dict) else None
    return value if isinstance(value, dict) else {}


def _asym(doc: dict[str, Any], phase: str) -> Any:
    asym = doc.get("asymmetry")
    return asym.get(phase.removesuffix("_s") + "_pct") if isinstance(asym, dict) else None


def _flags(doc: dict[str, Any]) -> str:
    flags = doc.get("flags")
    if not isinstance(flags, list):
        asym = doc.get("asymmetry", {})
        flags = [f"asymmetry:{f}" for f in asym.get("flags", [])] if isinstance(asym, dict) else []
    return ",".join(str(f) for f in flags) or "-"


def _rep_count(doc: dict[str, Any]) -> int:
    if isinstance(doc.get("rep_count"), int):
        return int(doc["rep_count"])
    return sum(len(s.get("reps", [])) for s in doc.get("sets", []))


def sessions_table(docs: Sequence[dict[str, Any]]) -> str:
    """One line per session."""
    headers = ["session", "mount", "sets", "reps", "hold L", "hold R", "asym hold", "flags"]
    rows = [
        [
            str(d["session_id"]),
            str(d.get("mount", "-")),
            str(len(d.get("sets", []))),
            str(_rep_count(d)),
            _num(_leg(d, "left").get("hold_s"), unit=" s"),
            _num(_leg(d, "right").get("hold_s"), unit=" s"),
            _num(_asym(d, "hold_s"), 1, " %"),
            _flags(d),
        ]
        for d in dedupe(docs)
    ]
    return format_table(headers, rows) + f"\n{len(rows)} session(s)"


def _mean(values: Iterable[Any]) -> float | None:
    xs = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return sum(xs) / len(xs) if xs else None


def session_detail(doc: dict[str, Any]) -> str:
    """One session: per set, per leg, the asymmetry and the flags."""
    out = [f"session {doc['session_id']}  mount={doc.get('mount', '-')}  "
           f"reps={_rep_count(doc)}  source={doc.get('source') or '-'}"]
    if doc.get("pause_target_s") is not None:
        out[0] += f"  pause target={_num(doc['pause_target_s'], 1)} s"
    set_rows = []
    for s in doc.get("sets", []):
        reps = s.get("reps", [])
        rep_flags = sorted({f for r in reps for f in r.get("flags", [])})
        set_rows.append([
            str(s.get("index", "-")), str(s.get("leg", "-")), str(len(reps)),
            *(_num(_mean(r.get(p) for r in reps), unit=" s") for p in PHASES),
            ",".join([*s.get("flags", []), *rep_flags]) or "-",
        ])
    out += ["", "Sets", format_table(
        ["set", "leg", "reps", "conc", "hold", "ecc", "flags"], set_rows)]
    leg_rows = []
    for leg in LEGS:
        st = _leg(doc, leg)
        if not st:
            continue
        leg_rows.append([leg, str(st.get("reps", "-")), *(
            f"{_num(st.get(p))} ± {_num(st.get(p.removesuffix('_s') + '_sd_s'))} s"
            for p in PHASES)])
    out += ["", "Legs (mean ± sd)", format_table(["leg", "reps", "conc", "hold", "ecc"],
                                                 leg_rows)]
    asym = doc.get("asymmetry", {})
    phases = asym.get("phases", {}) if isinstance(asym, dict) else {}
    asym_rows = []
    for p in PHASES:
        info = phases.get(p, {}) if isinstance(phases, dict) else {}
        asym_rows.append([_SHORT[p], _num(_asym(doc, p), 1, " %"),
                          _num(info.get("noise_pct"), 1, " %"),
                          "yes" if (info.get("flagged") or p in asym.get("flags", [])) else "no"])
    out += ["", f"Asymmetry (threshold {_num(asym.get('threshold_pct'), 0, ' %')})",
            format_table(["phase", "index", "noise", "flagged"], asym_rows)]
    out += ["", f"Flags: {_flags(doc)}"]
    return "\n".join(out)


def trend_rows(docs: Sequence[dict[str, Any]], last_n: int) -> list[dict[str, Any]]:
    """Per session (the last ``last_n``): per-leg phase means and asymmetry indexes."""
    rows = []
    for d in dedupe(docs)[-last_n:] if last_n > 0 else []:
        row: dict[str, Any] = {"session_id": d["session_id"]}
        for p in PHASES:
            for leg in LEGS:
                row[f"{leg}_{p}"] = _leg(d, leg).get(p)
            row[f"asym_{p}"] = _asym(d, p)
        rows.append(row)
    return rows


def trends_table(docs: Sequence[dict[str, Any]], last_n: int = 10) -> str:
    """Per-leg trends across the last ``last_n`` sessions as a terminal table."""
    headers = ["session"]
    for p in PHASES:
        headers += [f"{_SHORT[p]} L", f"{_SHORT[p]} R", f"{_SHORT[p]} asym"]
    rows = []
    for r in trend_rows(docs, last_n):
        cells = [str(r["session_id"])]
        for p in PHASES:
            cells += [_num(r[f"left_{p}"]), _num(r[f"right_{p}"]), _num(r[f"asym_{p}"], 1, "%")]
        rows.append(cells)
    return "Per-leg phase means (s) and asymmetry over the last " \
        f"{len(rows)} session(s)\n" + format_table(headers, rows)


def plot_trends(docs: Sequence[dict[str, Any]], path: Path, last_n: int = 10) -> None:
    """A PNG (or any matplotlib format, by suffix) of per-leg phase times and asymmetry."""
    import matplotlib  # noqa: PLC0415 - heavy; only the --plot path needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after choosing the headless backend

    rows = trend_rows(docs, last_n)
    x = list(range(len(rows)))
    labels = [str(r["session_id"])[:16] for r in rows]

    def series(key: str) -> list[float]:
        return [float(r[key]) if isinstance(r[key], int | float) else math.nan for r in rows]

    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    try:
        for ax, p in zip(axes[:3], PHASES, strict=True):
            for leg, marker in (("left", "o"), ("right", "s")):
                ax.plot(x, series(f"{leg}_{p}"), marker=marker, label=leg)
            ax.set_ylabel(f"{_SHORT[p]} (s)")
            ax.legend(loc="best")
            ax.grid(True, alpha=0.3)
        for p in PHASES:
            axes[3].plot(x, series(f"asym_{p}"), marker="o", label=_SHORT[p])
        axes[3].set_ylabel("asymmetry (%)")
        axes[3].legend(loc="best")
        axes[3].grid(True, alpha=0.3)
        axes[3].set_xticks(x, labels, rotation=30, ha="right")
        fig.suptitle(f"hipthrust: last {len(rows)} session(s)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
