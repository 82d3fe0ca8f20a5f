"""The live view: connection, calibration, big numbers, pelvis picture, chart, analysis."""

from __future__ import annotations

from dash import dcc, html

from imu.events.model import EXERCISES

from dashboard import ids
from dashboard.config import DashboardConfig, DeviceChoice
from dashboard.live_updates import UPDATE_PAUSE_MS
from dashboard.panel_data import calibration_steps
from dashboard.panels import (activity_chip, analysis_panels, angles_chart, calibration_children,
                              card, pelvis_picture, readouts)

QUICK_NOTES = ("new set", "left leg", "right leg", "felt unstable", "pain")


def device_options(choices: list[DeviceChoice]) -> list[dict]:
    return [{"label": c.label, "value": c.key} for c in choices]


def live_layout(config: DashboardConfig, choices: list[DeviceChoice]) -> html.Div:
    p = ids.LIVE
    connection = card("Sensor", html.Div([
        dcc.Dropdown(id=ids.LIVE_DEVICE_LIST, options=device_options(choices),
                     value=config.open_source, placeholder="Pick a sensor", clearable=False,
                     className="device-list"),
        html.Button("Scan", id=ids.LIVE_SCAN, className="btn",
                    disabled=config.scanner is None,
                    title=config.scanner_unavailable_reason or "Scan for Bluetooth sensors"),
        html.Button("Connect", id=ids.LIVE_CONNECT, className="btn primary"),
        html.Button("Disconnect", id=ids.LIVE_DISCONNECT, className="btn"),
    ], className="row-controls"),
        html.Div("Not connected.", id=ids.LIVE_LINK, className="link-line"),
        html.Div(config.connection_note or config.scanner_unavailable_reason,
                 id=ids.LIVE_CONNECT_MSG, className="message"))
    session = card("Session", html.Div([
        html.Label(["Exercise ", dcc.Dropdown(
            id=ids.LIVE_EXERCISE, clearable=False, value="auto", className="exercise",
            options=[{"label": "auto-detect", "value": "auto"}] +
                    [{"label": e, "value": e} for e in EXERCISES])]),
        html.Button("Recalibrate", id=ids.LIVE_RECALIBRATE, className="btn"),
        html.Button("● Record", id=ids.LIVE_RECORD, className="btn record"),
        html.Span("", id=ids.LIVE_RECORD_STATE, className="record-state"),
    ], className="row-controls"),
        html.Div([
            dcc.Input(id=ids.LIVE_ANNOTATE_TEXT, type="text", placeholder="note, e.g. set 2 left",
                      maxLength=200, debounce=False, className="note-input"),
            html.Button("Add note", id=ids.LIVE_ANNOTATE, className="btn"),
            *[html.Button(t, id={"type": ids.LIVE_QUICK_NOTE, "text": t}, className="btn small")
              for t in QUICK_NOTES],
        ], className="row-controls"),
        html.Div([
            dcc.Checklist(id=ids.LIVE_SOUND, options=[{"label": " sound on new flag",
                                                       "value": "on"}], value=[]),
            html.Span(id=ids.LIVE_SOUND_SINK, className="hidden"),
        ], className="row-controls"),
        html.Div("", id=ids.LIVE_NOTE_MSG, className="message"))
    return html.Div([
        html.Div([connection, session], className="grid two"),
        card("Calibration", html.Div(calibration_children(calibration_steps(None, None, "")),
                                     id=p.calibration), class_name="calibration-card"),
        html.Div([readouts(p), activity_chip(p)], className="readout-row"),
        html.Div([angles_chart(p), pelvis_picture(p)], className="grid chart-row"),
        html.Div(analysis_panels(p), className="grid three"),
        # Self-paced: each update's response lets the Interval fire once more
        # (dashboard.live_updates), so no update is cancelled on a slow machine.
        dcc.Interval(id=p.tick, interval=UPDATE_PAUSE_MS, max_intervals=1),
        dcc.Interval(id=p.slow_tick, interval=500),
        dcc.Store(id=p.cursor, data={"gen": -1, "i": 0}),  # what this tab was sent
        dcc.Store(id=p.events_cursor, data={"gen": -1, "ev": -1}),
        dcc.Store(id=p.flag_count, data=0),
    ], className="view live-view")
