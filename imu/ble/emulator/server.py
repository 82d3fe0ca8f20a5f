"""The emulated BlueZ process: `python -m imu.ble.emulator.server --bus ADDRESS --devices JSON`.

Connects to the private bus, exports the adapter, one Device1 per virtual sensor and a
control object (org.pelvismonitor.Emulator1 at /org/pelvismonitor/emulator, outside
/org/bluez so bleak ignores it), takes the names org.bluez and org.pelvismonitor.Emulator
(the control stays reachable while an emulated bluetoothd restart has released
org.bluez) and prints READY. Runs until SIGTERM/SIGINT. Run as its own process so the
bleak client under test is a separate program, as it is with the real bluetoothd.
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
from imu.ble.emulator.faults import SendLog
from imu.ble.emulator.peripheral import VirtualPeripheral
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_movesense import VirtualMovesense
from imu.ble.emulator.virtual_open import VirtualOpenSensor
from imu.ble.emulator.virtual_polar import VirtualPolar
from imu.ble.emulator.virtual_witmotion import VirtualWitMotion

CONTROL_PATH = "/org/pelvismonitor/emulator"
CONTROL_INTERFACE = "org.pelvismonitor.Emulator1"
CONTROL_NAME = "org.pelvismonitor.Emulator"
BLUEZ_NAME = "org.bluez"
PERIPHERALS: dict[str, type[VirtualPeripheral]] = {
    "open": VirtualOpenSensor, "witmotion": VirtualWitMotion,
    "movesense": VirtualMovesense, "polar": VirtualPolar}


class Stack:
    """The emulated bluetoothd's state: bus, adapter, devices (for adapter resets)."""

    def __init__(self, bus: MessageBus, specs: list[VirtualDeviceSpec]) -> None:
        self.bus = bus
        self.devices: dict[str, Device] = {}
        self.adapter = Adapter(lambda: list(self.devices.values()))
        for spec in specs:
            peripheral = PERIPHERALS[spec.profile](spec)
            self.devices[spec.address] = Device(bus, peripheral, list(peripheral.advertised_uuids),
                                                powered=lambda: self.adapter.powered)
        # Outages are given in device seconds; the adapter follows its devices' time scale.
        self.speed = specs[0].speed if specs else 1.0
        self.resets = 0

    def export(self) -> None:
        self.bus.export(ADAPTER_PATH, self.adapter)
        for dev in self.devices.values():
            dev.export()

    async def reset(self, off_s: float, restart: bool) -> None:
        """The adapter goes off for off_s device seconds. As BlueZ does on power-off, links
        drop and unpaired (temporary) devices are forgotten; they are listed again when a
        scan sees them. restart=True: bluetoothd itself restarts: every object is removed,
        org.bluez is released, and on return the adapter and paired devices reappear."""
        self.resets += 1
        self.adapter.set_powered(False)
        for dev in self.devices.values():
            if dev.paired and not restart:
                dev.link_down()
            else:
                dev.forget()
        if restart:
            self.bus.unexport(ADAPTER_PATH, self.adapter)
            await self.bus.release_name(BLUEZ_NAME)
        await asyncio.sleep(max(0.0, off_s) / self.speed)
        if restart:
            await self.bus.request_name(BLUEZ_NAME)
            self.adapter.set_powered(True, announce=False)
            self.bus.export(ADAPTER_PATH, self.adapter)
            for dev in self.devices.values():
                if dev.paired:
                    dev.export()
        else:
            self.adapter.set_powered(True)


class Control(ServiceInterface):
    """Fault injection and counters for tests and benchmarks (durations in device seconds)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(CONTROL_INTERFACE)
        self._stack = stack
        self._devices = stack.devices
        self._tasks: set[asyncio.Task] = set()

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
        self._device(address).path_faults.drop_next += count

    @method()
    def DuplicateNotifications(self, address: "s", count: "u"):
        self._device(address).path_faults.duplicate_next += count

    @method()
    def ReorderNotifications(self, address: "s", count: "u", by: "u"):
        self._device(address).path_faults.reorder(count, by)

    @method()
    def DelayNotifications(self, address: "s", seconds: "d"):
        self._device(address).path_faults.delay(seconds)

    @method()
    def Stall(self, address: "s", seconds: "d"):
        self._device(address).path_faults.stall(seconds)

    @method()
    def SetClockDrift(self, address: "s", ppm: "d"):
        self._device(address).peripheral.clock.set_drift(ppm)

    @method()
    def JumpClock(self, address: "s", seconds: "d"):
        self._device(address).peripheral.clock.jump(seconds)

    @method()
    def ResetAdapter(self, off_s: "d", restart: "b"):
        task = asyncio.get_running_loop().create_task(self._stack.reset(off_s, restart))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @method()
    def SendLog(self, address: "s") -> "axauadauad":
        log: SendLog = self._device(address).path_faults.log
        return [log.seq, log.n, log.time_s, log.outcome, log.sampled_s]

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
                           "next_seq": feed.next_seq if feed else None,
                           "adapter_resets": self._stack.resets})

    @method()
    def SendTimes(self, address: "s") -> "ad":
        return list(self._device(address).send_times)


async def serve(bus_address: str, specs: list[VirtualDeviceSpec]) -> None:
    bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    stack = Stack(bus, specs)
    stack.export()
    bus.export(CONTROL_PATH, Control(stack))
    for name in (CONTROL_NAME, BLUEZ_NAME):
        reply = await bus.request_name(name)
        if reply != RequestNameReply.PRIMARY_OWNER:
            raise SystemExit(f"could not own {name} on {bus_address}: {reply}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    for dev in stack.devices.values():
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
