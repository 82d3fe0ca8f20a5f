"""Bluetooth sensors in the connection panel: scan for them and open them as BleSources.

`BluetoothDevices` is the panel's scanner and source factory (see DashboardConfig) over
imu.ble. Devices known in advance (the demo's emulated sensor) are pinned: they stay
listed while connected, since a connected sensor stops advertising and a scan would
not see it.
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from imu.ble.scanner import FoundDevice, scan
from imu.ble.stream import BleSettings, BleSource
from imu.devices import PROFILES
from imu.sources import LiveSource

from dashboard.config import DeviceChoice

Opener = Callable[[], LiveSource]
"""Makes the (unstarted) live source of one pinned device."""


def found_choice(dev: FoundDevice) -> DeviceChoice:
    """A scanned sensor as a connection-panel entry (keyed by its address)."""
    return DeviceChoice(dev.address, f"Bluetooth: {dev.name or dev.address}",
                        f"{dev.profile}, {dev.rssi_dbm} dBm")


def settings_for(dev: FoundDevice) -> BleSettings:
    """Profile and rate fixed from the scan, so the stream's rate is known before it starts
    (the live view sets up its pipeline at that rate)."""
    if dev.profile is None:
        return BleSettings()
    return BleSettings(profile=dev.profile, rate_hz=PROFILES[dev.profile].default_rate_hz)


class BluetoothDevices:
    """Scanner and source factory of the connection panel for Bluetooth sensors.

    pinned: (entry, opener) pairs listed whether or not a scan sees them; `opener`
        makes the LiveSource for that entry (e.g. DemoDevice.make_source).
    """

    def __init__(self, pinned: Sequence[tuple[DeviceChoice, Opener]] = ()) -> None:
        self._pinned = list(pinned)
        self._openers = {choice.key: opener for choice, opener in self._pinned}
        self._scanned: dict[str, BleSettings] = {}
        self._lock = threading.Lock()  # scans and connects come from different page requests

    @property
    def pinned(self) -> list[DeviceChoice]:
        return [choice for choice, _ in self._pinned]

    async def scan(self, timeout_s: float) -> list[DeviceChoice]:
        """Supported sensors seen within the timeout, then pinned ones the scan missed."""
        found = await scan(timeout_s)
        with self._lock:
            self._scanned.update({dev.address: settings_for(dev) for dev in found})
        seen = {dev.address for dev in found}
        missed = [DeviceChoice(c.key, c.label, "not advertising: connected or out of range")
                  for c in self.pinned if c.key not in seen]
        return [found_choice(dev) for dev in found] + missed

    def open(self, key: str) -> LiveSource:
        """An unstarted BleSource for an entry's key (an address, or a name to look for)."""
        opener = self._openers.get(key)
        if opener is not None:
            return opener()
        with self._lock:
            settings = self._scanned.get(key, BleSettings())
        return BleSource(key, settings)
