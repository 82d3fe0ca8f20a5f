"""Pure figure builders (plain dicts / plotly Figures); callbacks only adapt them.

Every axis carries its unit; left is sky blue and right orange on every chart.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from imu.events.model import Flag, Rep, Segment, Stride

from dashboard import theme

OVERVIEW_POINTS = 3000
"""Points in a whole-session overview line: enough for a few-minute session's shape."""
MAX_MARK_LABELS = 12
"""More note labels than this overlap; the dotted lines stay."""


def base_layout(**kw) -> dict:
    layout = dict(
        paper_bgcolor=theme.CARD, plot_bgcolor=theme.CARD,
        font=dict(family=theme.FONT, color=theme.TEXT, size=14),
        margin=dict(l=56, r=12, t=36, b=44),
        legend=dict(orientation="h", y=1.12, x=0, bgcolor="rgba(0,0,0,0)"),
        xaxis=dict(gridcolor=theme.GRID, zerolinecolor=theme.GRID),
        yaxis=dict(gridcolor=theme.GRID, zerolinecolor=theme.MUTED),
    )
    layout.update(kw)
    return layout


BAND_COLOURS = (theme.LEFT, theme.RIGHT, theme.NEUTRAL)
"""One band trace per colour a stance / rep band can have (theme.side_colour)."""


def angles_figure() -> dict:
    """The scrolling chart: three angle traces (indices 0-2, what extendData extends),
    then the stance / rep band traces, no data yet.

    The bands are filled traces on a hidden overlay axis spanning 0..1 of the plot's
    height (one trace per colour), not layout shapes: plotly re-validates every
    shape on every redraw, which cost ~4 ms of each live update with ~40 bands in
    the window (docs/dashboard.md); a trace of many rectangles is drawn as one path.
    """
    traces = [dict(type="scatter", mode="lines", name=f"{name} (deg)", x=[], y=[],
                   line=dict(color=colour, width=3), hoverinfo="skip")
              for name, colour in (("tilt", theme.TILT), ("drop / obliquity", theme.OBLIQUITY),
                                   ("rotation", theme.ROTATION))]
    traces += [dict(type="scatter", mode="lines", x=[], y=[], yaxis="y2", fill="toself",
                    fillcolor=colour, opacity=0.55, line=dict(width=0), hoverinfo="skip",
                    showlegend=False, meta={"band": colour}) for colour in BAND_COLOURS]
    # ticklabeloverflow "allow": the default measures every tick label's box on every
    # redraw (a forced layout, ~2 ms of each live update); these labels always fit.
    layout = base_layout(
        uirevision="angles", height=330,
        xaxis=dict(title="time (s)", gridcolor=theme.GRID, zeroline=False,
                   ticklabeloverflow="allow"),
        yaxis=dict(title="angle (deg)", gridcolor=theme.GRID, zerolinecolor=theme.MUTED,
                   autorangeoptions=dict(include=[-10, 10]), ticklabeloverflow="allow"),
        yaxis2=dict(overlaying="y", range=[0, 1], fixedrange=True, visible=False),
    )
    return dict(data=traces, layout=layout)


def cpd_figure(strides: Sequence[Stride]) -> dict:
    """Contralateral pelvic drop per stance, left vs right, newest on the right."""
    data = []
    for side in ("left", "right"):
        s = [st for st in strides if st.side == side]
        data.append(dict(type="bar", name=f"{side} stance", marker=dict(color=theme.side_colour(side)),
                         x=[st.index for st in s], y=[round(st.contralateral_drop_deg, 2) for st in s],
                         hovertemplate="stride %{x}<br>drop %{y:.1f} deg<extra></extra>"))
    return dict(data=data, layout=base_layout(
        height=260, bargap=0.15, title=dict(text="Contralateral drop per stance", font_size=15),
        xaxis=dict(title="stride #", gridcolor=theme.GRID),
        yaxis=dict(title="drop (deg)", gridcolor=theme.GRID, rangemode="tozero")))


def reps_figure(reps: Sequence[Rep]) -> dict:
    """Per-rep drop of the non-working side and tilt range, for the current set."""
    data = []
    for side in ("left", "right", None):
        r = [rep for rep in reps if rep.side == side]
        if not r:
            continue
        data.append(dict(type="bar", name=f"{side or 'both'} leg working",
                         marker=dict(color=theme.side_colour(side)),
                         x=[rep.index for rep in r], y=[round(rep.contralateral_drop_deg, 2) for rep in r],
                         hovertemplate="rep %{x}<br>drop %{y:.1f} deg<extra></extra>"))
    title = "Reps of the current set"
    if reps:
        title = f"Set {reps[-1].set_index}: {reps[-1].exercise}, drop per rep"
    return dict(data=data, layout=base_layout(
        height=260, bargap=0.15, title=dict(text=title, font_size=15),
        xaxis=dict(title="rep #", gridcolor=theme.GRID, dtick=1),
        yaxis=dict(title="drop (deg)", gridcolor=theme.GRID, rangemode="tozero")))


def _decimate(n: int, points: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / points))))


def overview_figure(time_s: np.ndarray, tilt_deg: np.ndarray, obliquity_deg: np.ndarray,
                    rotation_deg: np.ndarray, origin_s: float, segments: Iterable[Segment] = (),
                    flags: Iterable[Flag] = (), marks: Iterable[tuple[float, str]] = (),
                    height: int = 260, title: str = "") -> go.Figure:
    """A whole session: the three angles, segments shaded, flags and notes marked."""
    sl = _decimate(len(time_s), OVERVIEW_POINTS)
    t = np.asarray(time_s[sl]) - origin_s
    fig = go.Figure()
    for name, y, colour in (("tilt", tilt_deg, theme.TILT),
                            ("drop / obliquity", obliquity_deg, theme.OBLIQUITY),
                            ("rotation", rotation_deg, theme.ROTATION)):
        fig.add_trace(go.Scatter(x=t, y=np.round(y[sl], 2), mode="lines", name=f"{name} (deg)",
                                   line=dict(color=colour, width=1.5),
                                   hovertemplate="%{x:.1f} s: %{y:.1f} deg<extra></extra>"))
    span_s = float(time_s[-1] - time_s[0]) if len(time_s) else 0.0
    for seg in segments:
        end = seg.end_time_s if seg.end_time_s is not None else float(time_s[-1])
        # Label only segments wide enough for their name (short ones would overlap).
        label = seg.exercise or seg.activity if end - seg.start_time_s > span_s / 25 \
            and seg.activity != "unknown" else None
        fig.add_vrect(x0=seg.start_time_s - origin_s, x1=end - origin_s, line_width=0,
                      fillcolor=theme.SEGMENT_COLOURS.get(seg.activity, theme.NEUTRAL),
                      opacity=0.25, layer="below", annotation_text=label,
                      annotation_position="top left", annotation_font_size=11)
    flags = list(flags)
    if flags:
        fig.add_trace(go.Scatter(
            x=[f.time_s - origin_s for f in flags], y=[0.0] * len(flags), mode="markers",
            name="flag", marker=dict(symbol="triangle-down", size=13, color=theme.FLAG,
                                     line=dict(color=theme.TEXT, width=1)),
            text=[f.message for f in flags], hovertemplate="%{x:.1f} s: %{text}<extra></extra>"))
    marks = list(marks)
    for t_mark, text in marks:
        fig.add_vline(x=t_mark - origin_s, line=dict(color=theme.MUTED, dash="dot", width=1),
                      annotation_text=text if len(marks) <= MAX_MARK_LABELS else None,
                      annotation_font_size=10)
    fig.update_layout(**base_layout(height=height, title=dict(text=title, font_size=15),
                                     hovermode="closest",
                                     xaxis=dict(title="time (s)", gridcolor=theme.GRID),
                                     yaxis=dict(title="angle (deg)", gridcolor=theme.GRID)))
    return fig


def trend_figure(points: Sequence[tuple[str, str, float | None, float | None]]) -> dict:
    """CPD per side across sessions: (date label, file name, left deg, right deg)."""
    data = []
    for i, side in enumerate(("left", "right")):
        pts = [(date, name, vals[i]) for date, name, *vals in points if vals[i] is not None]
        data.append(dict(type="scatter", mode="lines+markers", name=f"{side} stance CPD",
                         x=[p[0] for p in pts], y=[round(p[2], 2) for p in pts],
                         text=[p[1] for p in pts],
                         line=dict(color=theme.side_colour(side), width=3), marker=dict(size=10),
                         hovertemplate="%{text}<br>%{y:.1f} deg<extra></extra>"))
    return dict(data=data, layout=base_layout(
        height=300, title=dict(text="Contralateral drop across sessions (mean per side)", font_size=15),
        xaxis=dict(title="session date", gridcolor=theme.GRID),
        yaxis=dict(title="drop (deg)", gridcolor=theme.GRID, rangemode="tozero")))

