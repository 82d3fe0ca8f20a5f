"""WitMotion BWT901BLECL / WT901BLE (BLE 5.0 family).

Facts (../shared/device-protocols.md section 1, vendor SDK WITMOTION/WitBluetooth_BWT901BLE5_0):
- Service 0000ffe5-, notify 0000ffe4-, write 0000ffe9- on the VENDOR base
  ...-00805f9a34fb (not the SIG ...9b34fb).
- The notify stream is a byte stream of 20-byte packets: `55 61` data (acc, gyro,
  angles; int16 at fixed scales 16 g, 2000 deg/s, 180 deg) and `55 71` register
  replies (start register + 8 int16). No checksum, no counter, no timestamp.
- Commands are 5 bytes `FF AA <reg> <lo> <hi>`: unlock `FF AA 69 88 B5`, rate
  register 0x03, read register `FF AA 27 <reg> 00`, battery voltage in register 0x64.
- Axes: X forward, Y left, Z up (right-handed) with the module as in the datasheet.
"""

from __future__ import annotations

import struct

import numpy as np

from imu.devices.base import (DeviceDetails, DeviceSession, FrameParser, ImuFrame,
                              NotifyCallback, StreamConfig, StreamSettings, acc_lsb_mps2,
                              gyr_lsb_rps)
from imu.devices.errors import DeviceError, DeviceRefusedError, MalformedFrameError
from imu.devices.replies import ReplyWaiter

PROFILE = "witmotion"
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"
NAME_PREFIX = "WT"

PACKET_SIZE = 20
HEAD = 0x55
FLAG_DATA = 0x61
FLAG_REGISTER = 0x71
ACC_RANGE_G = 16.0
GYR_RANGE_DPS = 2000.0
ANGLE_LSB_DEG = 180.0 / 32768.0

REG_SAVE = 0x00
REG_RATE = 0x03
REG_READ = 0x27
REG_UNLOCK = 0x69
REG_BATTERY_CV = 0x64  # battery voltage in centivolts (vendor SDK)
UNLOCK = bytes([0xFF, 0xAA, REG_UNLOCK, 0x88, 0xB5])

RATE_CODES = {0.2: 0x01, 0.5: 0x02, 1.0: 0x03, 2.0: 0x04, 5.0: 0x05, 10.0: 0x06,
              20.0: 0x07, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0B}
RATE_OF_CODE = {code: rate for rate, code in RATE_CODES.items()}

# Vendor SDK battery table (volts -> percent), highest threshold first.
BATTERY_TABLE = ((3.96, 100), (3.93, 90), (3.87, 75), (3.82, 60), (3.79, 50), (3.77, 40),
                 (3.73, 30), (3.70, 20), (3.68, 15), (3.50, 10), (3.40, 5))


def command(register: int, value: int) -> bytes:
    """A register write: FF AA <reg> <value lo> <value hi>."""
    return bytes([0xFF, 0xAA, register]) + struct.pack("<H", value & 0xFFFF)


def read_register_command(register: int) -> bytes:
    return command(REG_READ, register)


def battery_percent(volts: float) -> int:
    """The vendor's step table from battery voltage to percent."""
    for threshold, percent in BATTERY_TABLE:
        if volts >= threshold:
            return percent
    return 0


class PacketStream:
    """Cuts the notify byte stream into 20-byte packets, resynchronising on `55 61`/`55 71`.

    Several packets may share a notification and a packet may continue in the next one.
    A partial packet followed by a notification that starts with a packet header was a
    short notification: it is dropped (joining it would make up a sample). Bytes that
    cannot start a packet are skipped. `feed` reports how many notifications lost bytes.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._parts = 0  # notifications whose bytes make up the pending partial packet

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """(complete packets, notifications whose bytes were dropped or skipped)."""
        bad = 0
        if self._buf and _starts_packet(data, 0):
            bad += self._parts
            self._buf.clear()
        prev_len = len(self._buf)
        self._buf += data
        packets = []
        buf = self._buf
        i = 0
        skipped = False
        while len(buf) - i >= 2:
            if _starts_packet(buf, i):
                if len(buf) - i < PACKET_SIZE:
                    break
                packets.append(bytes(buf[i:i + PACKET_SIZE]))
                i += PACKET_SIZE
            else:
                i += 1
                skipped = True
        if len(buf) - i == 1 and buf[i] != HEAD:
            i += 1  # a lone byte that cannot start a packet
            skipped = True
        del buf[:i]
        bad += skipped
        self._parts = 0 if not buf else (1 if i >= prev_len else self._parts + 1)
        return packets, bad

    def reset(self) -> None:
        self._buf.clear()
        self._parts = 0


def _starts_packet(buf: bytes | bytearray, i: int) -> bool:
    return len(buf) - i >= 2 and buf[i] == HEAD and buf[i + 1] in (FLAG_DATA, FLAG_REGISTER)


def decode_data_packets(packets: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(acc m/s^2, gyr rad/s, angles deg (roll, pitch, yaw)), each (N, 3), from 0x61 packets."""
    counts = np.frombuffer(b"".join(p[2:] for p in packets), dtype="<i2").reshape(-1, 9)
    return (counts[:, 0:3] * acc_lsb_mps2(ACC_RANGE_G), counts[:, 3:6] * gyr_lsb_rps(GYR_RANGE_DPS),
            counts[:, 6:9] * ANGLE_LSB_DEG)


def decode_register_reply(packet: bytes) -> tuple[int, tuple[int, ...]]:
    """(start register, the 8 int16 values from it on) of a 0x71 packet."""
    if len(packet) != PACKET_SIZE or packet[:2] != bytes([HEAD, FLAG_REGISTER]):
        raise MalformedFrameError(PROFILE, f"register reply must be {PACKET_SIZE} bytes "
                                           "starting with 55 71", packet)
    start, *values = struct.unpack("<H8h", packet[2:PACKET_SIZE])
    return start, tuple(values)


def encode_data_packet(acc_counts: np.ndarray, gyr_counts: np.ndarray,
                       angle_counts: np.ndarray) -> bytes:
    """One 0x61 packet from int16 counts (3 each)."""
    values = np.concatenate([acc_counts, gyr_counts, angle_counts]).astype("<i2")
    return bytes([HEAD, FLAG_DATA]) + values.tobytes()


def encode_register_reply(start: int, values: list[int]) -> bytes:
    """One 0x71 packet: start register and 8 values (missing ones are 0)."""
    vals = (list(values) + [0] * 8)[:8]
    return bytes([HEAD, FLAG_REGISTER]) + struct.pack("<H8h", start, *vals)


class WitParser(FrameParser):
    """Data packets -> one ImuFrame per notification; register replies are ignored here."""

    def __init__(self) -> None:
        super().__init__()
        self._stream = PacketStream()

    def _parse(self, data: bytes) -> list[ImuFrame]:
        packets, bad = self._stream.feed(data)
        for _ in range(bad):  # the good packets in this notification are still used
            self.reject(MalformedFrameError(PROFILE, "bytes outside 20-byte packets (short "
                                                     "notification or garbage)", data))
        data_packets = [p for p in packets if p[1] == FLAG_DATA]
        if not data_packets:
            return []
        acc, gyr, _ = decode_data_packets(data_packets)
        return [ImuFrame(acc, gyr)]

    def reset(self) -> None:
        self._stream.reset()


class WitSession(DeviceSession):
    """Unlock, set the rate register, read it back, then pass the stream on."""

    profile = PROFILE

    def __init__(self, link) -> None:
        super().__init__(link)
        self._replies = ReplyWaiter(link.name)
        self._stream = PacketStream()
        self._on_data: NotifyCallback | None = None
        self._notifying = False

    async def _ensure_notify(self) -> None:
        """Register replies arrive on the notify characteristic: subscribe before asking."""
        if not self._notifying:
            await self.link.start_notify(NOTIFY_UUID, self._on_notify)
            self._notifying = True

    def _on_notify(self, data: bytes, arrival_s: float) -> None:
        for packet in self._stream.feed(data)[0]:
            if packet[1] == FLAG_REGISTER:
                start, values = decode_register_reply(packet)
                self._replies.resolve(start, values)
        if self._on_data is not None:
            self._on_data(data, arrival_s)

    async def read_register(self, register: int) -> tuple[int, ...]:
        await self._ensure_notify()
        fut = self._replies.expect(register)
        await self.link.write(WRITE_UUID, read_register_command(register), response=False)
        return await self._replies.wait(register, fut, f"read register 0x{register:02x}")

    async def start(self, settings: StreamSettings, on_data: NotifyCallback) -> StreamConfig:
        rate = float(settings.rate_hz or 200.0)
        if rate not in RATE_CODES:
            raise DeviceRefusedError(
                self.link.name, f"stream at {rate:g} Hz", "WitMotion offers only "
                + ", ".join(f"{r:g}" for r in RATE_CODES) + " Hz", "Choose one of those rates.")
        await self._ensure_notify()
        # Unlock first: the vendor iOS/Windows SDKs always do; writes without it are
        # ignored by some firmware. Not saved to flash: the rate is set at every start.
        await self.link.write(WRITE_UUID, UNLOCK, response=False)
        await self.link.write(WRITE_UUID, command(REG_RATE, RATE_CODES[rate]), response=False)
        code = (await self.read_register(REG_RATE))[0]
        if code != RATE_CODES[rate]:
            shown = f"{RATE_OF_CODE[code]:g} Hz" if code in RATE_OF_CODE else f"code 0x{code:02x}"
            raise DeviceRefusedError(self.link.name, f"stream at {rate:g} Hz",
                                     f"its rate register still reads {shown}",
                                     "Power-cycle the sensor and try again.")
        # Samples sent before the new rate took effect are not passed on.
        self._on_data = on_data
        return StreamConfig(rate, ACC_RANGE_G, GYR_RANGE_DPS, seq_source="host arrival (inferred)",
                            details={"rate_code": code})

    async def stop(self) -> None:
        self._on_data = None
        if self._notifying:
            self._notifying = False
            await self.link.stop_notify(NOTIFY_UUID)

    def new_parser(self, config: StreamConfig) -> FrameParser:
        return WitParser()

    async def read_battery(self) -> int | None:
        try:
            centivolts = (await self.read_register(REG_BATTERY_CV))[0]
        except DeviceError:
            return None  # battery is informative only
        return battery_percent(centivolts / 100.0)

    async def read_details(self) -> DeviceDetails:
        return DeviceDetails(model="WitMotion BWT901BLE", manufacturer="WitMotion",
                             battery_percent=await self.read_battery())
