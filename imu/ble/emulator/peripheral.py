"""The protocol side of a virtual sensor: its GATT table and how it answers and streams.

A `VirtualPeripheral` subclass per profile (open_device, witmotion_device, ...) encodes
the vendor's exact bytes with the codecs in imu.devices. The D-Bus objects
(bluez.Device) call into it and carry its notifications; faults (dropped
notifications, link loss) are applied there, not here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imu.ble.emulator.feed import DeviceClock, Packet, SampleFeed, simulation_for
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.devices import sig

if TYPE_CHECKING:
    from imu.ble.emulator.bluez import Device


class AttError(Exception):
    """The peripheral answers a request with this ATT error code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"ATT error 0x{code:02x}")
        self.code = code


@dataclass(frozen=True)
class CharDef:
    uuid: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ServiceDef:
    uuid: str
    chars: tuple[CharDef, ...] = field(default_factory=tuple)


def battery_service() -> ServiceDef:
    return ServiceDef(sig.BATTERY_SERVICE, (CharDef(sig.BATTERY_LEVEL, ("read", "notify")),))


def device_information_service() -> ServiceDef:
    return ServiceDef(sig.DEVICE_INFORMATION_SERVICE, tuple(
        CharDef(u, ("read",)) for u in (sig.MANUFACTURER_NAME, sig.MODEL_NUMBER,
                                         sig.SERIAL_NUMBER, sig.FIRMWARE_REVISION)))


class VirtualPeripheral:
    """Base of the virtual sensors: GATT table, reads of static values, the sample feed."""

    profile = ""
    advertised_uuids: tuple[str, ...] = ()

    def __init__(self, spec: VirtualDeviceSpec) -> None:
        self.spec = spec
        self.device: Device | None = None
        self.clock = DeviceClock(spec.speed)
        self._packet: Packet | None = None  # the packet being emitted (the truth log's key)
        self.feed: SampleFeed | None = None
        self._feed_key: tuple | None = None
        self._task: asyncio.Task | None = None
        self.streaming = False
        self.static: dict[str, bytes] = {
            sig.BATTERY_LEVEL: bytes([spec.battery_percent]),
            sig.MANUFACTURER_NAME: b"pelvis-monitor emulator",
            sig.MODEL_NUMBER: f"virtual {self.profile}".encode(),
            sig.SERIAL_NUMBER: spec.address.replace(":", "").encode(),
            sig.FIRMWARE_REVISION: b"1.0.0-emulated",
        }

    def attach(self, device: "Device") -> None:
        self.device = device

    # --- to implement per profile
    def services(self) -> list[ServiceDef]:
        raise NotImplementedError

    async def write(self, uuid: str, value: bytes, with_response: bool) -> None:
        raise AttError(0x03)

    def emit(self, packet: Packet) -> None:
        """Encode and notify one packet of samples."""
        raise NotImplementedError

    # --- default behaviour
    async def read(self, uuid: str) -> bytes:
        if uuid in self.static:
            return self.static[uuid]
        raise AttError(0x02)

    def subscription_changed(self, uuid: str, enabled: bool) -> None:
        """CCCD written by the client."""

    def connected(self) -> None:
        """Link established."""

    def disconnected(self) -> None:
        """Link lost: by default the stream stops being sent (the sensor keeps sampling)."""
        self.streaming = False

    def notify(self, uuid: str, value: bytes) -> bool:
        return self.device is not None and self.device.send(uuid, value, self._packet)

    def set_battery(self, percent: int) -> None:
        self.static[sig.BATTERY_LEVEL] = bytes([percent])

    # --- the sample feed
    def start_feed(self, rate_hz: float, acc_range_g: float, gyr_range_dps: float,
                   packet_samples: int) -> None:
        """Sample at this configuration (again only if it changed) and send while streaming."""
        key = (rate_hz, acc_range_g, gyr_range_dps, packet_samples)
        if key != self._feed_key:
            if self._task is not None:
                self._task.cancel()
            result = simulation_for(self.spec, rate_hz, acc_range_g, gyr_range_dps, packet_samples)
            seq_offset = self.feed.next_seq if self.feed is not None else 0
            self.feed = SampleFeed(result, self.clock, seq_offset)
            self._feed_key = key
            self._task = asyncio.get_running_loop().create_task(self._run(self.feed))
        self.streaming = True

    async def _run(self, feed: SampleFeed) -> None:
        async for packet in feed.packets():
            if self.streaming:
                self._packet = packet
                try:
                    self.emit(packet)
                finally:
                    self._packet = None

    def stop(self) -> None:
        """Emulator shutdown."""
        if self._task is not None:
            self._task.cancel()
