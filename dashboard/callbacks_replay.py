"""Callbacks of the replay view: load (picker, ?file=, upload), the player, export."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs

from dash import Dash, Input, Output, State, ctx, dcc, no_update
from dash.exceptions import PreventUpdate

from imu.errors import PelvisMonitorError
from imu.events.model import Flag

from dashboard import ids
from dashboard.config import DashboardConfig
from dashboard.figures import overview_figure
from dashboard.files import FileAccessError, accept_upload, list_recordings, recording_path
from dashboard.live_updates import next_max_intervals, register_keepalive
from dashboard.panel_data import calibration_steps, clock_text
from dashboard.panels import calibration_children
from dashboard.replay import PlayerRegistry, PlayerRequest, ReplayData, ReplayLibrary
from dashboard.report import build_report, final_segments, report_csv, report_html
from dashboard.stream import DISPLAY_RATE_HZ, smoothed_angles
from dashboard.views import (BANDS_JS, bands, chart_figure, chart_update, events_outputs,
                             events_values, fast_outputs, fast_values)

SMOOTHING_S = 0.2

UPLOAD_CHECK_JS = """
function(contents, filename) {
    const nu = window.dash_clientside.no_update;
    if (!contents) { return [nu, nu]; }
    const comma = contents.indexOf(',');
    const bytes = Math.floor((contents.length - comma - 1) * 3 / 4);
    if (bytes > MAX_BYTES) {
        return [nu, 'Refused ' + filename + ': the file is too large (' +
                (bytes / 1e6).toFixed(1) + ' MB); at most ' + (MAX_BYTES / 1e6).toFixed(0) +
                ' MB can be uploaded. Copy big recordings into the recordings folder instead.'];
    }
    return [{contents: contents, filename: filename}, 'Checking ' + filename + '…'];
}
"""


def picker_options(root: Path) -> list[dict]:
    return [{"label": e.name, "value": e.name} for e in list_recordings(root)]


def replay_calibration(data: ReplayData, position_s: float) -> list:
    """The calibration card as live showed it at this position."""
    al = data.analysis.alignment
    if al is not None and data.origin_s + position_s >= al.decided_at_s:
        return calibration_children(calibration_steps(None, al, ""))
    text = ("Calibrating (stand still, then hinge forward)…" if al is not None
            else f"Not calibrated: {data.analysis.message}")
    return calibration_children(calibration_steps(None, None, text))


def timeline(data: ReplayData):
    a = data.analysis
    flags = [e for e in a.events if isinstance(e, Flag)]
    fig = overview_figure(a.time_s, a.tilt_deg, a.obliquity_deg, a.rotation_deg, data.origin_s,
                          final_segments(a.events), flags,
                          [(n.time_s, n.text) for n in data.loaded.annotations], height=240)
    fig.update_layout(clickmode="event", margin=dict(t=24))
    return fig


def register_replay(app: Dash, config: DashboardConfig, library: ReplayLibrary) -> None:
    p = ids.REPLAY
    root = Path(config.recordings_dir)
    players = PlayerRegistry()
    max_points = int(config.window_s * DISPLAY_RATE_HZ)
    roles = {ids.REPLAY_LOADED: "loaded", ids.REPLAY_PLAY: "play", ids.REPLAY_SEEK: "seek",
             ids.REPLAY_TIMELINE: "timeline", p.tick: "tick"}

    def load(name: str) -> ReplayData:
        return library.get(recording_path(root, name), name)

    @app.callback(Output(ids.REPLAY_PICK, "options"), Output(ids.REPLAY_PICK, "value"),
                  Output(ids.REPLAY_LOADED, "data"), Output(ids.REPLAY_MSG, "children"),
                  Output(ids.REPLAY_TIMELINE, "figure"), Output(ids.REPLAY_SEEK, "max"),
                  Output(ids.REPLAY_TITLE, "children"),
                  Input(ids.REPLAY_PICK, "value"), Input(ids.REPLAY_UPLOAD_CHECKED, "data"),
                  State(ids.URL, "search"))
    def _load(picked, upload, search):
        trig = ctx.triggered_id
        name, message = picked, ""
        try:
            if trig == ids.REPLAY_UPLOAD_CHECKED and upload:
                name, _ = accept_upload(upload["contents"], upload["filename"], root,
                                        config.max_upload_bytes)
                message = f"Uploaded {upload['filename']} as {name}."
            elif not picked:  # first call (Dash 4 names an input as its trigger)
                query = parse_qs((search or "").lstrip("?")).get("file", [None])[0]
                name = query or config.replay_file
            if not name:
                return picker_options(root), no_update, None, message, no_update, 1, ""
            data = load(name)
        except (FileAccessError, PelvisMonitorError) as exc:
            return picker_options(root), None, None, str(exc), no_update, 1, ""
        loaded = {"name": name, "duration": data.duration_s}
        title = (f"{name} · {data.loaded.device or data.loaded.kind} · "
                 f"{clock_text(data.duration_s)} · {data.analysis.rate_hz:.0f} Hz")
        notes = " ".join(data.loaded.notes)
        return (picker_options(root), name, loaded, (message + " " + notes).strip(),
                timeline(data), round(data.duration_s, 1), title)

    @app.callback(Output(p.angles_graph, "extendData"), Output(p.angles_graph, "figure"),
                  *fast_outputs(p), Output(ids.REPLAY_SEEK, "value"),
                  Output(ids.REPLAY_POSITION, "children"), Output(ids.REPLAY_STATE, "data"),
                  Output(ids.REPLAY_PLAY, "children"), Output(p.tick, "disabled"),
                  Output(p.tick, "max_intervals"),
                  Output(p.calibration, "children"), Output(p.bands, "data"),
                  *events_outputs(p),
                  Input(p.tick, "n_intervals"), Input(ids.REPLAY_PLAY, "n_clicks"),
                  Input(ids.REPLAY_SPEED, "value"), Input(ids.REPLAY_SEEK, "value"),
                  Input(ids.REPLAY_TIMELINE, "clickData"), Input(ids.REPLAY_LOADED, "data"),
                  State(ids.REPLAY_TAB, "data"), State(ids.REPLAY_STATE, "data"),
                  prevent_initial_call=True)
    def _player(_n, _play, speed, seek, click, loaded, tab, view):
        if not loaded:
            raise PreventUpdate
        try:
            data = load(loaded["name"])
        except (FileAccessError, PelvisMonitorError):
            raise PreventUpdate from None  # the load callback already said why
        fired = {pid.split(".")[0] for pid in ctx.triggered_prop_ids}
        drawn_before = view.get("drawn") if view and view.get("name") == loaded["name"] else None
        click_x = click["points"][0].get("x") if click and click.get("points") else None
        req = PlayerRequest(
            fired=frozenset(role for key, role in roles.items() if key in fired),
            clicks=int(_play or 0), seek_s=None if seek is None else float(seek),
            shown_seek_s=None if drawn_before is None else round(drawn_before, 1),
            timeline_s=None if click_x is None else float(click_x))
        with players.lock:
            pl, fresh = players.player(tab, loaded["name"])
            pl.speed = float(speed or 1.0)
            reset = pl.step(req, data.duration_s, time.time(), fresh)
            pos, playing = pl.position_s, pl.playing
        # What this tab has drawn travels with the page, so a dropped response only
        # means the next one sends those points again.
        view = view if (view and view.get("name") == loaded["name"] and not reset) else \
            {"name": loaded["name"], "drawn": None, "ev": -1}
        drawn = view["drawn"]
        if drawn is None or pos < drawn or pos - drawn > config.window_s:
            sl = data.display_points(pos - config.window_s, pos, max_points)
            extend, figure = no_update, chart_figure(chart_update(sl, data.origin_s, max_points))
        else:
            update = chart_update(data.display_points(drawn, pos, max_points), data.origin_s,
                                  max_points)
            extend, figure = (update if update is not None else no_update), no_update
        n_items = data.count_until(pos)
        panels = [no_update] * len(events_outputs(p))
        if n_items != view["ev"]:  # new items: only then walk them all for the panels
            panels = events_values(data.events_until(pos), data.origin_s)
        recent = data.display_points(pos - SMOOTHING_S, pos)
        return (extend, figure, *fast_values(smoothed_angles(recent)), round(pos, 1),
                f"{clock_text(pos)} / {clock_text(data.duration_s)}",
                {"name": loaded["name"], "drawn": pos, "ev": n_items},
                "❚❚ Pause" if playing else "▶ Play", not playing, next_max_intervals(_n),
                replay_calibration(data, pos),
                bands(data.events_reported_between(pos - config.window_s, pos),
                      data.origin_s + pos, config.window_s, data.origin_s), *panels)

    # The size check runs in the browser, so an oversized file is refused with a message
    # before it is sent at all; the server checks again (dashboard.files).
    app.clientside_callback(
        UPLOAD_CHECK_JS.replace("MAX_BYTES", str(int(config.max_upload_bytes))),
        Output(ids.REPLAY_UPLOAD_CHECKED, "data"),
        Output(ids.REPLAY_MSG, "children", allow_duplicate=True),
        Input(ids.REPLAY_UPLOAD, "contents"), State(ids.REPLAY_UPLOAD, "filename"),
        prevent_initial_call=True)

    app.clientside_callback(BANDS_JS, Output(p.bands_sink, "children"),
                            Input(p.bands, "data"), State(p.angles_graph, "id"))
    register_keepalive(app, p)

    @app.callback(Output(ids.REPLAY_DOWNLOAD, "data"), Output(ids.REPLAY_MSG, "children",
                                                               allow_duplicate=True),
                  Input(ids.REPLAY_EXPORT_HTML, "n_clicks"), Input(ids.REPLAY_EXPORT_CSV, "n_clicks"),
                  State(ids.REPLAY_LOADED, "data"), prevent_initial_call=True)
    def _export(_h, _c, loaded):
        if not loaded:
            return no_update, "Open a recording first."
        try:
            data = load(loaded["name"])
        except (FileAccessError, PelvisMonitorError) as exc:
            return no_update, str(exc)
        report = build_report(data)
        stem = Path(loaded["name"]).stem
        if ctx.triggered_id == ids.REPLAY_EXPORT_CSV:
            return dcc.send_string(report_csv(report), f"{stem}-report.csv"), "Report CSV exported."
        return (dcc.send_string(report_html(report, data), f"{stem}-report.html"),
                "HTML report exported (opens offline).")
