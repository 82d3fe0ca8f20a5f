"""The org.bluez D-Bus objects of the emulated stack: adapter, devices, GATT tree.

Only what bleak's BlueZ backend uses (../shared/ble-emulation-notes.md): Adapter1
discovery, Device1 Connect/Disconnect/Pair, GattService1 / GattCharacteristic1 /
GattDescriptor1 with ReadValue, WriteValue, StartNotify, StopNotify, and the
ObjectManager signals. Protocol behaviour lives in the peripherals (peripheral.py).
Object paths follow BlueZ: <adapter>/dev_XX_XX.../serviceHHHH/charHHHH/descHHHH.
"""

# No `from __future__ import annotations`: dbus-fast reads D-Bus signatures from them.

import asyncio
import random
import time
from typing import Callable

from dbus_fast import DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

from imu.ble.emulator.faults import SEND_LOG_MAX, NotificationPath
from imu.ble.emulator.feed import Packet
from imu.ble.emulator.peripheral import AttError, CharDef, VirtualPeripheral
from imu.devices.sig import CCCD

ADAPTER_PATH = "/org/bluez/hci0"
ADAPTER_ADDRESS = "00:1A:7D:DA:71:13"
ERR = "org.bluez.Error."
# Advertising interval of the virtual sensors while the adapter discovers.
ADVERTISING_INTERVAL_S = 0.1
# ATT MTU the virtual links report (a BLE 5 phone/PC negotiates 247 typically).
LINK_MTU = 247
NOT_READY = ("NotReady", "Resource Not Ready")  # BlueZ's answer while the adapter is off


def att_dbus_error(code: int) -> DBusError:
    """The D-Bus error BlueZ returns for an ATT error code (create_gatt_dbus_error)."""
    if code == 0x02:
        return DBusError(ERR + "NotPermitted", "Read not permitted")
    if code == 0x03:
        return DBusError(ERR + "NotPermitted", "Write not permitted")
    if code in (0x05, 0x0F, 0x0C):
        return DBusError(ERR + "NotPermitted", "Not paired")
    if code == 0x07:
        return DBusError(ERR + "InvalidArguments", "Invalid offset")
    if code == 0x0D:
        return DBusError(ERR + "InvalidArguments", "Invalid Length")
    if code == 0x08:
        return DBusError(ERR + "NotAuthorized", "Operation Not Authorized")
    if code == 0x06:
        return DBusError(ERR + "NotSupported", "Operation is not supported")
    return DBusError(ERR + "Failed", f"Operation failed with ATT error: 0x{code:02x}")


def device_path(address: str) -> str:
    return f"{ADAPTER_PATH}/dev_{address.replace(':', '_')}"


class Descriptor(ServiceInterface):
    def __init__(self, uuid: str, char_path: str, value: bytes) -> None:
        super().__init__("org.bluez.GattDescriptor1")
        self._uuid, self._char, self.value = uuid, char_path, value

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Characteristic(self) -> "o":
        return self._char

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":
        return self.value


class Characteristic(ServiceInterface):
    """A characteristic; reads, writes and subscriptions go to the peripheral."""

    def __init__(self, device: "Device", definition: CharDef, service_path: str) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self.device = device
        self.definition = definition
        self._service = service_path
        self.value = b""
        self.notifying = False

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self.definition.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":
        return list(self.definition.flags)

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":
        return LINK_MTU

    def _check_connected(self) -> None:
        if not self.device.connected:
            raise DBusError(ERR + "Failed", "Not connected")

    @method()
    async def ReadValue(self, options: "a{sv}") -> "ay":
        self._check_connected()
        try:
            value = await self.device.peripheral.read(self.definition.uuid)
        except AttError as exc:
            raise att_dbus_error(exc.code) from None
        self.value = value
        return value

    @method()
    async def WriteValue(self, value: "ay", options: "a{sv}"):
        self._check_connected()
        kind = options.get("type", Variant("s", "request")).value
        try:
            await self.device.peripheral.write(self.definition.uuid, bytes(value),
                                               kind != "command")
        except AttError as exc:
            raise att_dbus_error(exc.code) from None

    @method()
    def StartNotify(self):
        self._check_connected()
        if not {"notify", "indicate"} & set(self.definition.flags):
            raise DBusError(ERR + "NotSupported", "Operation is not supported")
        if self.notifying:
            return
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})
        self.device.peripheral.subscription_changed(self.definition.uuid, True)

    @method()
    def StopNotify(self):
        if not self.notifying:
            raise DBusError(ERR + "Failed", "No notify session started")
        self.notifying = False
        self.emit_properties_changed({"Notifying": False})
        self.device.peripheral.subscription_changed(self.definition.uuid, False)

    def notify(self, value: bytes) -> None:
        self.value = value
        self.emit_properties_changed({"Value": value})


class Service(ServiceInterface):
    def __init__(self, uuid: str, dev_path: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._uuid, self._device = uuid, dev_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return self._device

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":
        return True


class Device(ServiceInterface):
    """org.bluez.Device1 of one virtual sensor, plus its link state and fault injection."""

    def __init__(self, bus: MessageBus, peripheral: VirtualPeripheral,
                 advertised_uuids: list[str], powered: Callable[[], bool] = lambda: True) -> None:
        super().__init__("org.bluez.Device1")
        self.bus = bus
        self._powered = powered
        self.exported = False  # whether BlueZ lists it (a reset forgets unpaired devices)
        self.peripheral = peripheral
        spec = peripheral.spec
        self.address = spec.address
        self.local_name = spec.name  # (`name` is the interface name in dbus-fast)
        self.path = device_path(spec.address)
        self.rssi = spec.rssi_dbm
        self.advertised_uuids = advertised_uuids
        self.connected = False
        self.resolved = False
        self.paired = False
        self.trusted = False
        self.down_until = 0.0
        self._attempt = 0  # a Disconnect cancels a pending Connect
        self.stats = {"connects": 0, "disconnects": 0, "notifications_sent": 0,
                      "notifications_dropped": 0, "injected": 0}
        self.path_faults = NotificationPath(peripheral.clock, self.stats)
        self.send_times: list[float] = []
        self._gatt: list[tuple[str, ServiceInterface]] = []
        self._chars: dict[str, Characteristic] = {}
        peripheral.attach(self)

    # --- properties bleak reads
    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return self.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return self.local_name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":
        return self.local_name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":
        return self.resolved

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":
        return self.paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> "b":
        return self.paired

    @dbus_property()
    def Trusted(self) -> "b":
        return self.trusted

    @Trusted.setter
    def Trusted(self, value: "b"):
        self.trusted = bool(value)

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return self.advertised_uuids

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> "a{qv}":
        return {}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> "a{sv}":
        return {}

    # --- methods bleak calls
    @method()
    async def Connect(self):
        if not self._powered():
            raise DBusError(ERR + NOT_READY[0], NOT_READY[1])
        if self.connected:
            return
        # While "out of range" the connection attempt pends, as an LE connect does until
        # the device advertises again (the caller's timeout and Disconnect cancel it).
        self._attempt += 1
        attempt = self._attempt
        wait = self.down_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if attempt != self._attempt:
            raise DBusError(ERR + "Failed", "Connection attempt cancelled")
        if not self._powered():
            raise DBusError(ERR + "Failed", "le-connection-abort-by-local")
        self._link_up()

    @method()
    async def Pair(self):
        self.paired = True
        self.emit_properties_changed({"Paired": True, "Bonded": True})
        if not self.connected:
            await self.Connect()

    @method()
    def Disconnect(self):
        self._attempt += 1
        self.link_down()

    def present(self) -> bool:
        """In range and advertising (not during a simulated outage)."""
        return time.monotonic() >= self.down_until

    def advertise(self) -> None:
        """One advertisement: BlueZ reports it as an RSSI change (or, for a device it
        had forgotten, lists it again)."""
        if not self.exported:
            self.export()
            return
        self.rssi = self.peripheral.spec.rssi_dbm + random.randint(-2, 2)
        self.emit_properties_changed({"RSSI": self.rssi})

    # --- link handling
    def _link_up(self) -> None:
        self.connected = True
        self.stats["connects"] += 1
        self.emit_properties_changed({"Connected": True})
        self._export_gatt()  # GATT objects first, then ServicesResolved (bleak needs this order)
        self.resolved = True
        self.emit_properties_changed({"ServicesResolved": True})
        self.peripheral.connected()

    def export(self) -> None:
        self.bus.export(self.path, self)
        self.exported = True

    def forget(self) -> None:
        """BlueZ drops the device object (a temporary device after an adapter reset)."""
        self.link_down()
        if self.exported:
            self.bus.unexport(self.path, self)
            self.exported = False

    def link_down(self, down_s: float = 0.0) -> None:
        """The link ends (requested, or a simulated loss: away for down_s device seconds)."""
        self.down_until = time.monotonic() + self.peripheral.clock.host_seconds(down_s)
        self.path_faults.link_down()
        if not self.connected:
            return
        self.connected = False
        self.resolved = False
        self.stats["disconnects"] += 1
        for char in self._chars.values():
            char.notifying = False
        self.peripheral.disconnected()
        self.emit_properties_changed({"ServicesResolved": False, "Connected": False})
        self._unexport_gatt()

    def _export_gatt(self) -> None:
        handle = 0x000A
        for sdef in self.peripheral.services():
            s_path = f"{self.path}/service{handle:04x}"
            handle += 1
            self._add(s_path, Service(sdef.uuid, self.path))
            for cdef in sdef.chars:
                c_path = f"{s_path}/char{handle:04x}"
                handle += 2  # declaration + value
                char = Characteristic(self, cdef, s_path)
                self._chars[cdef.uuid] = char
                self._add(c_path, char)
                if {"notify", "indicate"} & set(cdef.flags):
                    self._add(f"{c_path}/desc{handle:04x}", Descriptor(CCCD, c_path, b"\x00\x00"))
                    handle += 1

    def _add(self, path: str, iface: ServiceInterface) -> None:
        self.bus.export(path, iface)
        self._gatt.append((path, iface))

    def _unexport_gatt(self) -> None:
        for path, iface in reversed(self._gatt):
            self.bus.unexport(path, iface)
        self._gatt.clear()
        self._chars.clear()

    def send(self, uuid: str, value: bytes, packet: Packet | None = None) -> bool:
        """Notify a value if the link is up and the client subscribed; the faults apply.
        `packet`: the samples behind a data notification (logged as ground truth)."""
        char = self._chars.get(uuid)
        if not self.connected or char is None or not char.notifying:
            return False

        def deliver() -> None:
            if len(self.send_times) < SEND_LOG_MAX:
                self.send_times.append(time.monotonic())
            char.notify(value)

        return self.path_faults.send(deliver, packet)


class Adapter(ServiceInterface):
    """org.bluez.Adapter1: discovery makes the idle virtual sensors advertise."""

    def __init__(self, devices: Callable[[], list[Device]]) -> None:
        super().__init__("org.bluez.Adapter1")
        self._devices = devices
        self._sessions = 0
        self._task: asyncio.Task | None = None
        self.powered = True

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return ADAPTER_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return "pelvis-monitor emulated adapter"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":
        return "pelvis-monitor emulated adapter"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> "b":
        return self.powered

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":
        return self._sessions > 0

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> "as":
        return ["central", "peripheral"]

    @method()
    def SetDiscoveryFilter(self, properties: "a{sv}"):
        pass  # every virtual sensor is LE; UUID filters are applied by bleak too

    @method()
    def StartDiscovery(self):
        if not self.powered:
            raise DBusError(ERR + NOT_READY[0], NOT_READY[1])
        self._sessions += 1
        if self._task is None:
            self.emit_properties_changed({"Discovering": True})
            self._task = asyncio.get_running_loop().create_task(self._advertise())

    @method()
    def StopDiscovery(self):
        if self._sessions == 0:
            raise DBusError(ERR + "Failed", "No discovery started")
        self._sessions -= 1
        if self._sessions == 0 and self._task is not None:
            self._task.cancel()
            self._task = None
            self.emit_properties_changed({"Discovering": False})

    @method()
    def RemoveDevice(self, device: "o"):
        pass  # virtual sensors stay known

    def set_powered(self, on: bool, *, announce: bool = True) -> None:
        """Power the adapter on or off (rfkill, a USB replug, `bluetoothctl power off`);
        off ends discovery. The caller disconnects and forgets the devices, as BlueZ does."""
        self.powered = on
        changed: dict = {"Powered": on}
        if not on and self._sessions:
            self._sessions = 0
            changed["Discovering"] = False
        if not on and self._task is not None:
            self._task.cancel()
            self._task = None
        if announce:
            self.emit_properties_changed(changed)

    async def _advertise(self) -> None:
        while True:
            for dev in self._devices():
                if not dev.connected and dev.present():  # a connected sensor stops advertising
                    dev.advertise()
            await asyncio.sleep(ADVERTISING_INTERVAL_S)
