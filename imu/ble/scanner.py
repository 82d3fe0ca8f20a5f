"""Finding sensors: a timed scan, and a search for one device by name or address."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from imu.ble.errors import DeviceNotFoundError, NotSupportedDeviceError, bluetooth_errors
from imu.devices import PROFILES, identify, unsupported_reason

ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
# Sensors advertise every 20 ms - 1 s; 5 s catches slow advertisers without boring the user.
SCAN_TIMEOUT_S = 5.0
# Looking for one known device: give a sleeping sensor time to wake and advertise.
FIND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FoundDevice:
    """One advertising device as a scan saw it."""

    name: str
    address: str
    profile: str | None
    """Supported profile name, or None."""
    rssi_dbm: int
    note: str = ""
    """Why a recognised device cannot be used (e.g. no gyroscope), else empty."""
    ble_device: BLEDevice | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        what = self.profile or (f"unsupported: {self.note}" if self.note else "not a known sensor")
        return f"{self.name or '(no name)'} ({self.address}, {what}, {self.rssi_dbm} dBm)"


def found_device(device: BLEDevice, adv: AdvertisementData) -> FoundDevice:
    name = adv.local_name or device.name or ""
    return FoundDevice(name, device.address.upper(), identify(name, adv.service_uuids),
                       int(adv.rssi), unsupported_reason(name) or "", device)


def is_address(text: str) -> bool:
    return bool(ADDRESS.match(text))


def matches(wanted: str, dev: FoundDevice) -> bool:
    """Exact address or exact (case-insensitive) name."""
    if is_address(wanted):
        return dev.address == wanted.upper().replace("-", ":")
    return dev.name.lower() == wanted.lower()


async def scan(timeout_s: float = SCAN_TIMEOUT_S, *, all_devices: bool = False) -> list[FoundDevice]:
    """Devices seen within the timeout, strongest signal first (supported ones only unless
    all_devices)."""
    async with bluetooth_errors():
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
    found = [found_device(d, adv) for d, adv in seen.values()]
    if not all_devices:
        found = [f for f in found if f.profile or f.note]
    return sorted(found, key=lambda f: -f.rssi_dbm)


async def find_device(wanted: str, profile: str = "auto",
                      timeout_s: float = FIND_TIMEOUT_S) -> FoundDevice:
    """The device with this name or address, as soon as it advertises.

    A name that matches no device exactly may match one device's name partially
    (case-insensitive); several partial matches are an error listing them.
    """
    seen: dict[str, FoundDevice] = {}
    hit: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        dev = found_device(device, adv)
        seen[dev.address] = dev
        if matches(wanted, dev) and not hit.done():
            hit.set_result(dev)

    async with bluetooth_errors():
        async with BleakScanner(detection_callback=on_advert):
            try:
                dev = await asyncio.wait_for(asyncio.shield(hit), timeout_s)
            except asyncio.TimeoutError:
                dev = None
    if dev is None:
        partial = [d for d in seen.values() if not is_address(wanted)
                   and wanted.lower() in d.name.lower()]
        if len(partial) != 1:
            problem = (f"'{wanted}' matches several devices" if partial else "")
            raise DeviceNotFoundError(wanted, partial or list(seen.values()), timeout_s, problem)
        dev = partial[0]
    return with_profile(dev, profile)


def with_profile(dev: FoundDevice, profile: str) -> FoundDevice:
    """Apply --profile: 'auto' needs a recognised device; a named profile is trusted."""
    if profile != "auto":
        if profile not in PROFILES:
            raise NotSupportedDeviceError(f"unknown profile '{profile}'; choose auto or one of "
                                          f"{', '.join(PROFILES)}.")
        return FoundDevice(dev.name, dev.address, profile, dev.rssi_dbm, "", dev.ble_device)
    if dev.profile is None:
        why = dev.note or "its name and advertised services match no supported profile"
        raise NotSupportedDeviceError(
            f"{dev.describe()} cannot be used: {why}. If it is a supported sensor with a "
            f"renamed advertisement, pass --profile ({', '.join(PROFILES)}).")
    return dev
