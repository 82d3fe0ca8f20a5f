"""The replay view: pick or drop a file, play / pause / seek / speed on a timeline with
flags and segments, the same panels as live, and report export."""

from __future__ import annotations

import uuid

from dash import dcc, html

from dashboard import ids
from dashboard.config import DashboardConfig
from dashboard.figures import base_layout
from dashboard.panel_data import calibration_steps
from dashboard.panels import (GRAPH_CONFIG, activity_chip, analysis_panels, angles_chart,
                              calibration_children, card, pelvis_picture, readouts)
from dashboard.replay import SPEEDS


def empty_timeline() -> dict:
    return dict(data=[], layout=base_layout(height=240, xaxis=dict(title="time (s)"),
                                              yaxis=dict(title="angle (deg)")))


def replay_layout(config: DashboardConfig) -> html.Div:
    p = ids.REPLAY
    chooser = card("Recording", html.Div([
        dcc.Dropdown(id=ids.REPLAY_PICK, options=[], placeholder="Pick a recording",
                     className="device-list"),
        dcc.Upload(html.Div(["Drop a recording (.pmrec) or IMU CSV here, or ",
                             html.A("choose a file")]),
                   id=ids.REPLAY_UPLOAD, className="upload", multiple=False),
        dcc.Store(id=ids.REPLAY_UPLOAD_CHECKED, data=None),
    ], className="row-controls"),
        html.Div("", id=ids.REPLAY_MSG, className="message"))
    player = card("Player", html.Div([
        html.Button("▶ Play", id=ids.REPLAY_PLAY, className="btn primary"),
        dcc.RadioItems(id=ids.REPLAY_SPEED, value=1.0, inline=True, className="speeds",
                       options=[{"label": f"{s:g}×", "value": s} for s in SPEEDS]),
        html.Span("0:00.0 / 0:00.0", id=ids.REPLAY_POSITION, className="position"),
        html.Button("Export HTML report", id=ids.REPLAY_EXPORT_HTML, className="btn"),
        html.Button("Export CSV", id=ids.REPLAY_EXPORT_CSV, className="btn"),
        dcc.Download(id=ids.REPLAY_DOWNLOAD),
    ], className="row-controls"),
        html.H2("", id=ids.REPLAY_TITLE, className="replay-title"),
        dcc.Loading(dcc.Graph(id=ids.REPLAY_TIMELINE, figure=empty_timeline(), config=GRAPH_CONFIG,
                              style={"height": "240px"}),
                    type="dot", color="#CC79A7"),
        dcc.Slider(id=ids.REPLAY_SEEK, min=0, max=1, step=0.1, value=0, updatemode="mouseup",
                   marks=None, tooltip={"placement": "bottom"}, className="seek"),
        class_name="wide")
    return html.Div([
        html.Div([chooser], className="grid one"),
        player,
        card("Calibration", html.Div(calibration_children(calibration_steps(None, None, "")),
                                     id=p.calibration), class_name="calibration-card"),
        html.Div([readouts(p), activity_chip(p)], className="readout-row"),
        html.Div([angles_chart(p), pelvis_picture(p)], className="grid chart-row"),
        html.Div(analysis_panels(p), className="grid three"),
        # Self-paced like the live view (dashboard.live_updates): every response lets
        # the tick fire once more, so a slow machine never has a response cancelled.
        dcc.Interval(id=p.tick, interval=config.live_interval_ms, disabled=True,
                     max_intervals=1),
        dcc.Interval(id=p.slow_tick, interval=500),
        dcc.Store(id=ids.REPLAY_LOADED, data=None),
        dcc.Store(id=ids.REPLAY_STATE, data=None),
        dcc.Store(id=ids.REPLAY_TAB, data=uuid.uuid4().hex),  # one player per page load
        dcc.Store(id=p.flag_count, data=0),
    ], className="view replay-view")
