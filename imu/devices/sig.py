"""Standard Bluetooth SIG services used by several sensors: Battery and Device Information."""

from __future__ import annotations

from imu.devices.base import DeviceDetails, GattLink
from imu.devices.errors import DeviceError


def sig_uuid(short: int) -> str:
    """The full 128-bit form of a 16-bit SIG UUID (base 0000xxxx-0000-1000-8000-00805f9b34fb)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


BATTERY_SERVICE = sig_uuid(0x180F)
BATTERY_LEVEL = sig_uuid(0x2A19)
DEVICE_INFORMATION_SERVICE = sig_uuid(0x180A)
MODEL_NUMBER = sig_uuid(0x2A24)
SERIAL_NUMBER = sig_uuid(0x2A25)
FIRMWARE_REVISION = sig_uuid(0x2A26)
HARDWARE_REVISION = sig_uuid(0x2A27)
MANUFACTURER_NAME = sig_uuid(0x2A29)
CCCD = sig_uuid(0x2902)


def decode_battery_level(data: bytes) -> int | None:
    """Battery Level (0x2A19): one byte, 0-100 %; other values are reserved -> None."""
    if len(data) < 1 or data[0] > 100:
        return None
    return int(data[0])


def decode_string(data: bytes) -> str:
    """A SIG string characteristic: UTF-8, sometimes NUL-padded by firmware."""
    return bytes(data).split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()


async def read_battery_level(link: GattLink) -> int | None:
    """The SIG battery level, or None when the device has no Battery Service."""
    if not link.has_characteristic(BATTERY_LEVEL):
        return None
    try:
        return decode_battery_level(await link.read(BATTERY_LEVEL))
    except DeviceError:
        return None  # battery is informative only; never fail a session over it


async def read_device_information(link: GattLink) -> DeviceDetails:
    """Whatever the Device Information Service offers, plus the battery level."""
    values: dict[str, str] = {}
    for key, uuid in (("model", MODEL_NUMBER), ("serial", SERIAL_NUMBER),
                      ("firmware", FIRMWARE_REVISION), ("hardware", HARDWARE_REVISION),
                      ("manufacturer", MANUFACTURER_NAME)):
        if link.has_characteristic(uuid):
            try:
                values[key] = decode_string(await link.read(uuid))
            except DeviceError:
                pass
    return DeviceDetails(battery_percent=await read_battery_level(link), **values)
