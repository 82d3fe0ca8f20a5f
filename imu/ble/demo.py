"""The demo's Bluetooth path: a virtual sensor behind an emulated BlueZ, read by BleSource.

On Linux with dbus-daemon installed the demo streams through exactly the code a real
sensor uses (bleak's BlueZ backend, the device profile, timing, reconnection). Elsewhere
`emulation_unavailable_reason()` says why not, and the caller falls back to the
in-process VirtualSensor (and should say so). `demo_transport()` makes that choice.

    with demo_bluetooth("walk-basic") as demo:      # starts the emulator
        source = demo.make_source()                 # an unstarted BleSource, rate known
        ...                                         # iterate it in any event loop

    with demo_transport("auto", "lunges-unstable") as chosen:
        print(chosen.announcement)                  # which path, and why
        chosen.device                               # the DemoDevice, or None: in-process
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from imu.ble.stream import BleSettings, BleSource
from imu.devices import PROFILES
from imu.errors import SettingsError

if TYPE_CHECKING:  # the emulator needs dbus-fast, which exists on Linux only
    from imu.ble.emulator import EmulatedBluez

BLUETOOTH = "bluetooth"
IN_PROCESS = "in-process"
TRANSPORTS = ("auto", BLUETOOTH, IN_PROCESS)
"""What `demo --transport` accepts: auto = Bluetooth where it can run, else in-process."""


def emulation_unavailable_reason() -> str | None:
    """Why the emulated Bluetooth path cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"bleak's BlueZ backend is Linux-only (this is {sys.platform})"
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed (Debian/Ubuntu: apt-get install dbus)"
    if importlib.util.find_spec("dbus_fast") is None:
        return "the Python package dbus-fast is not installed (pip install dbus-fast)"
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

    `preset` is a simulator preset name or a script file. Raises EmulatorError when
    the emulator cannot start (check emulation_unavailable_reason() first to fall
    back quietly).
    """
    from imu.ble.emulator import VirtualDeviceSpec, emulated_bluez

    spec = VirtualDeviceSpec(profile, preset=preset, seed=seed)
    settings = BleSettings(profile=profile, rate_hz=PROFILES[profile].default_rate_hz)
    with emulated_bluez([spec]) as emu:
        yield DemoDevice(emu, spec.name, spec.address, settings)


@dataclass(frozen=True)
class DemoTransport:
    """The path the demo streams through, and why."""

    transport: str
    """BLUETOOTH (the emulated sensor through bleak) or IN_PROCESS (VirtualSensor)."""
    device: DemoDevice | None = None
    """The emulated sensor; None on the in-process path."""
    fallback_reason: str = ""
    """Why Bluetooth is not used although `auto` asked for it where it could ("" otherwise)."""

    @property
    def announcement(self) -> str:
        """One line for the terminal and the page: the path used, and the reason."""
        if self.device is not None:
            return (f"Demo over Bluetooth: the {self.device.description} "
                    f"({self.device.address}), as a real sensor would be.")
        if self.fallback_reason:
            return (f"Demo in-process: the virtual sensor streams inside this program, not "
                    f"through Bluetooth, because {self.fallback_reason}.")
        return "Demo in-process: the virtual sensor streams inside this program (as asked)."


def bluetooth_refusal(speed: float) -> str | None:
    """Why the Bluetooth demo path cannot run here at this speed, or None when it can."""
    reason = emulation_unavailable_reason()
    if reason:
        return reason
    if speed != 1.0:
        # The emulated sensor paces its notifications like the hardware (real time);
        # faster notifications would look like a drifting sensor clock to BleSource.
        return (f"--speed {speed:g} needs the in-process sensor (the emulated one streams in "
                "real time)")
    return None


@contextlib.contextmanager
def demo_transport(requested: str, preset: str, *, speed: float = 1.0,
                   profile: str = "open") -> Iterator[DemoTransport]:
    """Choose and run the demo's path for the duration of the block.

    requested: "auto" (Bluetooth when it can run here, else in-process, with the reason),
        "bluetooth" (raise SettingsError / EmulatorError when it cannot run) or
        "in-process" (start nothing).
    preset: simulator preset name (or script file) the emulated sensor streams.
    speed: playback speed; only 1.0 can go through Bluetooth.
    """
    if requested not in TRANSPORTS:
        raise SettingsError(f"unknown demo transport {requested!r}; use one of "
                            f"{', '.join(TRANSPORTS)}.")
    if requested == IN_PROCESS:
        yield DemoTransport(IN_PROCESS)
        return
    reason = bluetooth_refusal(speed)
    if reason and requested == BLUETOOTH:
        raise SettingsError(f"the Bluetooth demo cannot run here: {reason}. Use --transport "
                            "auto or in-process.")
    if reason:
        yield DemoTransport(IN_PROCESS, fallback_reason=reason)
        return
    from imu.ble.emulator import EmulatorError  # Linux only (dbus-fast), checked above

    with contextlib.ExitStack() as stack:
        try:
            device = stack.enter_context(demo_bluetooth(preset, profile))
        except EmulatorError as exc:
            if requested == BLUETOOTH:
                raise
            chosen = DemoTransport(
                IN_PROCESS, fallback_reason=f"the emulated Bluetooth stack did not start ({exc})")
        else:
            chosen = DemoTransport(BLUETOOTH, device)
        yield chosen
