"""Start the emulated BlueZ for a client in this process, and steer it.

    from imu.ble.emulator import emulated_bluez, one_of_each
    with emulated_bluez(one_of_each()) as emu:
        ...  # bleak (and BleSource) now talk to the virtual sensors
        asyncio.run(emu.control.drop_link(emu.devices[0].address, down_s=1.0))

The context manager starts a private dbus-daemon and the emulator process, points
DBUS_SYSTEM_BUS_ADDRESS at the private bus and puts a fake `bluetoothctl` first on
PATH (bleak asks it for the BlueZ version), and restores both on exit. `emu.env`
holds the same variables for child processes (e.g. the CLI under test).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Iterator, Sequence

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from imu.ble.emulator.bus import EmulatorError, PrivateBus, read_first_line, write_fake_bluetoothctl
from imu.ble.emulator.faults import SendLog
from imu.ble.emulator.server import CONTROL_INTERFACE, CONTROL_NAME, CONTROL_PATH
from imu.ble.emulator.spec import VirtualDeviceSpec

# Importing the simulator and dbus-fast takes ~1-2 s; a loaded CI machine may need more.
SERVER_START_TIMEOUT_S = 30.0


class EmulatorControl:
    """Calls to the emulator's control object (fault injection, counters).

    Durations are device seconds (VirtualDeviceSpec.speed device seconds pass per host
    second), so the same calls mean the same at any emulator speed.
    """

    def __init__(self, bus_address: str, log_path: str | None = None) -> None:
        self.bus_address = bus_address
        self.log_path = log_path
        """The emulator's stderr (its tail is added to errors)."""

    async def _call(self, member: str, signature: str = "", body: list | None = None):
        bus = await MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM).connect()
        try:
            reply = await bus.call(Message(destination=CONTROL_NAME, path=CONTROL_PATH,
                                           interface=CONTROL_INTERFACE, member=member,
                                           signature=signature, body=body or []))
        finally:
            bus.disconnect()
        if reply.message_type == MessageType.ERROR:
            raise EmulatorError(f"emulator {member} failed: {reply.error_name} {reply.body}"
                                + _log_tail(self.log_path))
        if len(reply.body) > 1:
            return reply.body
        return reply.body[0] if reply.body else None

    async def drop_link(self, address: str, down_s: float = 0.0) -> None:
        """The link drops now and the device is away (not advertising, connection
        attempts pend) for down_s seconds."""
        await self._call("DropLink", "sd", [address, float(down_s)])

    async def drop_notifications(self, address: str, count: int) -> None:
        """The next `count` notifications of the device are lost on air."""
        await self._call("DropNotifications", "su", [address, int(count)])

    async def duplicate_notifications(self, address: str, count: int) -> None:
        """Each of the next `count` data notifications is delivered twice."""
        await self._call("DuplicateNotifications", "su", [address, int(count)])

    async def reorder_notifications(self, address: str, count: int, by: int = 1) -> None:
        """Each of the next `count` data notifications arrives after the `by` next ones."""
        await self._call("ReorderNotifications", "suu", [address, int(count), int(by)])

    async def delay_notifications(self, address: str, seconds: float) -> None:
        """Notifications wait `seconds` from now, then arrive in order in one burst."""
        await self._call("DelayNotifications", "sd", [address, float(seconds)])

    async def stall(self, address: str, seconds: float) -> None:
        """The sensor stays connected but sends no data for `seconds` (it keeps sampling,
        across reconnections)."""
        await self._call("Stall", "sd", [address, float(seconds)])

    async def set_clock_drift(self, address: str, ppm: float) -> None:
        """The sensor's oscillator runs `ppm` fast (negative: slow) from now on."""
        await self._call("SetClockDrift", "sd", [address, float(ppm)])

    async def jump_clock(self, address: str, seconds: float) -> None:
        """The sensor's timestamps step by `seconds` (its counter and sampling go on)."""
        await self._call("JumpClock", "sd", [address, float(seconds)])

    async def reset_adapter(self, off_s: float, *, restart: bool = False) -> None:
        """The adapter is off for off_s seconds (links drop, unpaired devices are forgotten
        until scanned again); restart=True: bluetoothd restarts (every object and the
        org.bluez name go away). Returns at once."""
        await self._call("ResetAdapter", "db", [float(off_s), bool(restart)])

    async def send_log(self, address: str) -> SendLog:
        """What happened to every data notification so far (faults.SendLog)."""
        seq, n, time_s, outcome, sampled_s = await self._call("SendLog", "s", [address])
        return SendLog(list(seq), list(n), list(time_s), list(outcome), list(sampled_s))

    async def inject(self, address: str, uuid: str, value: bytes) -> bool:
        """Send arbitrary bytes as a notification (malformed frames); False if not subscribed."""
        return bool(await self._call("InjectNotification", "ssay", [address, uuid, bytes(value)]))

    async def set_battery(self, address: str, percent: int) -> None:
        await self._call("SetBattery", "sy", [address, int(percent)])

    async def stats(self, address: str) -> dict:
        return json.loads(await self._call("Stats", "s", [address]))

    async def send_times(self, address: str) -> list[float]:
        """Host monotonic time of every notification sent (same clock as time.monotonic())."""
        return list(await self._call("SendTimes", "s", [address]))


@dataclass(frozen=True)
class EmulatedDevice:
    name: str
    address: str
    profile: str
    spec: VirtualDeviceSpec


@dataclass(frozen=True)
class EmulatedBluez:
    """A running emulated BlueZ."""

    bus_address: str
    devices: list[EmulatedDevice]
    control: EmulatorControl
    env: dict[str, str]
    """DBUS_SYSTEM_BUS_ADDRESS and PATH for child processes that should use the emulator."""
    pids: tuple[int, ...] = ()
    """The emulator's and its dbus-daemon's process ids (resource measurements)."""

    def device(self, profile: str) -> EmulatedDevice:
        """The (first) virtual sensor of a profile."""
        return next(d for d in self.devices if d.profile == profile)


@contextlib.contextmanager
def emulated_bluez(devices: Sequence[VirtualDeviceSpec], *,
                   set_environment: bool = True) -> Iterator[EmulatedBluez]:
    """Private bus + emulated BlueZ with these virtual sensors, for the duration of the block."""
    specs = list(devices)
    addresses = [s.address for s in specs]
    if len(set(addresses)) != len(addresses):
        raise EmulatorError("virtual devices need distinct addresses.")
    if len({s.speed for s in specs}) > 1:
        raise EmulatorError("virtual devices of one emulator need the same speed.")
    with tempfile.TemporaryDirectory(prefix="pm-bluez-") as tmp, PrivateBus(tmp) as bus:
        bin_dir = write_fake_bluetoothctl(tmp)
        env = {"DBUS_SYSTEM_BUS_ADDRESS": bus.address,
               "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        # stderr goes to a file: a pipe nobody reads would block a chatty emulator.
        log_path = os.path.join(tmp, "emulator.log")
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "imu.ble.emulator.server", "--bus", bus.address,
                 "--devices", json.dumps([s.to_dict() for s in specs])],
                stdout=subprocess.PIPE, stderr=log, text=True,
                env={**os.environ, **env, "PYTHONPATH": _pythonpath()})
        try:
            line = read_first_line(server, SERVER_START_TIMEOUT_S)
            if line.strip() != "READY":
                server.kill()
                server.wait(5)
                raise EmulatorError(f"the emulated BlueZ did not start: {line.strip()}"
                                    + _log_tail(log_path))
            saved = {k: os.environ.get(k) for k in env}
            if set_environment:
                os.environ.update(env)
            try:
                yield EmulatedBluez(bus.address, [EmulatedDevice(s.name, s.address, s.profile, s)
                                                  for s in specs],
                                    EmulatorControl(bus.address, log_path), env,
                                    (server.pid, bus.process.pid))
            finally:
                if set_environment:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
        finally:
            _stop(server)


def _log_tail(path: str | None, chars: int = 2000) -> str:
    """The end of the emulator's stderr, for error messages ("" when empty)."""
    try:
        with open(path or "", errors="replace") as f:
            text = f.read()[-chars:].strip()
    except OSError:
        return ""
    return f"\nemulator log: ...{text}" if text else ""


def _pythonpath() -> str:
    """This package's root first, so the emulator runs the same code as its client."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    rest = os.environ.get("PYTHONPATH", "")
    return root + (os.pathsep + rest if rest else "")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
