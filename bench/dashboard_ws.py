"""The live page served over Dash 4's WebSocket callbacks, for bench/dashboard_latency.

The same live layout, stream and slow-panel callbacks as the dashboard, on Dash's
FastAPI backend with `websocket_callbacks=True` (Flask has no WebSocket). Only the
chart transport differs: a persistent async callback (no Input, no Output) pushes the
new points with `set_props` while the connection lives. Two ways to apply them:

  store  into a dcc.Store; a clientside callback calls Plotly.extendTraces itself
         (points that arrive before plotly.js has drawn the chart are kept and
         applied with the next message)
  graph  straight into the Graph's extendData prop

The security guards of dashboard.security are Flask hooks, so this server is for the
bench on 127.0.0.1 only. Needs `pip install "dash[fastapi]"` (the `bench` extra).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update, set_props

from dashboard import ids
from dashboard.app import ASSETS
from dashboard.callbacks_live import register_live
from dashboard.config import DashboardConfig
from dashboard.layout_live import live_layout
from dashboard.live_updates import TRIM_HISTORY_JS, changed_only, numbers_due
from dashboard.sources import open_source, virtual_choices
from dashboard.stream import DISPLAY_RATE_HZ, LiveStream
from dashboard.views import chart_update, fast_outputs, fast_values, stamp_text

PUSH_POLL_S = 0.01
"""How often the push loop looks for new points (packets come every ~30 ms)."""
PUSH_STORE = "live-push"
MODES = ("store", "graph")

# Applies one pushed message: extend the chart, note the stamp, return the numbers.
# The stamp goes into the DOM before the extend, so the chart's afterplot sees it.
APPLY_PUSH_JS = """
function(msg, graphId) {
    const cs = window.dash_clientside, nu = cs.no_update, w = window;
    const numbers = new Array(N_NUMBERS).fill(nu);
    if (!msg) { return numbers; }
    const outer = document.getElementById(graphId);
    const gd = outer && outer.querySelector('.js-plotly-plot');
    w.pmPushQueue = (w.pmPushQueue || []).concat([msg.extend]);
    if (gd && w.Plotly && gd._fullLayout) {
        document.getElementById('STAMP_ID').title = msg.stamp;
        for (const e of w.pmPushQueue) { w.Plotly.extendTraces(gd, e[0], e[1], e[2]); }
        w.pmPushQueue = [];
    }
    TRIM_HISTORY
    if (msg.numbers) { msg.numbers.forEach((v, i) => { if (v !== null) { numbers[i] = v; } }); }
    return numbers;
}
"""


def _push_callbacks(mode: str):
    """A ChartUpdates registrar (see dashboard.live_updates) pushing over the socket."""
    def register(app: Dash, config: DashboardConfig, stream: LiveStream) -> None:
        p = ids.LIVE
        max_points = int(config.window_s * DISPLAY_RATE_HZ)
        n_numbers = len(fast_outputs(p))

        @app.callback(persistent=True)
        async def _push():
            ws = ctx.websocket
            cursor, shown, shown_at = {"gen": -1, "i": 0}, None, None
            while ws is not None and not ws.is_shutdown:
                gen, sl = stream.angles_since(cursor["i"], limit=max_points)
                if gen != cursor["gen"]:
                    gen, sl = stream.angles_since(0, limit=max_points)
                cursor = {"gen": gen, "i": sl.end_index}
                if len(sl):
                    extend = chart_update(sl, stream.time_origin(), max_points)
                    numbers, now = None, time.time()
                    if numbers_due(now, shown_at):
                        values = fast_values(stream.latest_angles())
                        numbers = [None if v is no_update else v
                                   for v in changed_only(values, shown)]
                        shown, shown_at = values, now
                    if mode == "store":
                        set_props(PUSH_STORE, {"data": {"extend": extend, "stamp": stamp_text(sl),
                                                        "numbers": numbers}})
                    else:
                        set_props(p.stamp, {"title": stamp_text(sl)})
                        set_props(p.angles_graph, {"extendData": extend})
                await asyncio.sleep(PUSH_POLL_S)

        if mode == "store":
            app.clientside_callback(
                APPLY_PUSH_JS.replace("N_NUMBERS", str(n_numbers)).replace("STAMP_ID", p.stamp)
                .replace("TRIM_HISTORY", TRIM_HISTORY_JS),
                *fast_outputs(p), Input(PUSH_STORE, "data"), State(p.angles_graph, "id"),
                prevent_initial_call=True)
        else:
            app.clientside_callback(
                "function(_n) {" + TRIM_HISTORY_JS + " return ''; }",
                Output(p.bands_sink, "title"), Input(p.slow_tick, "n_intervals"))
    return register


class WsLiveServer:
    """The live page on Dash's FastAPI backend with WebSocket callbacks (bench only)."""

    def __init__(self, config: DashboardConfig, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        import uvicorn  # the `bench` extra (dash[fastapi])

        app = Dash(__name__, backend="fastapi", websocket_callbacks=True,
                   assets_folder=str(ASSETS), title="Pelvis monitor", update_title=None,
                   suppress_callback_exceptions=True)
        page = live_layout(config, virtual_choices())
        page.children.append(dcc.Store(id=PUSH_STORE, data=None))
        for child in page.children:  # no Interval transport on this page
            if getattr(child, "id", None) == ids.LIVE.tick:
                child.max_intervals = 0
        app.layout = html.Div(html.Main(page), className="app")
        self.stream = LiveStream(config.recordings_dir, config.window_s)
        register_live(app, config, self.stream, chart_updates=_push_callbacks(mode))
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", config.port))
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app.server, log_level="warning"))
        self._thread: threading.Thread | None = None
        self._config = config

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "WsLiveServer":
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="pelvis-ws-bench", daemon=True)
        self._thread.start()
        end = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > end:
                raise RuntimeError("the FastAPI server did not start within 10 s")
            time.sleep(0.05)
        self.stream.connect(open_source(self._config.open_source, self._config))
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.stream.disconnect()
