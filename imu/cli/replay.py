"""`pelvis-monitor replay FILE`: replay a recording or IMU CSV in the dashboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu.cli.dashboard_options import add_server_options, serve
from imu.errors import InputFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording in the browser dashboard",
                       description="Serve the dashboard's replay view for FILE (its folder "
                                   "becomes the recordings folder the picker lists).")
    p.add_argument("file", help="recording (.pmrec) or generic IMU CSV")
    add_server_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dashboard.config import DashboardConfig

    path = Path(args.file).resolve()
    if not path.is_file():
        raise InputFileError(args.file, "no such file.", hint="check the path.")
    config = DashboardConfig(host=args.host, port=args.port, token=args.token,
                             recordings_dir=path.parent, replay_file=path.name)
    return serve(config, args.open)
