"""`pelvis-monitor emulate`: virtual Bluetooth sensors for trying scan/record without hardware."""

from __future__ import annotations

import argparse
import signal
import threading

from imu.devices import PROFILES
from imu.errors import SettingsError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("emulate", help="run virtual Bluetooth sensors (emulated BlueZ, Linux)",
                       description="Start a private D-Bus with an emulated BlueZ presenting "
                                   "virtual sensors that stream a simulated session, and print "
                                   "the environment another shell needs to use them with "
                                   "`pelvis-monitor scan` / `record`. Runs until Ctrl-C.")
    p.add_argument("--profile", action="append", choices=PROFILES, metavar="PROFILE",
                   help=f"a virtual sensor of this profile (repeatable; default: one of each: "
                        f"{', '.join(PROFILES)})")
    p.add_argument("--preset", default="walk-basic",
                   help="simulator preset the sensors stream (default walk-basic)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the simulator pulls in scipy, which every other subcommand would pay for.
    from imu.ble.demo import emulation_unavailable_reason
    from imu.ble.emulator import VirtualDeviceSpec, emulated_bluez
    from imu.simulate import preset_names

    if args.preset not in preset_names():
        raise SettingsError(f"unknown preset '{args.preset}'; known: {', '.join(preset_names())}.")
    reason = emulation_unavailable_reason()
    if reason:
        raise SettingsError(f"the emulated Bluetooth stack cannot run here: {reason}.")
    specs = [VirtualDeviceSpec(p, preset=args.preset) for p in (args.profile or PROFILES)]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with emulated_bluez(specs, set_environment=False) as emu:
        print("Virtual sensors:")
        for d in emu.devices:
            print(f"  {d.name:<24} {d.address}  ({d.profile})")
        print("\nIn another shell:")
        for key, value in emu.env.items():
            print(f"  export {key}='{value}'")
        print("  pelvis-monitor scan\n\nCtrl-C stops the emulator.", flush=True)
        stop.wait()
    return 0
