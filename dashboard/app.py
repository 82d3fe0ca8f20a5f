"""The Dash app and its server: page shell, routing, guards, and a start/stop handle."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from dash import Dash, Input, Output, dcc, html
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dashboard import ids
from dashboard.callbacks_live import register_live
from dashboard.callbacks_replay import register_replay
from dashboard.config import DashboardConfig
from dashboard.figures import trend_figure
from dashboard.layout_live import live_layout
from dashboard.layout_replay import replay_layout
from dashboard.layout_sessions import session_rows, sessions_layout
from dashboard.replay import ReplayLibrary
from dashboard.security import AccessPolicy, access_policy, install_guards
from dashboard.sessions import SessionIndex, trend_points
from dashboard.sources import open_source, panel_choices
from dashboard.stream import LiveStream
from imu.pipeline import PipelineSettings

ASSETS = Path(__file__).resolve().parent / "assets"
PAGES = (("/", "Live"), ("/replay", "Replay"), ("/sessions", "Sessions"))


@dataclass
class DashboardApp:
    """The app with the server-side state its callbacks use."""

    dash: Dash
    stream: LiveStream
    library: ReplayLibrary
    policy: AccessPolicy
    config: DashboardConfig


def _shell() -> html.Div:
    return html.Div([
        dcc.Location(id=ids.URL),
        html.Header([
            html.Div([html.Span("◆", className="logo"), "Pelvis monitor"], className="brand"),
            html.Nav([dcc.Link(label, href=href, className="nav-link") for href, label in PAGES],
                     id=ids.NAV),
        ], className="topbar"),
        html.Main(id=ids.PAGE),
    ], className="app")


def create_app(config: DashboardConfig) -> DashboardApp:
    """Build the dashboard (no network access, nothing started until served)."""
    policy = access_policy(config.host, config.token)
    app = Dash(__name__, assets_folder=str(ASSETS), title="Pelvis monitor", update_title=None,
               suppress_callback_exceptions=True)
    app.index_string = app.index_string.replace(
        "{%metas%}", '{%metas%}<meta name="viewport" content="width=device-width, initial-scale=1">')
    # Uploads are checked in the page first; this bounds what a request may carry at all
    # (base64 adds a third, plus the JSON around it).
    app.server.config["MAX_CONTENT_LENGTH"] = int(config.max_upload_bytes * 4 / 3) + (1 << 20)
    install_guards(app.server, policy)
    stream = LiveStream(config.recordings_dir, config.window_s,
                        settings=PipelineSettings(device=config.device_calibration))
    library = ReplayLibrary()
    index = SessionIndex(config.recordings_dir, library)
    choices = panel_choices(config)
    app.layout = _shell()
    app.validation_layout = html.Div([_shell(), live_layout(config, choices),
                                      replay_layout(config), sessions_layout()])

    @app.callback(Output(ids.PAGE, "children"), Input(ids.URL, "pathname"))
    def _route(path):
        if path == "/replay":
            return replay_layout(config)
        if path == "/sessions":
            return sessions_layout()
        return live_layout(config, choices)

    @app.callback(Output(ids.SESSIONS_TABLE, "children"), Output(ids.SESSIONS_TREND, "figure"),
                  Input(ids.SESSIONS_REFRESH, "n_clicks"))
    def _sessions(_n):
        rows = index.rows()
        return session_rows(rows), trend_figure(trend_points(rows))

    register_live(app, config, stream)
    register_replay(app, config, library)
    if config.open_source:
        stream.connect(open_source(config.open_source, config))
    return DashboardApp(app, stream, library, policy, config)


class _QuietHandler(WSGIRequestHandler):
    """No line per request: the page polls 20 times a second."""

    def log_request(self, code="-", size="-") -> None:  # noqa: ANN001 - werkzeug signature
        if str(code).startswith(("4", "5")):
            super().log_request(code, size)


class DashboardServer:
    """Serves a DashboardApp on config.host:config.port in a background thread."""

    def __init__(self, config: DashboardConfig) -> None:
        self.app = create_app(config)
        self._server: BaseWSGIServer = make_server(config.host, config.port,
                                                   self.app.dash.server, threaded=True,
                                                   request_handler=_QuietHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """The address to open (with the access token when one is required)."""
        host = self.app.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        token = self.app.policy.token
        return f"http://{shown}:{self.port}/" + (f"?token={token}" if token else "")

    def start(self) -> "DashboardServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="pelvis-dashboard",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and streaming (a running recording is closed)."""
        self._server.shutdown()
        self._server.server_close()
        self.app.stream.disconnect()
