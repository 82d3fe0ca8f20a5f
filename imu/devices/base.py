"""What every device profile provides, and the GATT link it talks through.

A profile module (open_profile, witmotion, movesense, polar) holds, for one kind of
sensor: how to recognise it in a scan, pure byte codecs (bytes -> `ImuFrame` and the
reverse for the emulator), and a `DeviceSession` that configures, starts and stops
streaming through a `GattLink`. The link is a protocol: imu.ble implements it on
bleak; tests can implement it with a fake. Nothing here imports bleak.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from imu import GRAVITY_MPS2
from imu.devices.errors import MalformedFrameError


def acc_lsb_mps2(range_g: float) -> float:
    """m/s^2 per count of an int16 accelerometer whose full scale is +-range_g (the
    simulator uses the same expression, so its quantised samples decode bit for bit)."""
    return range_g * GRAVITY_MPS2 / 32768.0


def gyr_lsb_rps(range_dps: float) -> float:
    """rad/s per count of an int16 gyroscope whose full scale is +-range_dps."""
    return float(np.radians(range_dps)) / 32768.0


_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def reason_key(problem: str) -> str:
    """A malformed-frame problem with its numbers replaced by '#': one key per kind of
    damage, so counting reasons stays bounded whatever a device sends."""
    return _NUMBERS.sub("#", problem)


NotifyCallback = Callable[[bytes, float], None]
"""Called with (value, host arrival time in seconds) for every notification."""


@dataclass(frozen=True)
class ImuFrame:
    """The samples of one notification (or one reassembled packet), decoded to SI units.

    acc_mps2 / gyr_rps are (N, 3) float64 in the device's right-handed sensor frame.
    Timing fields are as the device sent them, still wrapped:
      counter: sample counter of the first sample (None when the device has none),
        wrapping at counter_modulo.
      device_time_s: device-clock time of each sample (N,), wrapping at
        device_time_modulo_s (None when the device sends no timestamps).
    """

    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    counter: int | None = None
    counter_modulo: int | None = None
    device_time_s: np.ndarray | None = None
    device_time_modulo_s: float | None = None

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


@dataclass(frozen=True)
class StreamSettings:
    """What the user asks for. None = the profile's default."""

    rate_hz: float | None = None
    acc_range_g: float | None = None
    gyr_range_dps: float | None = None


@dataclass(frozen=True)
class StreamConfig:
    """What the device is actually streaming once started."""

    rate_hz: float
    acc_range_g: float | None
    gyr_range_dps: float | None
    seq_source: str
    """How sample numbers are known: "device counter", "device timestamp" or
    "host arrival (inferred)"."""
    details: dict = field(default_factory=dict)
    """Profile-specific facts worth saving with a recording (JSON-compatible)."""


@dataclass(frozen=True)
class DeviceDetails:
    """Identity and state read from the device (empty strings when unknown)."""

    model: str = ""
    serial: str = ""
    firmware: str = ""
    hardware: str = ""
    manufacturer: str = ""
    battery_percent: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


class GattLink(Protocol):
    """The GATT operations a session needs; UUIDs are full 128-bit lower-case strings."""

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> str: ...

    def has_characteristic(self, uuid: str) -> bool: ...

    async def read(self, uuid: str) -> bytes: ...

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None: ...

    async def start_notify(self, uuid: str, callback: NotifyCallback) -> None: ...

    async def stop_notify(self, uuid: str) -> None: ...


class FrameParser(ABC):
    """Turns data notifications into ImuFrames. May keep state (reassembly, pairing).

    A notification that does not follow the layout is skipped and counted in
    `malformed` (with the latest reason in `last_problem` and a count per kind of reason
    in `reasons`); parsing carries on with the next one. `feed` raises nothing else: a
    decoder that lets another exception out is a bug (tests/test_fuzz_decoders.py).
    """

    def __init__(self) -> None:
        self.malformed = 0
        self.last_problem = ""
        self.last_reason = ""
        """The latest problem alone (no bytes shown): short enough for a status line."""
        self.reasons: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[ImuFrame]:
        """The frames in one notification ([] for a skipped or incomplete one)."""
        try:
            return self._parse(data)
        except MalformedFrameError as exc:
            self.reject(exc)
            return []

    def reject(self, exc: MalformedFrameError) -> None:
        self.malformed += 1
        self.last_problem = str(exc)
        self.last_reason = exc.problem
        self.reasons[reason_key(exc.problem)] += 1

    @abstractmethod
    def _parse(self, data: bytes) -> list[ImuFrame]: ...

    def reset(self) -> None:
        """Forget partial data (called after the link was lost)."""


class DeviceSession(ABC):
    """Configures and runs streaming on one connected device."""

    profile: str = ""

    def __init__(self, link: GattLink) -> None:
        self.link = link

    @abstractmethod
    async def start(self, settings: StreamSettings, on_data: NotifyCallback) -> StreamConfig:
        """Configure the device, subscribe, and start streaming. Data notifications go
        to `on_data` (keep it cheap: it runs in the notification callback)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop streaming (best effort: the link may already be gone)."""

    @abstractmethod
    def new_parser(self, config: StreamConfig) -> FrameParser:
        """A parser for the data this session produces."""

    async def read_details(self) -> DeviceDetails:
        """Identity and battery; profiles override what they can read."""
        return DeviceDetails(battery_percent=await self.read_battery())

    async def read_battery(self) -> int | None:
        """Battery level in percent, or None when the device does not say."""
        return None


@dataclass(frozen=True)
class ProfileInfo:
    """How to recognise a device kind in a scan and which session drives it."""

    name: str
    title: str
    session: type[DeviceSession]
    name_prefixes: tuple[str, ...] = ()
    service_uuids: tuple[str, ...] = ()
    default_rate_hz: float = 200.0

    def matches(self, local_name: str | None, service_uuids: list[str] | tuple[str, ...]) -> bool:
        """True when the advertisement looks like this kind of device."""
        uuids = {u.lower() for u in service_uuids}
        if any(u in uuids for u in self.service_uuids):
            return True
        return bool(local_name) and any(local_name.startswith(p) for p in self.name_prefixes)
