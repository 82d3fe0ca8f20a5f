"""The emulated BlueZ process: `python -m imu.ble.emulator.server --bus ADDRESS --devices JSON`.

Connects to the private bus, exports the adapter, one Device1 per virtual sensor and a
control object (org.pelvismonitor.Emulator1 at /org/pelvismonitor/emulator, outside
/org/bluez so bleak ignores it), takes the name org.bluez and prints READY. Runs until
SIGTERM/SIGINT. Run as its own process so the bleak client under test is a separate
program, as it is with the real bluetoothd.
"""

# No `from __future__ import annotations`: dbus-fast reads D-Bus signatures from them.

import argparse
import asyncio
import json
import signal
import sys

from dbus_fast import BusType, DBusError
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply
from dbus_fast.service import ServiceInterface, method

from imu.ble.emulator.bluez import ADAPTER_PATH, Adapter, Device
from imu.ble.emulator.peripheral import VirtualPeripheral
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_movesense import VirtualMovesense
from imu.ble.emulator.virtual_open import VirtualOpenSensor
from imu.ble.emulator.virtual_polar import VirtualPolar
from imu.ble.emulator.virtual_witmotion import VirtualWitMotion

CONTROL_PATH = "/org/pelvismonitor/emulator"
CONTROL_INTERFACE = "org.pelvismonitor.Emulator1"
BLUEZ_NAME = "org.bluez"
PERIPHERALS: dict[str, type[VirtualPeripheral]] = {
    "open": VirtualOpenSensor, "witmotion": VirtualWitMotion,
    "movesense": VirtualMovesense, "polar": VirtualPolar}


class Control(ServiceInterface):
    """Fault injection and counters for tests and benchmarks."""

    def __init__(self, devices: dict) -> None:
        super().__init__(CONTROL_INTERFACE)
        self._devices = devices

    def _device(self, address: str) -> Device:
        try:
            return self._devices[address.upper()]
        except KeyError:
            raise DBusError("org.pelvismonitor.Error.UnknownDevice",
                            f"no virtual device {address}") from None

    @method()
    def DropLink(self, address: "s", down_s: "d"):
        self._device(address).link_down(down_s)

    @method()
    def DropNotifications(self, address: "s", count: "u"):
        self._device(address).drop_next += count

    @method()
    def InjectNotification(self, address: "s", uuid: "s", value: "ay") -> "b":
        dev = self._device(address)
        dev.stats["injected"] += 1
        return dev.send(uuid.lower(), bytes(value))

    @method()
    def SetBattery(self, address: "s", percent: "y"):
        self._device(address).peripheral.set_battery(percent)

    @method()
    def Stats(self, address: "s") -> "s":
        dev = self._device(address)
        feed = dev.peripheral.feed
        return json.dumps({**dev.stats, "connected": dev.connected,
                           "next_seq": feed.next_seq if feed else None})

    @method()
    def SendTimes(self, address: "s") -> "ad":
        return list(self._device(address).send_times)


async def serve(bus_address: str, specs: list[VirtualDeviceSpec]) -> None:
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    devices: dict[str, Device] = {}
    adapter = Adapter(lambda: list(devices.values()))
    bus.export(ADAPTER_PATH, adapter)
    for spec in specs:
        peripheral = PERIPHERALS[spec.profile](spec)
        dev = Device(bus, peripheral, list(peripheral.advertised_uuids))
        devices[spec.address] = dev
        bus.export(dev.path, dev)
    bus.export(CONTROL_PATH, Control(devices))
    reply = await bus.request_name(BLUEZ_NAME)
    if reply != RequestNameReply.PRIMARY_OWNER:
        raise SystemExit(f"could not own {BLUEZ_NAME} on {bus_address}: {reply}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    for dev in devices.values():
        dev.peripheral.stop()
    bus.disconnect()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bus", required=True, help="address of the private system bus")
    p.add_argument("--devices", required=True, help="JSON list of VirtualDeviceSpec dicts")
    args = p.parse_args(argv)
    specs = [VirtualDeviceSpec.from_dict(d) for d in json.loads(args.devices)]
    asyncio.run(serve(args.bus, specs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
