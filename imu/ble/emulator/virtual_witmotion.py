"""Virtual WitMotion BWT901BLE (imu.devices.witmotion): 0x61 packets, register replies."""

from __future__ import annotations

import time

import numpy as np

from imu.ble.emulator.feed import Packet
from imu.ble.emulator.peripheral import AttError, CharDef, ServiceDef, VirtualPeripheral
from imu.devices import witmotion as wt

# Two packets per notification exercises the byte-stream reassembly (and halves the
# notification rate at 200 Hz, as batching firmware does).
PACKETS_PER_NOTIFICATION = 2
UNLOCK_VALID_S = 10.0  # vendor documentation: an unlock holds for about 10 s


def battery_centivolts(percent: int) -> int:
    """A voltage the vendor table maps to at most `percent` (the table is a step function)."""
    for volts, pct in wt.BATTERY_TABLE:
        if pct <= percent:
            return int(round(volts * 100))
    return 330


class VirtualWitMotion(VirtualPeripheral):
    profile = wt.PROFILE

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.rate_code = 0x06  # factory default 10 Hz
        self._unlocked_until = 0.0

    def services(self) -> list[ServiceDef]:
        return [ServiceDef(wt.SERVICE_UUID, (
            CharDef(wt.NOTIFY_UUID, ("notify",)),
            CharDef(wt.WRITE_UUID, ("write", "write-without-response"))))]

    async def write(self, uuid: str, value: bytes, with_response: bool) -> None:
        if uuid != wt.WRITE_UUID:
            raise AttError(0x03)
        if len(value) != 5 or value[:2] != b"\xff\xaa":
            return  # the module ignores what it does not understand
        reg, arg = value[2], int.from_bytes(value[3:5], "little")
        if value == wt.UNLOCK:
            self._unlocked_until = time.monotonic() + UNLOCK_VALID_S
        elif reg == wt.REG_READ:
            self._reply(arg)
        elif reg == wt.REG_RATE and time.monotonic() < self._unlocked_until:
            if arg in wt.RATE_OF_CODE:
                self.rate_code = arg
                if self.streaming:
                    self._start()

    def _reply(self, register: int) -> None:
        values = {wt.REG_RATE: [self.rate_code],
                  wt.REG_BATTERY_CV: [battery_centivolts(self.spec.battery_percent)]}
        self.notify(wt.NOTIFY_UUID, wt.encode_register_reply(register, values.get(register, [])))

    def subscription_changed(self, uuid: str, enabled: bool) -> None:
        if enabled:
            self._start()
        else:
            self.streaming = False

    def _start(self) -> None:
        self.start_feed(wt.RATE_OF_CODE[self.rate_code], wt.ACC_RANGE_G, wt.GYR_RANGE_DPS,
                        PACKETS_PER_NOTIFICATION)

    def emit(self, packet: Packet) -> None:
        acc = packet.acc_mps2
        roll = np.degrees(np.arctan2(acc[:, 1], acc[:, 2]))
        pitch = np.degrees(np.arctan2(-acc[:, 0], np.hypot(acc[:, 1], acc[:, 2])))
        angles = np.stack([roll, pitch, np.zeros_like(roll)], axis=1)
        angle_counts = np.clip(np.round(angles / wt.ANGLE_LSB_DEG), -32768, 32767)
        data = b"".join(wt.encode_data_packet(a, g, r) for a, g, r in
                        zip(packet.acc_counts, packet.gyr_counts, angle_counts))
        self.notify(wt.NOTIFY_UUID, data)
