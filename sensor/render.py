"""Sink: the session summary as a readable terminal table (pure: summary in, text out)."""

from __future__ import annotations

from sensor.summary import Leg, RepFlag, SessionSummary


def _s(x: float | None) -> str:
    return "   -  " if x is None else f"{x:5.2f}s"


def summary_text(summary: SessionSummary) -> str:
    """Per set and per rep, per leg, asymmetry and flags, as plain text."""
    lines: list[str] = []
    src = f" from {summary.source}" if summary.source else ""
    rate = f", {summary.sampling_rate_hz:.0f} Hz" if summary.sampling_rate_hz else ""
    gyro = ", gyro" if summary.has_gyro else ", no gyro" if summary.has_gyro is False else ""
    lines.append(f"Session {summary.session_id}{src}: {summary.mount.value} mount{rate}{gyro}")
    pause = f", pause target {summary.pause_target_s:g} s" if summary.pause_target_s else ""
    lines.append(f"{len(summary.sets)} sets, {summary.rep_count} reps{pause}")
    if not summary.sets:
        lines.append("No reps found.")
    for s in summary.sets:
        lines.append("")
        lines.append(
            f"Set {s.index + 1} - {s.leg.value} leg - {s.rep_count} reps "
            f"(t = {s.t_start:.1f}-{s.t_end:.1f} s)"
        )
        lines.append("  rep  concentric   hold  eccentric  bottom  range  flags")
        for r in s.reps:
            flags = ", ".join(f.value for f in r.flags) or ""
            tilted = r.tilt_deg is not None and RepFlag.PELVIC_TILT in r.flags
            tilt = f" ({r.tilt_deg:.0f} deg)" if tilted else ""
            lines.append(
                f"  {r.index + 1:>3}  {_s(r.concentric_s):>10} {_s(r.hold_s)}  "
                f"{_s(r.eccentric_s):>9} {_s(r.bottom_s)}  {r.range_m:4.2f}m  {flags}{tilt}"
            )
    if summary.legs:
        lines.append("")
        lines.append("Per leg (means)   reps  concentric   hold  eccentric")
        for leg in Leg:
            st = summary.legs.get(leg)
            if st is not None:
                lines.append(
                    f"  {leg.value:<15} {st.reps:>4}  {_s(st.concentric_s):>10} "
                    f"{_s(st.hold_s)}  {_s(st.eccentric_s):>9}"
                )
    asym = summary.asymmetry
    lines.append("")
    lines.append(
        f"Asymmetry (flag over {asym.threshold_pct:g} % and over the rep-to-rep noise):"
    )
    for p in asym.phases:
        if p.index_pct is None:
            lines.append(f"  {p.metric:<13} needs both legs with 2+ reps")
            continue
        noise = f"noise {p.noise_pct:.0f} %" if p.noise_pct is not None else ""
        mark = "  <-- FLAGGED" if p.flagged else ""
        lines.append(f"  {p.metric:<13} {p.index_pct:5.1f} %  ({noise}){mark}")
    session_flags = summary.flags
    lines.append("")
    lines.append("Flags: " + (", ".join(session_flags) if session_flags else "none"))
    return "\n".join(lines)
