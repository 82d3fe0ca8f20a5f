"""The live view's screen updates: how they are paced, what each one carries, and
the callback that sends them.

Pacing. `dcc.Interval` fires on a timer whether or not the last update is back, and
the Dash renderer cancels a callback that is still in flight when its input fires
again: its response is dropped. Once a round trip plus the chart's redraw takes
longer than the period (a loaded 2-core machine), most updates are thrown away
(measured: 14.9 of 25 per second arrived). So the fast Interval is self-paced
instead: each response raises the Interval's `max_intervals` by one, and the
Interval fires once more, a short pause after that response was applied. Exactly
one update is in flight and none is cancelled; the rate adapts to what the machine
can draw, up to a cap of one update per MIN_PERIOD_MS (the pause is set from the
round trip the server sees between a tab's requests). The slow tick runs
KEEPALIVE_JS, which re-arms the chain should a response ever be lost (a network
hiccup, a server restart).

Memory. The renderer keeps an undo-history entry for every input change that does
not come from a callback response, so every tick of an Interval adds one, forever,
and each new entry copies the whole list. KEEPALIVE_JS trims that list (the app
never shows undo / redo).

Payload. Each update carries only the new chart points (extendData with maxPoints,
so the chart never holds more than its window) and, at most every NUMBERS_EVERY_S,
the big numbers and pelvis picture that changed; everything else is no_update, which
the renderer never sees.
"""

from __future__ import annotations

import hashlib
import time
from typing import Callable, Sequence

from dash import Dash, Input, Output, State, no_update

from dashboard import ids
from dashboard.config import DashboardConfig
from dashboard.stream import DISPLAY_RATE_HZ, LiveStream
from dashboard.views import chart_figure, chart_update, fast_outputs, fast_values, stamp_text

ChartUpdates = Callable[[Dash, DashboardConfig, LiveStream], None]
"""Registers how the live chart and big numbers reach the page (a transport)."""

MIN_PERIOD_MS = 33
"""At most ~30 updates a second. Without a cap the page would draw flat out whenever
points keep coming (a BLE sensor may notify every 7.5 ms), burning a core for
smoothness nobody sees."""
MIN_PAUSE_MS = 5
UPDATE_PAUSE_MS = 10
"""The first pause, before the page's own round trip is known. The round trip plus
the redraw (~25 ms on an idle 2-core machine, bench/dashboard_latency) sets the rate
below the cap."""
NUMBERS_EVERY_S = 0.1
"""The big numbers and the pelvis picture update at most 10 times a second: they show
a 0.2 s mean (stream.NUMBER_SMOOTHING_S) that nobody reads faster, and each changed
output costs the page a pass over every component."""
STALL_MS = 2000
"""No update for this long with none in flight: the last response was lost; re-arm."""
HISTORY_KEEP = 50
"""Undo-history entries the renderer may keep (the app never shows undo / redo)."""

# Bounds the renderer's undo history (see module docstring). window.store is the
# renderer's redux store (dash-renderer sets it on start-up); the list is trimmed in
# place because the renderer copies it on the next input change anyway and nothing
# else holds it.
TRIM_HISTORY_JS = """
    const st = window.store && window.store.getState && window.store.getState();
    if (st && st.history && st.history.past && st.history.past.length > HISTORY_KEEP) {
        st.history.past.splice(0, st.history.past.length - HISTORY_KEEP);
    }
""".replace("HISTORY_KEEP", str(HISTORY_KEEP))

# Runs on every slow tick (500 ms): re-arms the self-paced Interval when it has been
# idle too long, and trims the undo history.
KEEPALIVE_JS = """
function(_slow, n, max) {
    const w = window, now = Date.now();
    TRIM_HISTORY
    n = n || 0;
    if (!w.pmFastSeen || w.pmFastSeen.n !== n) {
        w.pmFastSeen = {n: n, t: now};
        return w.dash_clientside.no_update;
    }
    if (max !== null && max !== undefined && max > n) {
        return w.dash_clientside.no_update;   // a tick is scheduled: not stalled
    }
    if (now - w.pmFastSeen.t < STALL_MS) { return w.dash_clientside.no_update; }
    w.pmFastSeen.t = now;
    w.pmFastRearms = (w.pmFastRearms || 0) + 1;
    return n + 1;
}
""".replace("TRIM_HISTORY", TRIM_HISTORY_JS).replace("STALL_MS", str(STALL_MS))


def next_max_intervals(n_intervals: int | None) -> int:
    """`max_intervals` that lets the self-paced Interval fire exactly once more."""
    return (n_intervals or 0) + 1


def next_pause_ms(cycle_s: float | None, pause_ms: int) -> int:
    """The pause before a tab's next update, so that updates come at most every
    MIN_PERIOD_MS. `cycle_s` is the time between the tab's last two requests, of which
    `pause_ms` was the pause; the rest is the round trip and the redraw. Rounded to
    5 ms so the Interval is not re-armed with a new period on every update."""
    if cycle_s is None or not cycle_s > 0.0:
        return pause_ms
    work_ms = cycle_s * 1000.0 - pause_ms
    pause = 5 * round((MIN_PERIOD_MS - work_ms) / 5)
    return int(min(max(pause, MIN_PAUSE_MS), MIN_PERIOD_MS))


def numbers_due(now_s: float, last_sent_s: float | None) -> bool:
    """True when the big numbers may be sent again (NUMBERS_EVERY_S since the last;
    a clock that went backwards, e.g. another server process, counts as due)."""
    return last_sent_s is None or not 0.0 <= now_s - last_sent_s < NUMBERS_EVERY_S


def changed_only(values: Sequence, previous: Sequence | None,
                 keys: Sequence | None = None) -> list:
    """`values` with no_update wherever the page already shows the same value.

    `previous` holds what was sent last time: the values themselves, or their `keys`
    when given (component trees and figures compare by content_key, not by value)."""
    keys = list(values) if keys is None else list(keys)
    if previous is None or len(previous) != len(keys):
        return list(values)
    return [no_update if k == old else v for v, k, old in zip(values, keys, previous)]


def content_key(value: object) -> str:
    """A short digest of what an output shows. A string, because the page keeps it in a
    dcc.Store and JSON numbers above 2**53 (Python's 64-bit hashes) come back rounded."""
    return hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()


def register_screen_updates(app: Dash, config: DashboardConfig, stream: LiveStream) -> None:
    """The self-paced Interval transport: one lean callback per screen update."""
    p = ids.LIVE
    max_points = int(config.window_s * DISPLAY_RATE_HZ)
    n_numbers = len(fast_outputs(p))

    @app.callback(Output(p.angles_graph, "extendData"), Output(p.angles_graph, "figure"),
                  Output(p.tick, "max_intervals"), Output(p.tick, "interval"),
                  Output(p.cursor, "data"), Output(p.stamp, "title"), *fast_outputs(p),
                  Input(p.tick, "n_intervals"), State(p.cursor, "data"))
    def _update(n, cursor):
        gen, sl = stream.angles_since(cursor["i"], limit=max_points)
        reset = gen != cursor["gen"]
        if reset:  # a new connection: redraw the chart from its first points
            gen, sl = stream.angles_since(0, limit=max_points)
        points = chart_update(sl, stream.time_origin(), max_points)
        extend, figure = (no_update, chart_figure(points)) if reset else \
            (points if points is not None else no_update, no_update)
        now = time.time()
        last, pause = cursor.get("t"), cursor.get("pause", UPDATE_PAUSE_MS)
        new_pause = next_pause_ms(None if last is None else now - last, pause)
        shown, shown_at = cursor.get("num"), cursor.get("num_t")
        numbers = [no_update] * n_numbers
        if numbers_due(now, shown_at):
            values = fast_values(stream.latest_angles())
            numbers = changed_only(values, shown)
            shown, shown_at = values, now
        sent = {"gen": gen, "i": sl.end_index, "num": shown, "num_t": shown_at, "t": now,
                "pause": new_pause}
        return (extend, figure, next_max_intervals(n),
                new_pause if new_pause != pause else no_update, sent,
                stamp_text(sl) if len(sl) else no_update, *numbers)

    register_keepalive(app, p)


def register_keepalive(app: Dash, p: ids.PanelIds) -> None:
    """Re-arm view `p`'s self-paced tick after a lost response and bound the undo history
    (KEEPALIVE_JS), on every slow tick."""
    app.clientside_callback(KEEPALIVE_JS, Output(p.tick, "max_intervals", allow_duplicate=True),
                            Input(p.slow_tick, "n_intervals"), State(p.tick, "n_intervals"),
                            State(p.tick, "max_intervals"), prevent_initial_call=True)
