"""``hipthrust report FILE [-o report.html|report.png]``: the session as a picture.

Reads the recording, runs the engine (the ``analyze`` flags apply) and writes either the
report figure as a PNG or a self-contained HTML page (figure embedded, plus tables of every
set, rep, leg, the asymmetry and the flags). The format follows the output's suffix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sensor.calibration_cli import add_calibration_option, calibration_from_args
from sensor.commands.analyze import add_analysis_options, options_from_args
from sensor.errors import ConfigError, one_line_os_error
from sensor.pipeline import analyze_file_with_engine
from sensor.report import render_html, render_png

FORMATS = {".html": render_html, ".htm": render_html, ".png": render_png}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "report",
        help="draw a session report (HTML or PNG) from a recording",
        description=(
            "Analyse a recording and draw the session: position over time with each rep's "
            "phases, tempo per leg with the asymmetry, hold per rep against the pause "
            "target and pelvic tilt per rep (hip mount). HTML is one self-contained file "
            "for sharing; PNG is the figure alone."
        ),
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a recording (CSV)")
    p.add_argument("-o", "--output", type=Path, metavar="OUT",
                   help="report.html or report.png (default: FILE's name with -report.html)")
    add_analysis_options(p)
    add_calibration_option(p)
    p.set_defaults(func=run)


def output_path(file: Path, output: Path | None) -> Path:
    """Where the report goes; raises ConfigError for an unknown format or missing folder."""
    out = output if output is not None else file.with_name(f"{file.stem}-report.html")
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"{out}: the report is .html or .png, not {out.suffix or 'no suffix'!r}")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: folder {out.parent} does not exist")
    return out


def run(args: argparse.Namespace) -> int:
    out = output_path(args.file, args.output)
    options = options_from_args(args)
    summary, engine = analyze_file_with_engine(args.file, options, calibration_from_args(args))
    render = FORMATS[out.suffix.lower()]
    with one_line_os_error(out, "write"):
        render(summary, engine.trace(), out, tilt_threshold_deg=options.tilt_threshold_deg)
    flags = ", ".join(summary.flags) or "none"
    print(f"wrote {out}: {summary.rep_count} reps in {len(summary.sets)} sets; flags: {flags}")
    return 0
