"""`pelvis-monitor demo`: the live dashboard streaming the built-in virtual sensor.

On Linux with dbus-daemon the virtual sensor sits behind an emulated BlueZ and the
dashboard reads it through bleak and BleSource, the path of a real sensor; elsewhere
(or with --transport in-process) it streams inside the process. The terminal and the
page say which path is used, and why.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from imu.cli.dashboard_options import DEFAULT_RECORDINGS, add_server_options, serve
from imu.errors import SettingsError

if TYPE_CHECKING:  # both import bleak / dash, which the other subcommands need not load
    from dashboard.config import DashboardConfig
    from imu.ble.demo import DemoTransport

DEMO_PRESET = "lunges-unstable"
"""Calibration, then lunge sets whose left side drops and wobbles from rep 5."""
TRANSPORT_CHOICES = ("auto", "bluetooth", "in-process")
"""Kept equal to imu.ble.demo.TRANSPORTS (a test checks) without importing bleak here."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="live dashboard with the virtual sensor (no sensor needed)",
                       description="Serve the live dashboard streaming a simulated workout "
                                   "from the virtual sacral sensor (it loops): calibration, "
                                   "then lunge sets whose left side becomes unstable. On Linux "
                                   "with dbus-daemon it streams through Bluetooth as a real "
                                   "sensor does (an emulated BlueZ on a private bus); elsewhere "
                                   "inside the program. Record it, replay it and export a "
                                   "report from the page.")
    p.add_argument("--preset", default=DEMO_PRESET,
                   help=f"simulated session to stream (default {DEMO_PRESET}; see "
                        "`pelvis-monitor simulate --list-presets`)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="playback speed of the virtual sensor (default 1 = real time; other "
                        "speeds stream in-process)")
    p.add_argument("--transport", choices=TRANSPORT_CHOICES, default="auto",
                   help="auto (default): Bluetooth through an emulated BlueZ where it can run "
                        "(Linux with dbus-daemon), else in-process; bluetooth: that path or an "
                        "error; in-process: the virtual sensor inside this program")
    p.add_argument("--recordings", default=str(DEFAULT_RECORDINGS),
                   help="folder for recordings (default: recordings)")
    add_server_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imu.ble.demo import demo_transport
    from imu.simulate import preset_names

    if args.preset not in preset_names():
        raise SettingsError(f"unknown preset '{args.preset}'; known: {', '.join(preset_names())}.")
    with sigterm_as_interrupt(), \
            demo_transport(args.transport, args.preset, speed=args.speed) as chosen:
        print(chosen.announcement, flush=True)
        code = serve(demo_config(args, chosen), args.open)
    if chosen.device is not None:
        print("Stopped the dashboard, the Bluetooth stream and the emulated BlueZ.", flush=True)
    return code


def demo_config(args: argparse.Namespace, chosen: DemoTransport) -> DashboardConfig:
    """The dashboard's configuration for the chosen path (imu.ble.demo.DemoTransport)."""
    from dashboard.config import DashboardConfig, DeviceChoice
    from dashboard.sources import virtual_key

    common = dict(host=args.host, port=args.port, token=args.token,
                  recordings_dir=Path(args.recordings), connection_note=chosen.announcement)
    device = chosen.device
    if device is None:
        return DashboardConfig(**common, open_source=virtual_key(args.preset),
                               virtual_speed=args.speed,
                               scanner_unavailable_reason="No Bluetooth scan: the demo streams "
                                                          "the virtual sensor in-process.")
    from dashboard.bluetooth import BluetoothDevices

    choice = DeviceChoice(device.address, f"Bluetooth: {device.name} (emulated)",
                          device.description)
    devices = BluetoothDevices([(choice, device.make_source)])
    return DashboardConfig(**common, open_source=device.address, devices=(choice,),
                           source_factory=devices.open, scanner=devices.scan)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo like Ctrl-C, so the emulator's processes are stopped too
    (by default SIGTERM ends Python at once and leaves them running)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(_signum, _frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
