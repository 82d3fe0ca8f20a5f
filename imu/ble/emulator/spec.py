"""What a virtual sensor of the emulated BlueZ is: profile, identity, simulated session."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from imu.devices import PROFILES
from imu.errors import SettingsError

DEFAULT_IDENTITY = {
    "open": ("PelvisIMU-0001", "C0:FF:EE:00:00:01"),
    "witmotion": ("WT901BLE68", "D4:4E:77:00:00:02"),
    "movesense": ("Movesense 220330000123", "0C:8C:DC:00:00:03"),
    "polar": ("Polar Sense B5A1C2D3", "A0:9E:1A:B5:A1:C2"),
}


@dataclass(frozen=True)
class VirtualDeviceSpec:
    """One virtual sensor.

    Attributes:
        profile: "open", "witmotion", "movesense" or "polar".
        name, address: as advertised (defaults per profile; see DEFAULT_IDENTITY).
        preset: simulator preset or script the sensor streams (looping).
        seed: simulator seed (None: the preset's).
        duration_scale: simulator duration scale (short sessions start faster).
        errors: simulator sensor-error preset ("none", "typical", "poor"; None: the preset's).
        rssi_dbm: advertised signal strength.
        battery_percent: what the battery characteristic/command reports.
        rates_hz: open profile only: the rates its firmware offers.
        require_pairing: polar only: control-point writes fail until the device is paired.
        frame_samples: samples per notification where the device decides (movesense,
            polar); None = the profile's default for the rate.
        speed: device seconds per host second (1 = real time; soak tests run faster).
            Durations given to the control API (outages, stalls, delays) are in device
            seconds, so a fault schedule means the same at any speed.
    """

    profile: str
    name: str = ""
    address: str = ""
    preset: str = "walk-basic"
    seed: int | None = None
    duration_scale: float = 1.0
    errors: str | None = None
    rssi_dbm: int = -58
    battery_percent: int = 87
    rates_hz: tuple[int, ...] = (25, 50, 100, 200, 400)
    require_pairing: bool = False
    frame_samples: int | None = None
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise SettingsError(f"speed must be > 0, got {self.speed!r}.")
        if self.profile not in PROFILES:
            raise SettingsError(f"unknown profile {self.profile!r}; known: {', '.join(PROFILES)}.")
        name, address = DEFAULT_IDENTITY[self.profile]
        if not self.name:
            object.__setattr__(self, "name", name)
        if not self.address:
            object.__setattr__(self, "address", address)
        object.__setattr__(self, "address", self.address.upper())
        object.__setattr__(self, "rates_hz", tuple(self.rates_hz))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VirtualDeviceSpec":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SettingsError(f"unknown virtual device fields: {', '.join(sorted(unknown))}.")
        return cls(**d)


def one_of_each(**overrides) -> list[VirtualDeviceSpec]:
    """A virtual sensor of every profile (with the given field overrides)."""
    return [replace(VirtualDeviceSpec(p), **overrides) for p in PROFILES]
