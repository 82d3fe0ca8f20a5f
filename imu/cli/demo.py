"""`pelvis-monitor demo`: the live dashboard streaming the built-in virtual sensor."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu.cli.dashboard_options import DEFAULT_RECORDINGS, add_server_options, serve

DEMO_PRESET = "lunges-unstable"
"""Calibration, then lunge sets whose left side drops and wobbles from rep 5."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="live dashboard with the virtual sensor (no sensor needed)",
                       description="Serve the live dashboard streaming a simulated workout "
                                   "from the virtual sacral sensor (it loops): calibration, "
                                   "then lunge sets whose left side becomes unstable. Record "
                                   "it, replay it and export a report from the page.")
    p.add_argument("--preset", default=DEMO_PRESET,
                   help=f"simulated session to stream (default {DEMO_PRESET}; see "
                        "`pelvis-monitor simulate --list-presets`)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="playback speed of the virtual sensor (default 1 = real time)")
    p.add_argument("--recordings", default=str(DEFAULT_RECORDINGS),
                   help="folder for recordings (default: recordings)")
    add_server_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dashboard.config import DashboardConfig
    from dashboard.sources import virtual_key

    config = DashboardConfig(host=args.host, port=args.port, token=args.token,
                             recordings_dir=Path(args.recordings),
                             open_source=virtual_key(args.preset), virtual_speed=args.speed,
                             scanner_unavailable_reason="The demo streams the virtual sensor.")
    print(f"Streaming the virtual sensor: '{args.preset}' at {args.speed:g}x (it loops).")
    return serve(config, args.open)
