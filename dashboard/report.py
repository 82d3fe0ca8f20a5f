"""The session report: per segment and side, strides / reps, CPD and rep metrics
(mean and SD), variability band and flags; as a self-contained HTML file and CSV.

The HTML embeds plotly.js itself, so it opens offline (no network, no server).
"""

from __future__ import annotations

import csv
import html
import io
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from imu.events.model import AnalysisEvent, Flag, Rep, Segment, Stride, Variability
from imu.inputs import LoadedInput
from imu.recording import read_header

from dashboard import theme
from dashboard.figures import cpd_figure, overview_figure, reps_figure
from dashboard.panel_data import clock_text
from dashboard.replay import ReplayData

SIDES = ("left", "right")


@dataclass(frozen=True)
class SideSummary:
    """One side of one segment. Means and SDs are None when there is nothing to average
    (SD needs two values)."""

    side: str
    strides: int
    cpd_mean_deg: float | None
    cpd_sd_deg: float | None
    reps: int
    rep_drop_mean_deg: float | None
    rep_drop_sd_deg: float | None
    rep_tilt_rom_mean_deg: float | None
    rep_tilt_rom_sd_deg: float | None
    rep_obliquity_rom_mean_deg: float | None
    rep_obliquity_rom_sd_deg: float | None
    rep_rotation_rom_mean_deg: float | None
    rep_rotation_rom_sd_deg: float | None
    rep_duration_mean_s: float | None
    variability_band: str | None
    variability_cpd_sd_deg: float | None
    flags: int


@dataclass(frozen=True)
class SegmentSummary:
    label: str
    activity: str
    exercise: str | None
    start_s: float
    """Seconds from the start of the file."""
    end_s: float
    sides: tuple[SideSummary, ...]


@dataclass(frozen=True)
class SessionReport:
    file: str
    kind: str
    device: str
    created: str
    duration_s: float
    rate_hz: float
    calibration: str
    origin_s: float
    segments: tuple[SegmentSummary, ...]
    overall: tuple[SideSummary, ...]
    flags: tuple[Flag, ...]
    notes: tuple[str, ...]


def _mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if v.size >= 2 else None)


def side_summary(side: str, items: Sequence[AnalysisEvent]) -> SideSummary:
    """Summary of one side over a list of analysis items."""
    strides = [s for s in items if isinstance(s, Stride) and s.side == side]
    reps = [r for r in items if isinstance(r, Rep) and r.side == side]
    var = [v for v in items if isinstance(v, Variability) and v.side == side]
    flags = [f for f in items if isinstance(f, Flag) and f.side == side]
    cpd = _mean_sd([s.contralateral_drop_deg for s in strides])
    drop = _mean_sd([r.contralateral_drop_deg for r in reps])
    tilt = _mean_sd([r.tilt_rom_deg for r in reps])
    obl = _mean_sd([r.obliquity_rom_deg for r in reps])
    rot = _mean_sd([r.rotation_rom_deg for r in reps])
    dur = _mean_sd([r.duration_s for r in reps])[0]
    last = var[-1] if var else None
    return SideSummary(side, len(strides), *cpd, len(reps), *drop, *tilt, *obl, *rot, dur,
                       last.band if last else None, last.cpd_sd_deg if last else None, len(flags))


def final_segments(items: Sequence[AnalysisEvent]) -> list[Segment]:
    """Segments as finally reported (a segment is reported again when it ends)."""
    by_start: dict[float, Segment] = {}
    for it in items:
        if isinstance(it, Segment):
            by_start[it.start_time_s] = it
    return sorted(by_start.values(), key=lambda s: s.start_time_s)


def _item_time(it: AnalysisEvent) -> float:
    if isinstance(it, Stride):
        return it.ic_time_s
    if isinstance(it, Rep):
        return it.turn_time_s  # a rep may start just before its segment is recognised
    return it.time_s


def created_label(loaded: LoadedInput) -> str:
    """When the session was recorded: the recording header's time, else the file's."""
    if loaded.kind == "recording":
        stamp = read_header(loaded.path).created_utc
        if stamp:
            return stamp.replace("T", " ")[:16] + " UTC"
    mtime = os.path.getmtime(loaded.path)
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def build_report(data: ReplayData) -> SessionReport:
    """The report of an analysed file."""
    a, loaded = data.analysis, data.loaded
    t0, t_end = float(a.time_s[0]), float(a.time_s[-1])
    items = [it for it in a.events if not isinstance(it, Segment)]
    segs = final_segments(a.events) or [Segment("session", None, t0, t_end, t_end)]
    summaries = []
    for seg in segs:
        end = seg.end_time_s if seg.end_time_s is not None else t_end
        inside = [it for it in items if seg.start_time_s <= _item_time(it) < end
                  or (end == t_end and _item_time(it) == end)]
        label = seg.exercise or seg.activity
        summaries.append(SegmentSummary(label, seg.activity, seg.exercise, seg.start_time_s - t0,
                                        end - t0, tuple(side_summary(s, inside) for s in SIDES)))
    created = created_label(loaded)
    al = a.alignment
    calib = (f"from quiet standing and {al.anterior_method} (confidence {al.confidence:.2f})"
             if al else f"not calibrated: {a.message}")
    return SessionReport(
        data.name, loaded.kind, loaded.device or "unknown", created, t_end - t0, a.rate_hz,
        calib, t0, tuple(summaries), tuple(side_summary(s, items) for s in SIDES),
        tuple(it for it in items if isinstance(it, Flag)), tuple(loaded.notes))


# ------------------------------------------------------------------------------ CSV

CSV_COLUMNS = ["segment", "activity", "exercise", "start_s", "end_s"] + \
    [f.name for f in fields(SideSummary)]


def report_csv(report: SessionReport) -> str:
    """One row per segment and side (plus 'whole session' rows), numbers in SI / degrees."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    rows = [(s.label, s.activity, s.exercise or "", s.start_s, s.end_s, s.sides)
            for s in report.segments]
    rows.append(("whole session", "", "", 0.0, report.duration_s, report.overall))
    for label, activity, exercise, start, end, sides in rows:
        for side in sides:
            vals = [v if not isinstance(v, float) else round(v, 4) for v in asdict(side).values()]
            w.writerow([label, activity, exercise, round(start, 3), round(end, 3)] +
                       ["" if v is None else v for v in vals])
    return out.getvalue()


# ------------------------------------------------------------------------------ HTML

def _fmt(mean: float | None, sd: float | None, unit: str) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f} ± {sd:.1f} {unit}" if sd is not None else f"{mean:.1f} {unit}"


def _side_rows(label: str, sides: Sequence[SideSummary]) -> str:
    rows = []
    for s in sides:
        chip = (f'<span class="chip" style="background:{theme.side_colour(s.side)}">'
                f"{html.escape(s.side)}</span>")
        cells = [html.escape(label), chip, str(s.strides), _fmt(s.cpd_mean_deg, s.cpd_sd_deg, "deg"),
                 str(s.reps), _fmt(s.rep_drop_mean_deg, s.rep_drop_sd_deg, "deg"),
                 _fmt(s.rep_tilt_rom_mean_deg, s.rep_tilt_rom_sd_deg, "deg"),
                 _fmt(s.rep_obliquity_rom_mean_deg, s.rep_obliquity_rom_sd_deg, "deg"),
                 _fmt(s.rep_rotation_rom_mean_deg, s.rep_rotation_rom_sd_deg, "deg"),
                 html.escape(s.variability_band or "–"), str(s.flags)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(rows)


SUMMARY_HEAD = ("<tr><th>segment</th><th>side</th><th>strides</th><th>CPD mean ± SD</th>"
                "<th>reps</th><th>rep drop</th><th>tilt ROM</th><th>obliquity ROM</th>"
                "<th>rotation ROM</th><th>variability</th><th>flags</th></tr>")

_CSS = f"""
body {{ background:{theme.BACKGROUND}; color:{theme.TEXT}; font-family:{theme.FONT};
       margin:0 auto; max-width:1100px; padding:24px; }}
h1 {{ font-size:1.8rem; margin:0 0 4px; }} h2 {{ font-size:1.3rem; margin-top:28px; }}
.meta {{ color:{theme.MUTED}; }}
table {{ border-collapse:collapse; width:100%; font-size:0.95rem; }}
th, td {{ border-bottom:1px solid {theme.GRID}; padding:6px 8px; text-align:left; }}
.chip {{ color:#111; border-radius:10px; padding:1px 8px; font-weight:600; }}
.flag {{ color:{theme.FLAG}; font-weight:600; }}
.wrap {{ overflow-x:auto; }}
"""


def report_html(report: SessionReport, data: ReplayData) -> str:
    """The report as one HTML file with its plots and plotly.js inlined (opens offline)."""
    a = data.analysis
    overview = overview_figure(a.time_s, a.tilt_deg, a.obliquity_deg, a.rotation_deg,
                               report.origin_s, final_segments(a.events), report.flags,
                               [(n.time_s, n.text) for n in data.loaded.annotations],
                               height=340, title="Whole session")
    strides = [s for s in a.events if isinstance(s, Stride)]
    reps = [r for r in a.events if isinstance(r, Rep)]
    figs = [overview]
    if strides:
        figs.append(go.Figure(cpd_figure(strides)))
    if reps:
        fig = go.Figure(reps_figure(reps))
        fig.update_layout(title_text="Drop per rep (all sets)")
        figs.append(fig)
    plots = [fig.to_html(full_html=False, include_plotlyjs=(i == 0),
                         config={"displaylogo": False, "responsive": True})
             for i, fig in enumerate(figs)]
    seg_rows = "".join(_side_rows(f"{s.label} ({clock_text(s.start_s)}–{clock_text(s.end_s)})",
                                  s.sides) for s in report.segments)
    overall = _side_rows("whole session", report.overall)
    flag_rows = "".join(
        f"<tr><td>{clock_text(f.time_s - report.origin_s)}</td><td>{html.escape(f.side or '–')}</td>"
        f"<td class='flag'>{html.escape(f.message)}</td>"
        f"<td>{f.value:.1f} {html.escape(f.unit)} (limit {f.limit:.1f})</td></tr>"
        for f in report.flags) or "<tr><td colspan='4'>No flags.</td></tr>"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Session report – {html.escape(report.file)}</title><style>{_CSS}</style></head>
<body>
<h1>Session report</h1>
<p class="meta">{html.escape(report.file)} · {html.escape(report.device)} ·
{report.duration_s / 60:.1f} min at {report.rate_hz:.0f} Hz ·
{html.escape(report.created or '')} · calibration {html.escape(report.calibration)} ·
report made {made}</p>
{f'<ul class="meta">{notes}</ul>' if notes else ''}
<h2>Summary per segment and side</h2>
<div class="wrap"><table>{SUMMARY_HEAD}{seg_rows}{overall}</table></div>
<p class="meta">Means ± SD. CPD: contralateral pelvic drop in stance; rep drop: peak drop of the
non-working side; ROM: range of motion. Variability: the last stride-to-stride band.</p>
<h2>Flags</h2>
<div class="wrap"><table><tr><th>time</th><th>side</th><th>what</th><th>measured</th></tr>
{flag_rows}</table></div>
<h2>Charts</h2>
{''.join(plots)}
</body></html>
"""
