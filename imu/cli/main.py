"""Entry point of `pelvis-monitor`: builds the parser from the subcommand modules."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from imu import __version__
from imu.errors import PelvisMonitorError

# Each module has `register(subparsers)` that adds its parser and sets `func`.
SUBCOMMAND_MODULES = (
    "imu.cli.analyze",
    "imu.cli.info",
    "imu.cli.import_csv",
    "imu.cli.simulate",
    "imu.cli.demo",
    "imu.cli.live",
    "imu.cli.replay",
    "imu.cli.report",
    "imu.cli.scan",
    "imu.cli.record",
    "imu.cli.emulate",
    "imu.cli.repair",
    "imu.cli.calibrate_device",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pelvis-monitor",
        description="Pelvic stability monitor: one IMU at the sacrum -> pelvic tilt, "
                    "drop (obliquity) and rotation, strides, reps and flags.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # subcommand not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PelvisMonitorError as exc:
        print(f"pelvis-monitor {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
