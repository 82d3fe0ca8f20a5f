"""Panels shared by the live and the replay view (same look, same ids per prefix)."""

from __future__ import annotations

from dash import dcc, html

from imu.events.model import Flag, Rep

from dashboard import theme
from dashboard.figures import angles_figure, cpd_figure, reps_figure
from dashboard.ids import PanelIds
from dashboard.panel_data import (CalibrationStep, EventsView, Readout, activity_text,
                                  angle_readouts, flag_line)

GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}


def card(title: str, *children, class_name: str = "", **kw) -> html.Div:
    return html.Div([html.H3(title, className="card-title"), *children],
                    className=f"card {class_name}".strip(), **kw)


def readouts(ids: PanelIds) -> html.Div:
    """The three big numbers. Each part is a plain string output, so the 20-per-second
    updates never make the page re-scan a component tree."""
    def one(name: str, value_id: str, r: Readout) -> html.Div:
        return html.Div([html.Div(name, className="readout-name"),
                         html.Div(r.value, id=value_id, className="readout-value",
                                  style={"color": r.colour}),
                         html.Div(r.detail, id=value_id + "-detail", className="readout-detail")],
                        className="readout")

    tilt, drop, rot = angle_readouts(None)
    return html.Div([one("Tilt", ids.tilt, tilt), one("Drop", ids.drop, drop),
                     one("Rotation", ids.rotation, rot)], className="readouts")


def pelvis_picture(ids: PanelIds) -> html.Div:
    """The pelvis seen from behind, from the right side and from above (CSS-drawn, so
    moving it costs the browser almost nothing)."""
    def view(caption: str, shape_id: str, kind: str, marks: list) -> html.Div:
        return html.Div([
            html.Div(caption, className="pelvis-caption"),
            html.Div([html.Div(className="pelvis-level"),
                      html.Div(marks, id=shape_id, className=f"pelvis-shape pelvis-{kind}")],
                     className="pelvis-stage"),
        ], className="pelvis-view")

    return card("Pelvis", html.Div([
        view("from behind", ids.pelvis_back, "back",
             [html.Span("L", className="hip", style={"background": theme.LEFT}),
              html.Span("R", className="hip", style={"background": theme.RIGHT})]),
        view("from the right", ids.pelvis_side, "side",
             [html.Span("back", className="end-label"), html.Span("front ▸", className="end-label")]),
        view("from above", ids.pelvis_top, "top",
             [html.Span("▲ front", className="front-label"),
              html.Span("L", className="hip", style={"background": theme.LEFT}),
              html.Span("R", className="hip", style={"background": theme.RIGHT})]),
    ], className="pelvis-row"), class_name="pelvis-card")


def angles_chart(ids: PanelIds) -> html.Div:
    legend = html.Span([" bands: ", html.Span("left", style={"color": theme.LEFT}), " / ",
                        html.Span("right", style={"color": theme.RIGHT}),
                        " stance or rep"], className="muted small")
    return card("Last 15 seconds", legend,
                dcc.Graph(id=ids.angles_graph, figure=angles_figure(), config=GRAPH_CONFIG,
                          className="angles-graph", style={"height": "330px"}),
                html.Span("", id=ids.stamp, className="stamp"),
                dcc.Store(id=ids.bands, data=[]),
                html.Span("", id=ids.bands_sink, className="hidden"), class_name="wide")


def calibration_children(steps: tuple[CalibrationStep, ...]) -> list:
    out = []
    for st in steps:
        out.append(html.Div([
            html.Div([html.Span("✔ " if st.done else "", className="done-mark"), st.title],
                     className="step-title"),
            html.Div(html.Div(className="progress-fill",
                              style={"width": f"{100 * st.fraction:.0f}%"}),
                     className="progress", role="progressbar",
                     **{"aria-valuenow": f"{100 * st.fraction:.0f}"}),
            html.Div(st.text, className="step-text"),
        ], className="calibration-step" + (" done" if st.done else "")))
    return out


def flag_items(flags: tuple[Flag, ...], origin_s: float) -> list:
    if not flags:
        return [html.Li("No flags yet.", className="muted")]
    items = []
    for f in flags:
        when, message, measured = flag_line(f, origin_s)
        items.append(html.Li([
            html.Span(when, className="flag-time"),
            html.Span(f.side or "both", className="chip",
                      style={"background": theme.side_colour(f.side)}),
            html.Span(message, className="flag-message"),
            html.Span(measured, className="flag-value"),
        ], className="flag-item"))
    return items


REP_COLUMNS = ("rep", "side", "drop (deg)", "tilt ROM (deg)", "obliquity ROM (deg)",
               "rotation ROM (deg)", "duration (s)")


def rep_row_values(rep: Rep) -> tuple[str, ...]:
    """A rep as the table shows it (tests compare these with `analyze`)."""
    return (str(rep.index), rep.side or "both", f"{rep.contralateral_drop_deg:.1f}",
            f"{rep.tilt_rom_deg:.1f}", f"{rep.obliquity_rom_deg:.1f}",
            f"{rep.rotation_rom_deg:.1f}", f"{rep.duration_s:.1f}")


def reps_table_children(reps: tuple[Rep, ...]) -> list:
    if not reps:
        return [html.Caption("No reps in this set yet.", className="muted")]
    head = html.Thead(html.Tr([html.Th(c) for c in REP_COLUMNS]))
    body = html.Tbody([html.Tr([html.Td(v) for v in rep_row_values(r)], className="rep-row")
                       for r in reps])
    return [head, body]


def variability_text(view: EventsView) -> list:
    if not view.variability:
        return [html.Span("Stride variability: not enough strides yet.", className="muted")]
    out = [html.Span("Stride variability: ")]
    for side in ("left", "right"):
        v = view.variability.get(side)
        if v:
            out.append(html.Span(f"{side} {v.band} (CPD SD {v.cpd_sd_deg:.1f} deg)",
                                 className="chip", style={"background": theme.side_colour(side)}))
    return out


def analysis_panels(ids: PanelIds) -> list:
    """Strides, reps, variability and the flag feed."""
    return [
        card("Flags", html.Ul(flag_items((), 0.0), id=ids.flags, className="flag-feed"),
             class_name="flags-card"),
        card("Strides: left vs right", dcc.Graph(id=ids.cpd_graph, figure=cpd_figure(()),
                                                 config=GRAPH_CONFIG, style={"height": "260px"}),
             html.Div(variability_text(EventsView((), (), (), {}, None, 0, 0, 0)),
                      id=ids.variability, className="variability")),
        card("Reps", dcc.Graph(id=ids.reps_graph, figure=reps_figure(()), config=GRAPH_CONFIG,
                            style={"height": "260px"}),
             # The table scrolls sideways on a phone rather than widening the page.
             html.Div(html.Table(reps_table_children(()), id=ids.reps_table,
                                 className="reps-table"), className="wrap")),
    ]


def activity_chip(ids: PanelIds) -> html.Span:
    return html.Span(activity_text(None), id=ids.activity, className="activity")
