"""Virtual Movesense (imu.devices.movesense): GSP commands, IMU6 float32 DATA."""

from __future__ import annotations

import re

import numpy as np

from imu.ble.emulator.feed import Packet
from imu.ble.emulator.peripheral import AttError, CharDef, ServiceDef, VirtualPeripheral
from imu.devices import movesense as ms
from imu.devices.sig import sig_uuid

IMU6 = re.compile(r"^/Meas/IMU6/(\d+)$")


def samples_per_packet(rate_hz: int) -> int:
    """N per DATA notification (the real firmware's choice is not documented: 4 at 52 Hz
    was measured for IMU9; higher rates are given more to keep ~25 notifications/s)."""
    return 4 if rate_hz <= 52 else 8


class VirtualMovesense(VirtualPeripheral):
    profile = ms.PROFILE
    # Measured adverts carry 0xFDF3 and Heart Rate, not the GSP service [M5].
    advertised_uuids = (sig_uuid(0xFDF3), sig_uuid(0x180D))

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.subscription: int | None = None

    def services(self) -> list[ServiceDef]:
        return [ServiceDef(ms.SERVICE_UUID, (CharDef(ms.COMMAND_UUID, ("write",)),
                                             CharDef(ms.DATA_UUID, ("notify",))))]

    async def write(self, uuid: str, value: bytes, with_response: bool) -> None:
        if uuid != ms.COMMAND_UUID or len(value) < 2:
            raise AttError(0x03 if uuid != ms.COMMAND_UUID else 0x0D)
        code, ref = value[0], value[1]
        path = bytes(value[2:]).split(b"\x00", 1)[0].decode("utf-8", "replace")
        if code == ms.CMD_HELLO:
            info = [self.spec.name.split()[-1], "Movesense", self.spec.address, "gsp-emulated",
                    "1.0.0"]
            self._send(bytes([ms.RESP_RESULT, ref, 1]) + "\x00".join(info).encode() + b"\x00")
        elif code == ms.CMD_GET:
            if path == ms.ENERGY_PATH:
                self._send(ms.encode_result(ref, 200, bytes([self.spec.battery_percent])))
            else:
                self._send(ms.encode_result(ref, 404))
        elif code == ms.CMD_SUBSCRIBE:
            self._subscribe(ref, path)
        elif code == ms.CMD_UNSUBSCRIBE:
            if ref == self.subscription:
                self.subscription = None
                self.streaming = False
            self._send(ms.encode_result(ref, 200))
        else:
            self._send(ms.encode_result(ref, 400))

    def _subscribe(self, ref: int, path: str) -> None:
        match = IMU6.match(path)
        if not match:
            self._send(ms.encode_result(ref, 404))
            return
        rate = int(match.group(1))
        if rate not in ms.RATES_HZ:
            self._send(ms.encode_result(ref, 501))
            return
        self._send(ms.encode_result(ref, 200))
        self.subscription = ref
        self.start_feed(rate, 16.0, 2000.0, self.spec.frame_samples or samples_per_packet(rate))

    def _send(self, data: bytes) -> None:
        self.notify(ms.DATA_UUID, data)

    def disconnected(self) -> None:
        super().disconnected()
        self.subscription = None  # the firmware drops subscriptions with the link [M2]

    def emit(self, packet: Packet) -> None:
        if self.subscription is None:
            return
        t_ms = int(round(float(packet.time_s[0]) * 1e3))
        self._send(ms.encode_imu6(self.subscription, t_ms, packet.acc_mps2,
                                  np.degrees(packet.gyr_rps)))
