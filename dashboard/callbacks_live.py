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
from dashboard.live_updates import (ChartUpdates, changed_only, content_key,
                                    register_screen_updates)
from dashboard.panel_data import calibration_steps, clock_text, link_text
from dashboard.panels import calibration_children
from dashboard.sources import open_source, virtual_choices
from dashboard.stream import LiveStream
from dashboard.views import BANDS_JS, bands, events_outputs, events_values

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


def register_live(app: Dash, config: DashboardConfig, stream: LiveStream,
                  chart_updates: ChartUpdates = register_screen_updates) -> None:
    """The live view's callbacks; `chart_updates` registers how the chart and the big
    numbers reach the page (the bench plugs in other transports to compare)."""
    p = ids.LIVE
    n_panels = len(events_outputs(p))
    chart_updates(app, config, stream)

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
        origin = snap.time_origin_s or 0.0
        recent = (() if snap.last_time_s is None
                  else stream.events_reported_after(snap.last_time_s - config.window_s))
        shown = [link, calibration_children(steps), rec_label, rec_state,
                 bands(recent, snap.last_time_s, config.window_s, origin)]
        # Send what changed only: each new tree, figure or relayout costs the page a
        # redraw on the main thread that the chart's updates need (docs/dashboard.md).
        seen = seen or {}
        same_events = (snap.generation == seen.get("gen") and snap.events_total == seen.get("ev")
                       and seen.get("keys") is not None)
        keys = [content_key(v) for v in shown]
        if same_events:  # the analysis panels cannot have changed: skip building them
            shown += [no_update] * n_panels
            keys += seen["keys"][len(keys):]
        else:
            panels = events_values(stream.events(), origin, snap.flags_total)
            shown += panels
            keys += [content_key(v) for v in panels]
        out = changed_only(shown, seen.get("keys"), keys)
        cursor = {"gen": snap.generation, "ev": snap.events_total, "keys": keys}
        return (*out[:5], cursor, *out[5:])

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
