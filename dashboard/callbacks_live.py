"""Callbacks of the live view: thin adapters between the page and the LiveStream."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from dash import ALL, Dash, Input, Output, State, ctx, no_update

from imu.errors import PelvisMonitorError

from dashboard import ids
from dashboard.config import DashboardConfig
from dashboard.layout_live import device_options
from dashboard.panel_data import calibration_steps, clock_text, link_text
from dashboard.panels import calibration_children
from dashboard.sources import open_source, virtual_choices
from dashboard.stream import DISPLAY_RATE_HZ, LiveStream
from dashboard.views import (BANDS_JS, bands, chart_figure, chart_update, events_outputs,
                             events_values, fast_outputs, fast_values, stamp_text)

SCAN_S = 5.0

# Plays a short tone when the flag count grows and sound is on (WebAudio needs the
# user's click on the checkbox first, which the browser counts as permission).
SOUND_JS = """
function(count, sound) {
    const w = window;
    if (!sound || sound.indexOf('on') < 0) { w.pmFlagCount = count; return ''; }
    w.pmAudio = w.pmAudio || new (w.AudioContext || w.webkitAudioContext)();
    if (w.pmAudio.state === 'suspended') { w.pmAudio.resume(); }
    if (w.pmFlagCount !== undefined && count > w.pmFlagCount) {
        const o = w.pmAudio.createOscillator(), g = w.pmAudio.createGain();
        o.frequency.value = 880; g.gain.value = 0.2;
        o.connect(g); g.connect(w.pmAudio.destination);
        o.start(); o.stop(w.pmAudio.currentTime + 0.25);
        w.pmBeeps = (w.pmBeeps || 0) + 1;
    }
    w.pmFlagCount = count;
    return String(w.pmBeeps || 0);
}
"""


def register_live(app: Dash, config: DashboardConfig, stream: LiveStream) -> None:
    p = ids.LIVE
    max_points = int(config.window_s * DISPLAY_RATE_HZ)

    @app.callback(Output(p.angles_graph, "extendData"), Output(p.angles_graph, "figure"),
                  Output(p.cursor, "data"), Output(p.stamp, "children"), *fast_outputs(p),
                  Input(p.tick, "n_intervals"), State(p.cursor, "data"))
    def _tick(_n, cursor):
        gen, sl = stream.angles_since(cursor["i"], limit=max_points)
        reset = gen != cursor["gen"]
        if reset:
            gen, sl = stream.angles_since(0, limit=max_points)
        update = chart_update(sl, stream.time_origin(), max_points)
        extend, figure = (no_update, chart_figure(update)) if reset else \
            (update if update is not None else no_update, no_update)
        return (extend, figure, {"gen": gen, "i": sl.end_index},
                stamp_text(sl) if len(sl) else no_update, *fast_values(stream.latest_angles()))

    @app.callback(Output(ids.LIVE_LINK, "children"), Output(p.calibration, "children"),
                  Output(ids.LIVE_RECORD, "children"), Output(ids.LIVE_RECORD_STATE, "children"),
                  Output(p.bands, "data"), Output(p.events_cursor, "data"), *events_outputs(p),
                  Input(p.slow_tick, "n_intervals"), State(p.events_cursor, "data"))
    def _slow(_n, seen):
        snap = stream.snapshot()
        link = link_text(snap.status, snap.running)
        if snap.error:
            link = f"{link} — {snap.error}"
        steps = calibration_steps(snap.progress, snap.alignment, snap.calibration_message)
        rec_label, rec_state = "● Record", ""
        if snap.recording is not None:
            rec_label = "■ Stop recording"
            rec_state = (f"REC {clock_text(time.time() - snap.recording.started_wall_s)} · "
                         f"{Path(snap.recording.path).name}")
        items = stream.events()
        origin = snap.time_origin_s or 0.0
        calib = calibration_children(steps)
        shapes = bands(items, snap.last_time_s, config.window_s, origin)
        # Send what changed only: a new component tree or a relayout costs the page.
        key = {"gen": snap.generation, "ev": snap.events_total,
               "cal": hash(repr(steps)), "bands": hash(repr(shapes))}
        seen = seen or {}
        same = key["gen"] == seen.get("gen") and key["ev"] == seen.get("ev")
        panels = [no_update] * len(events_outputs(p)) if same else events_values(items, origin)
        return (link, no_update if key["cal"] == seen.get("cal") else calib, rec_label, rec_state,
                no_update if key["bands"] == seen.get("bands") else shapes, key, *panels)

    app.clientside_callback(BANDS_JS, Output(p.bands_sink, "children"),
                            Input(p.bands, "data"), State(p.angles_graph, "id"))
    app.clientside_callback(SOUND_JS, Output(ids.LIVE_SOUND_SINK, "children"),
                            Input(p.flag_count, "data"), Input(ids.LIVE_SOUND, "value"))

    @app.callback(Output(ids.LIVE_CONNECT_MSG, "children"),
                  Output(ids.LIVE_DEVICE_LIST, "options"),
                  Input(ids.LIVE_CONNECT, "n_clicks"), Input(ids.LIVE_DISCONNECT, "n_clicks"),
                  Input(ids.LIVE_SCAN, "n_clicks"), State(ids.LIVE_DEVICE_LIST, "value"),
                  prevent_initial_call=True)
    def _connection(_c, _d, _s, key):
        try:
            if ctx.triggered_id == ids.LIVE_SCAN:
                if config.scanner is None:
                    return config.scanner_unavailable_reason or "No Bluetooth support.", no_update
                found = asyncio.run(config.scanner(SCAN_S))
                return (f"Found {len(found)} sensor(s).",
                        device_options(virtual_choices() + list(found)))
            if ctx.triggered_id == ids.LIVE_DISCONNECT:
                result = stream.disconnect()
                saved = f" Recording saved: {Path(result.path).name}." if result else ""
                return "Disconnected." + saved, no_update
            if not key:
                return "Pick a sensor first.", no_update
            stream.connect(open_source(key, config))
            return "Connecting…", no_update
        except PelvisMonitorError as exc:
            return str(exc), no_update

    @app.callback(Output(ids.LIVE_NOTE_MSG, "children"), Output(ids.LIVE_ANNOTATE_TEXT, "value"),
                  Input(ids.LIVE_RECORD, "n_clicks"), Input(ids.LIVE_ANNOTATE, "n_clicks"),
                  Input({"type": ids.LIVE_QUICK_NOTE, "text": ALL}, "n_clicks"),
                  Input(ids.LIVE_RECALIBRATE, "n_clicks"), Input(ids.LIVE_EXERCISE, "value"),
                  State(ids.LIVE_ANNOTATE_TEXT, "value"), prevent_initial_call=True)
    def _session(_r, _a, _q, _c, exercise, text):
        trig = ctx.triggered_id
        try:
            if trig == ids.LIVE_RECORD:
                if stream.snapshot().recording is None:
                    return f"Recording to {stream.start_recording()}.", no_update
                res = stream.stop_recording()
                return (f"Saved {Path(res.path).name} ({res.samples} samples). "
                        "Open it under Replay."), no_update
            if trig == ids.LIVE_RECALIBRATE:
                stream.recalibrate()
                return "Calibrating again: stand still, then hinge forward.", no_update
            if trig == ids.LIVE_EXERCISE:
                stream.set_exercise(exercise)
                return f"Exercise: {exercise}.", no_update
            note = trig["text"] if isinstance(trig, dict) else text
            t = stream.annotate(note)
            origin = stream.time_origin()
            return f"Note '{note.strip()}' at {clock_text(t - origin)}.", ""
        except PelvisMonitorError as exc:
            return str(exc), no_update
