"""The demo's Bluetooth path: a virtual sensor behind an emulated BlueZ, read by BleSource.

On Linux with dbus-daemon installed the demo streams through exactly the code a real
sensor uses (bleak's BlueZ backend, the device profile, timing, reconnection). Elsewhere
`emulation_unavailable_reason()` says why not, and the caller falls back to the
in-process VirtualSensor (and should say so).

    with demo_bluetooth("walk-basic") as demo:      # starts the emulator
        source = demo.make_source()                 # an unstarted BleSource, rate known
        ...                                         # iterate it in any event loop
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from imu.ble.stream import BleSettings, BleSource
from imu.devices import PROFILES

if TYPE_CHECKING:  # the emulator needs dbus-fast, which exists on Linux only
    from imu.ble.emulator import EmulatedBluez


def emulation_unavailable_reason() -> str | None:
    """Why the emulated Bluetooth path cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"bleak's BlueZ backend is Linux-only (this is {sys.platform})"
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed (Debian/Ubuntu: apt-get install dbus)"
    return None


@dataclass(frozen=True)
class DemoDevice:
    """The virtual sensor of a running demo emulator."""

    emulator: EmulatedBluez
    name: str
    address: str
    settings: BleSettings
    """Profile and rate given explicitly, so `rate_hz` is right before the source starts."""

    @property
    def description(self) -> str:
        return (f"virtual {self.settings.profile} sensor '{self.name}' streamed through bleak "
                f"and an emulated BlueZ")

    def make_source(self, **kwargs) -> BleSource:
        """A new (unstarted) BleSource for the virtual sensor; kwargs go to BleSource."""
        return BleSource(self.address, self.settings, **kwargs)


@contextlib.contextmanager
def demo_bluetooth(preset: str = "walk-basic", profile: str = "open", *,
                   seed: int | None = None) -> Iterator[DemoDevice]:
    """Run an emulated BlueZ with one virtual sensor streaming `preset` (looping).

    Raises EmulatorError when the emulator cannot start (check
    emulation_unavailable_reason() first to fall back quietly).
    """
    from imu.ble.emulator import VirtualDeviceSpec, emulated_bluez

    spec = VirtualDeviceSpec(profile, preset=preset, seed=seed)
    settings = BleSettings(profile=profile, rate_hz=PROFILES[profile].default_rate_hz)
    with emulated_bluez([spec]) as emu:
        yield DemoDevice(emu, spec.name, spec.address, settings)
