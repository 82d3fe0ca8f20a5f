"""The sessions page: recordings with their key figures and a trend across sessions."""

from __future__ import annotations

from urllib.parse import quote

from dash import dcc, html

from dashboard import ids, theme
from dashboard.figures import trend_figure
from dashboard.panel_data import clock_text
from dashboard.panels import GRAPH_CONFIG, card
from dashboard.sessions import SessionRow

COLUMNS = ("recording", "recorded", "duration", "device", "strides L / R",
           "CPD left (deg)", "CPD right (deg)", "reps", "flags")


def _deg(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def session_rows(rows: list[SessionRow]) -> list:
    head = html.Thead(html.Tr([html.Th(c) for c in COLUMNS]))
    if not rows:
        return [head, html.Tbody(html.Tr(html.Td("No recordings in the recordings folder yet.",
                                                 colSpan=len(COLUMNS))))]
    body = []
    for r in rows:
        link = dcc.Link(r.name, href=f"/replay?file={quote(r.name)}")
        if r.problem:
            body.append(html.Tr([html.Td(link), html.Td(r.problem, colSpan=len(COLUMNS) - 1,
                                                        className="message")]))
            continue
        body.append(html.Tr([
            html.Td(link), html.Td(r.created), html.Td(clock_text(r.duration_s or 0.0)),
            html.Td(r.device), html.Td(f"{r.strides_left} / {r.strides_right}"),
            html.Td(_deg(r.cpd_left_deg), style={"color": theme.LEFT}),
            html.Td(_deg(r.cpd_right_deg), style={"color": theme.RIGHT}),
            html.Td(str(r.reps)), html.Td(str(r.flags)),
        ], className="session-row"))
    return [head, html.Tbody(body)]


def sessions_layout() -> html.Div:
    return html.Div([
        card("Sessions", html.Button("Refresh", id=ids.SESSIONS_REFRESH, className="btn"),
             html.Div(html.Table(session_rows([]), id=ids.SESSIONS_TABLE, className="sessions-table"),
                      className="wrap"), class_name="wide"),
        card("Trend", dcc.Graph(id=ids.SESSIONS_TREND, figure=trend_figure([]), config=GRAPH_CONFIG,
                            style={"height": "300px"}),
             class_name="wide"),
    ], className="view sessions-view")
