"""The GattLink of imu.devices on a connected bleak client (the one adapter to bleak's GATT API)."""

from __future__ import annotations

import time
from typing import Callable

from bleak import BleakClient
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError

from imu.devices.base import NotifyCallback
from imu.devices.errors import GattOperationError, att_error_name

PAIR_HINT = "Pair the sensor first (`bluetoothctl pair ADDRESS`, or record with --pair)."


def gatt_error(operation: str, uuid: str, exc: BleakError) -> GattOperationError:
    """Our error for a bleak failure, with the ATT code when the device sent one."""
    if isinstance(exc, BleakGATTProtocolError):
        code = int(exc.code)
        hint = PAIR_HINT if code in (0x05, 0x0C, 0x0F) else None
        return GattOperationError(operation, uuid, att_error_name(code), code, hint)
    if isinstance(exc, BleakDBusError) and exc.dbus_error == "org.bluez.Error.NotPermitted" \
            and "Not paired" in str(exc):
        # BlueZ reports insufficient authentication/encryption as "Not paired".
        return GattOperationError(operation, uuid, att_error_name(0x05), 0x05, PAIR_HINT)
    return GattOperationError(operation, uuid, str(exc) or type(exc).__name__)


class BleakLink:
    """GattLink over a connected BleakClient. Notification callbacks get the arrival time
    of `clock` (monotonic by default), taken first thing in bleak's callback."""

    def __init__(self, client: BleakClient, name: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._name = name
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> str:
        return self.client.address

    def has_characteristic(self, uuid: str) -> bool:
        return self.client.services.get_characteristic(uuid) is not None

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self.client.read_gatt_char(uuid))
        except BleakError as exc:
            raise gatt_error("read", uuid, exc) from None

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        try:
            await self.client.write_gatt_char(uuid, data, response=response)
        except BleakError as exc:
            raise gatt_error("write", uuid, exc) from None

    async def start_notify(self, uuid: str, callback: NotifyCallback) -> None:
        clock = self._clock

        def on_notify(_char: object, data: bytearray) -> None:
            arrival_s = clock()  # first: this is the latency reference point
            callback(bytes(data), arrival_s)

        try:
            await self.client.start_notify(uuid, on_notify)
        except BleakError as exc:
            raise gatt_error("start_notify", uuid, exc) from None

    async def stop_notify(self, uuid: str) -> None:
        try:
            await self.client.stop_notify(uuid)
        except BleakError as exc:
            raise gatt_error("stop_notify", uuid, exc) from None
