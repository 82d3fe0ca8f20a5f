"""`pelvis-monitor live`: the live dashboard for a sensor (or the virtual sensor)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu.cli.common import add_device_calibration_option, device_calibration_from_args
from imu.cli.dashboard_options import DEFAULT_RECORDINGS, add_server_options, serve
from imu.errors import SettingsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="live dashboard in the browser for a sensor",
                       description="Serve the live dashboard: connect to a sensor, calibrate, "
                                   "watch tilt / drop / rotation, strides, reps and flags, "
                                   "record. Prints the URL; opens a browser only with --open.")
    p.add_argument("--device", help="sensor to connect to at start: a Bluetooth address or "
                                    "name, or virtual:PRESET for the simulated sensor")
    p.add_argument("--recordings", default=str(DEFAULT_RECORDINGS),
                   help="folder for recordings (default: recordings)")
    add_device_calibration_option(p)
    add_server_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dashboard.config import DashboardConfig
    from dashboard.sources import VIRTUAL_PREFIX, bluetooth_module_present

    device = args.device
    reason = "" if bluetooth_module_present() else \
        "Bluetooth support (imu.ble) is not part of this installation."
    if device and not device.startswith(VIRTUAL_PREFIX) and reason:
        raise SettingsError(f"cannot connect to '{device}': {reason} Use --device "
                            "virtual:lunges-unstable for the simulated sensor.")
    factory = scanner = None
    if not reason:
        from dashboard.bluetooth import BluetoothDevices

        devices = BluetoothDevices()
        factory, scanner = devices.open, devices.scan
    config = DashboardConfig(host=args.host, port=args.port, token=args.token,
                             recordings_dir=Path(args.recordings), open_source=device,
                             source_factory=factory, scanner=scanner,
                             scanner_unavailable_reason=reason,
                             device_calibration=device_calibration_from_args(args))
    return serve(config, args.open)
