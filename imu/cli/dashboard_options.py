"""Options and start-up shared by the commands that serve the dashboard (live, replay, demo)."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path

DEFAULT_RECORDINGS = Path("recordings")


def add_server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("serving (safe by default: this computer only)")
    g.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1: this computer only; any "
                        "other address requires an access token)")
    g.add_argument("--port", type=int, default=8050, help="port (default 8050; 0 = any free port)")
    g.add_argument("--token", help="access token (generated when serving beyond this computer "
                                   "and none is given)")
    g.add_argument("--open", action="store_true", help="open the dashboard in a web browser")


def serve(config, open_browser: bool) -> int:
    """Start the dashboard, print its URL, serve until Ctrl+C."""
    from dashboard.app import DashboardServer

    server = DashboardServer(config)
    notice = server.app.policy.notice
    if notice:
        print(notice)
    print(f"Dashboard: {server.url}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.stop()
    return 0
