"""Virtual Polar Verity Sense (imu.devices.polar): PMD control point, delta frames."""

from __future__ import annotations

import struct

import numpy as np

from imu.ble.emulator.feed import Packet
from imu.ble.emulator.peripheral import (AttError, CharDef, ServiceDef, VirtualPeripheral,
                                         battery_service, device_information_service)
from imu.devices import polar_pmd as pmd
from imu.devices.polar import acc_factor_mps2, gyr_factor_rps
from imu.devices.errors import MalformedFrameError
from imu.devices.sig import sig_uuid

NORMAL = {pmd.TYPE_ACC: ([52], [8]), pmd.TYPE_GYRO: ([52], [2000])}
SDK = {pmd.TYPE_ACC: ([26, 52, 104, 208, 416], [2, 4, 8, 16]),
       pmd.TYPE_GYRO: ([26, 52, 104, 208, 416], [250, 500, 1000, 2000])}
# The FACTOR a Verity Sense answers for 8 g (vendor specification example 40 DA 7F 39).
ACC_FACTOR_8G = struct.unpack("<f", bytes.fromhex("40DA7F39"))[0]
# Verity Sense stamps frames on Polar's 2000-01-01 epoch; any fixed date does here.
CLOCK_BASE_NS = 789_000_000 * 10 ** 9


def factor_for(mtype: int, rng: int) -> float:
    """Value of one count (g or deg/s) as the device reports it (float32)."""
    if mtype == pmd.TYPE_ACC and rng == 8:
        return ACC_FACTOR_8G
    return struct.unpack("<f", struct.pack("<f", rng / 32768.0))[0]


def frame_samples(rate_hz: int) -> int:
    """Samples per frame. A real Verity Sense fills 232-byte frames (~1.3 s at 52 Hz);
    the emulator sends about six frames a second so the demo stays responsive."""
    return max(4, round(rate_hz / 6))


class VirtualPolar(VirtualPeripheral):
    profile = pmd.PROFILE
    advertised_uuids = (sig_uuid(0x180D),)

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.sdk_mode = False
        self.running: dict[int, tuple[int, float]] = {}  # type -> (rate, factor)

    def services(self) -> list[ServiceDef]:
        return [ServiceDef(pmd.SERVICE_UUID, (
            CharDef(pmd.CONTROL_UUID, ("read", "write", "indicate")),
            CharDef(pmd.DATA_UUID, ("notify",)))), battery_service(), device_information_service()]

    async def read(self, uuid: str) -> bytes:
        if uuid == pmd.CONTROL_UUID:
            return bytes([0x0F, 0x6E, 0x06])  # feature bitmap of a Verity Sense (ACC, GYRO, ...)
        return await super().read(uuid)

    async def write(self, uuid: str, value: bytes, with_response: bool) -> None:
        if uuid != pmd.CONTROL_UUID:
            raise AttError(0x03)
        if self.spec.require_pairing and not self.device.paired:
            raise AttError(0x05)  # insufficient authentication
        if len(value) < 2:
            raise AttError(0x0D)
        op, mtype = value[0], value[1]
        status, params = self._control(op, mtype, bytes(value[2:]))
        self.notify(pmd.CONTROL_UUID, pmd.encode_cp_response(op, mtype, status, params))

    def _control(self, op: int, mtype: int, params: bytes) -> tuple[int, bytes]:
        if mtype == pmd.TYPE_SDK_MODE and op in (pmd.OP_START, pmd.OP_STOP):
            self.sdk_mode = op == pmd.OP_START
            return 0, b""
        if mtype not in NORMAL:
            return 2, b""
        rates, ranges = (SDK if self.sdk_mode else NORMAL)[mtype]
        if op == pmd.OP_GET_SETTINGS:
            return 0, pmd.encode_settings({pmd.SET_SAMPLE_RATE: rates, pmd.SET_RESOLUTION: [16],
                                           pmd.SET_RANGE: ranges, pmd.SET_CHANNELS: [3]})
        if op == pmd.OP_STOP:
            self.running.pop(mtype, None)
            return 0, b""
        if op != pmd.OP_START:
            return 1, b""
        try:
            asked = pmd.decode_settings(params)
        except MalformedFrameError:
            return 5, b""  # invalid parameter
        rate = asked.get(pmd.SET_SAMPLE_RATE, [0])[0]
        rng = asked.get(pmd.SET_RANGE, [ranges[-1]])[0]
        if rate not in rates:
            return 8, b""
        if rng not in ranges:
            return 9, b""
        factor = factor_for(mtype, rng)
        self.running[mtype] = (rate, factor)
        self._maybe_start()
        return 0, pmd.encode_settings({pmd.SET_FACTOR: [factor]})

    def _maybe_start(self) -> None:
        rate = self.running[next(iter(self.running))][0]
        acc_rng = 8 if pmd.TYPE_ACC not in self.running else round(
            self.running[pmd.TYPE_ACC][1] * 32768)
        gyr_rng = 2000 if pmd.TYPE_GYRO not in self.running else round(
            self.running[pmd.TYPE_GYRO][1] * 32768)
        self.start_feed(rate, acc_rng, gyr_rng, self.spec.frame_samples or frame_samples(rate))

    def disconnected(self) -> None:
        super().disconnected()
        self.running.clear()
        self.sdk_mode = False

    def emit(self, packet: Packet) -> None:
        t_ns = CLOCK_BASE_NS + int(round(float(packet.time_s[-1]) * 1e9))
        for mtype, (_, factor) in list(self.running.items()):
            if mtype == pmd.TYPE_ACC:
                lsb, values = acc_factor_mps2(factor), packet.acc_mps2
            else:
                lsb, values = gyr_factor_rps(factor), packet.gyr_rps
            counts = np.clip(np.round(values / lsb), -32768, 32767).astype(np.int64)
            payload = pmd.encode_delta_frames(counts)
            self.notify(pmd.DATA_UUID, pmd.encode_frame(mtype, t_ns, pmd.COMPRESSED, payload))
