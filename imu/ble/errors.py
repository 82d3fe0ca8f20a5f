"""Errors of the Bluetooth layer, each saying what to try, and the translation from bleak's."""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator, Sequence

from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError

from imu.devices.errors import DeviceError


class BluetoothUnavailableError(DeviceError):
    """No usable Bluetooth: no adapter, adapter off, BlueZ not running, no system bus."""


class DeviceNotFoundError(DeviceError):
    """The requested sensor was not seen. `seen` lists what was (FoundDevice items)."""

    def __init__(self, wanted: str, seen: Sequence, timeout_s: float, problem: str = "") -> None:
        self.wanted = wanted
        self.seen = list(seen)
        shown = "; ".join(d.describe() for d in self.seen[:8]) or "nothing"
        problem = problem or f"no Bluetooth device named or addressed '{wanted}' was seen " \
                             f"in {timeout_s:g} s"
        super().__init__(
            f"{problem}. Seen: {shown}. Try: wake the sensor (move it or press its button), "
            "bring it closer, make sure no phone or other app is connected to it, and run "
            "`pelvis-monitor scan` to see its exact name and address.")


class NotSupportedDeviceError(DeviceError):
    """The device was found but no profile fits it."""


def bluez_hint(exc: BaseException) -> str:
    """What to do about a Bluetooth stack failure, in words."""
    if isinstance(exc, BleakBluetoothNotAvailableError):
        return (f"{exc.args[0]} Check `bluetoothctl list` and `bluetoothctl power on`; "
                "a USB adapter may need replugging.")
    if isinstance(exc, BleakDBusError) and exc.dbus_error.endswith("ServiceUnknown"):
        return ("BlueZ (bluetoothd) is not running. Start it: `sudo systemctl start bluetooth`.")
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "the default system bus")
        return (f"cannot reach the system D-Bus ({address}). Bluetooth on Linux needs D-Bus and "
                "BlueZ (`apt-get install bluez`, then `sudo systemctl start bluetooth`).")
    return str(exc)


@contextlib.asynccontextmanager
async def bluetooth_errors() -> AsyncIterator[None]:
    """Turn stack-level failures (no adapter, no BlueZ, no bus) into BluetoothUnavailableError."""
    try:
        yield
    except BleakBluetoothNotAvailableError as exc:
        raise BluetoothUnavailableError(bluez_hint(exc)) from None
    except BleakDBusError as exc:
        if exc.dbus_error.endswith("ServiceUnknown"):
            raise BluetoothUnavailableError(bluez_hint(exc)) from None
        raise
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise BluetoothUnavailableError(bluez_hint(exc)) from None


__all__ = ["BluetoothUnavailableError", "DeviceNotFoundError",
           "NotSupportedDeviceError", "bluetooth_errors", "bluez_hint"]
