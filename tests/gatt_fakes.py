"""An in-process GattLink to a virtual sensor of the emulator (no D-Bus): session tests."""

from __future__ import annotations

import time

from imu.ble.emulator.peripheral import AttError, VirtualPeripheral
from imu.devices.base import NotifyCallback
from imu.devices.errors import GattOperationError, att_error_name


class InProcessLink:
    """GattLink straight onto a VirtualPeripheral; also stands in for its bluez.Device."""

    def __init__(self, peripheral: VirtualPeripheral, paired: bool = False) -> None:
        self.peripheral = peripheral
        self.paired = paired
        self.connected = True
        self.callbacks: dict[str, NotifyCallback] = {}
        self.writes: list[tuple[str, bytes]] = []
        peripheral.attach(self)

    # --- the GattLink side (what sessions call)
    @property
    def name(self) -> str:
        return self.peripheral.spec.name

    @property
    def address(self) -> str:
        return self.peripheral.spec.address

    def has_characteristic(self, uuid: str) -> bool:
        return any(c.uuid == uuid for s in self.peripheral.services() for c in s.chars)

    async def read(self, uuid: str) -> bytes:
        try:
            return await self.peripheral.read(uuid)
        except AttError as exc:
            raise GattOperationError("read", uuid, att_error_name(exc.code), exc.code) from None

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        self.writes.append((uuid, bytes(data)))
        try:
            await self.peripheral.write(uuid, bytes(data), response)
        except AttError as exc:
            raise GattOperationError("write", uuid, att_error_name(exc.code), exc.code) from None

    async def start_notify(self, uuid: str, callback: NotifyCallback) -> None:
        self.callbacks[uuid] = callback
        self.peripheral.subscription_changed(uuid, True)

    async def stop_notify(self, uuid: str) -> None:
        self.callbacks.pop(uuid, None)
        self.peripheral.subscription_changed(uuid, False)

    # --- the bluez.Device side (what the peripheral calls)
    def send(self, uuid: str, value: bytes, packet: object = None) -> bool:
        """`packet`: the samples behind a data notification (bluez.Device logs them)."""
        callback = self.callbacks.get(uuid)
        if callback is None:
            return False
        callback(bytes(value), time.monotonic())
        return True
