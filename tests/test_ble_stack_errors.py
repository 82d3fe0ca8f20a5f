"""Clear errors when Bluetooth itself is unusable: no system bus, BlueZ not running, no adapter."""

import asyncio
import sys

import pytest
from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from imu.ble.emulator.bus import PrivateBus
from imu.ble.errors import BluetoothUnavailableError
from imu.ble.scanner import scan

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="bleak's BlueZ backend runs on Linux only")


def test_no_system_bus(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-such-socket")
    with pytest.raises(BluetoothUnavailableError, match="cannot reach the system D-Bus"):
        asyncio.run(scan(0.5))


def test_bluez_not_running_and_no_adapter(monkeypatch, tmp_path):
    with PrivateBus(tmp_path) as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        with pytest.raises(BluetoothUnavailableError, match="bluetoothd\\) is not running"):
            asyncio.run(scan(0.5))

        async def bluez_without_adapter():
            fake = await MessageBus(bus_address=bus.address, bus_type=BusType.SYSTEM).connect()
            await fake.request_name("org.bluez")
            try:
                await scan(0.5)
            finally:
                fake.disconnect()

        with pytest.raises(BluetoothUnavailableError, match="No Bluetooth adapters found"):
            asyncio.run(bluez_without_adapter())
