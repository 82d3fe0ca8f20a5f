"""An emulated BlueZ on a private dbus-daemon, presenting virtual sensors of every profile.

Product code (the demo uses it), not only a test fixture: bleak's own BlueZ backend,
unmodified, talks to it as to bluetoothd. Each virtual sensor streams a simulated
session (imu.simulate) encoded in its vendor's exact bytes. See control.emulated_bluez.
"""

from imu.ble.emulator.bus import EmulatorError, dbus_daemon_path
from imu.ble.emulator.control import (EmulatedBluez, EmulatedDevice, EmulatorControl,
                                      emulated_bluez)
from imu.ble.emulator.spec import VirtualDeviceSpec, one_of_each

__all__ = ["EmulatedBluez", "EmulatedDevice", "EmulatorControl", "EmulatorError",
           "VirtualDeviceSpec", "dbus_daemon_path", "emulated_bluez", "one_of_each"]
