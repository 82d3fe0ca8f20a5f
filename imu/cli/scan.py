"""`pelvis-monitor scan`: supported Bluetooth sensors nearby."""

from __future__ import annotations

import argparse
import asyncio

from imu.ble.scanner import SCAN_TIMEOUT_S, FoundDevice, scan
from imu.devices import PROFILES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="list supported Bluetooth sensors nearby",
                       description="Scan for Bluetooth LE sensors and list the supported ones "
                                   f"({', '.join(PROFILES)}) with name, address, profile and "
                                   "signal strength.")
    p.add_argument("--timeout", type=float, default=SCAN_TIMEOUT_S, metavar="S",
                   help=f"seconds to listen (default {SCAN_TIMEOUT_S:g})")
    p.add_argument("--all", action="store_true", help="also list devices that are not sensors")
    p.set_defaults(func=run)


def format_table(devices: list[FoundDevice]) -> str:
    rows = [("NAME", "ADDRESS", "PROFILE", "RSSI", "NOTE")]
    rows += [(d.name or "(no name)", d.address, d.profile or "-", f"{d.rssi_dbm} dBm", d.note)
             for d in devices]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4]).rstrip()
                     for r in rows)


def run(args: argparse.Namespace) -> int:
    devices = asyncio.run(scan(args.timeout, all_devices=True))
    shown = devices if args.all else [d for d in devices if d.profile or d.note]
    if not shown:
        others = len(devices)
        print(f"No supported sensor found in {args.timeout:g} s"
              + (f" ({others} other devices seen; --all lists them)." if others else ".")
              + " Wake the sensor (move it or press its button), bring it closer, and make "
                "sure no phone or app is connected to it.")
        return 1
    print(format_table(shown))
    usable = [d for d in shown if d.profile]
    if usable:
        print(f"\nRecord with: pelvis-monitor record --device \"{usable[0].name or usable[0].address}\""
              " -o session.pmrec")
    return 0
