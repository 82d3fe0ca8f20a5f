"""Movesense over the GATT SensorData Protocol (GSP), IMU6 subscription.

Facts (../shared/device-protocols.md section 2; Movesense GSP docs and the official
python datalogger tool; hardware notes of sokolmarek/movesense-commander):
- Service 34802252-7185-4d5d-b431-630e7050e8f0; commands are written to 34800001-...,
  replies and data are notified on 34800002-... .
- Command = `u8 code | u8 reference | payload`: 0 HELLO, 1 SUBSCRIBE <path NUL>,
  2 UNSUBSCRIBE, 4 GET <path NUL>. Notification = `u8 code | u8 reference | ...`:
  code 1 = command result `u16 status (HTTP style) | data`, code 2 = DATA,
  code 3 = DATA_PART2 (continuation of the previous DATA of that reference).
- /Meas/IMU6/{rate} DATA: `u32 timestamp_ms (first sample) | N x f32 acc xyz (m/s^2) |
  N x f32 gyro xyz (deg/s)`, arrays one after the other, N not sent.
- Rates 13, 26, 52, 104, 208, 416, 833, 1666 Hz; an unsupported rate answers 501.
  GET /System/Energy/Level answers a u8 battery percent.
- Names are "Movesense <serial>"; the GSP service UUID is not advertised.
"""

from __future__ import annotations

import struct

import numpy as np

from imu import GRAVITY_MPS2
from imu.devices.base import (DeviceDetails, DeviceSession, FrameParser, ImuFrame,
                              NotifyCallback, StreamConfig, StreamSettings)
from imu.devices.errors import DeviceError, DeviceRefusedError, MalformedFrameError
from imu.devices.replies import ReplyWaiter

PROFILE = "movesense"
SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"
NAME_PREFIX = "Movesense"

CMD_HELLO, CMD_SUBSCRIBE, CMD_UNSUBSCRIBE, CMD_GET = 0, 1, 2, 4
RESP_RESULT, RESP_DATA, RESP_DATA_PART2 = 1, 2, 3
RATES_HZ = (13, 26, 52, 104, 208, 416, 833, 1666)
CLOCK_MODULO_S = (1 << 32) * 1e-3
ENERGY_PATH = "/System/Energy/Level"
IMU6_HEAD = struct.Struct("<I")

STATUS_TEXT = {200: "OK", 202: "accepted", 400: "bad request", 404: "resource not found",
               409: "conflict", 429: "too many requests (its request pool is exhausted)",
               501: "not implemented (unsupported rate or resource)",
               503: "service unavailable"}

# Largest ranges Movesense offers (+-16 g, +-2000 deg/s), with room for factory calibration
# gain; a float beyond them (or NaN/inf) can only be a damaged notification.
MAX_ACC_MPS2 = 1.1 * 16 * GRAVITY_MPS2
MAX_GYR_DPS = 1.1 * 2000.0
# An IMU6 message at 1666 Hz carries a handful of samples; 100 samples take 2404 bytes.
# A split message longer than this is garbage, and must not grow without bound.
MAX_IMU6_PAYLOAD = 4096

# Client references: fixed per purpose so replies can be matched (any non-zero byte works).
REF_HELLO, REF_IMU, REF_BATTERY = 0x01, 0x63, 0x02


def imu6_path(rate_hz: int) -> str:
    return f"/Meas/IMU6/{rate_hz}"


def encode_command(code: int, ref: int, path: str | None = None) -> bytes:
    """A GSP command; paths are UTF-8 with the terminating NUL the official tool sends."""
    body = b"" if path is None else path.encode("utf-8") + b"\x00"
    return bytes([code, ref]) + body


def decode_result(data: bytes) -> tuple[int, int, bytes]:
    """(reference, status, data) of a code-1 command result (not valid for HELLO)."""
    if len(data) < 4 or data[0] != RESP_RESULT:
        raise MalformedFrameError(PROFILE, "not a command result", data)
    return data[1], struct.unpack_from("<H", data, 2)[0], bytes(data[4:])


def encode_result(ref: int, status: int, payload: bytes = b"") -> bytes:
    return bytes([RESP_RESULT, ref]) + struct.pack("<H", status) + payload


def decode_hello(data: bytes) -> dict:
    """HELLO reply: u8 protocol version then NUL-separated serial, product, DFU MAC, app
    name, app version (no status field)."""
    fields = bytes(data[3:]).split(b"\x00")
    names = ("serial", "product", "dfu_mac", "app_name", "app_version")
    out = {"protocol_version": data[2] if len(data) > 2 else None}
    out.update({k: v.decode("utf-8", "replace") for k, v in zip(names, fields)})
    return out


def encode_imu6(ref: int, timestamp_ms: int, acc_mps2: np.ndarray, gyr_dps: np.ndarray) -> bytes:
    """A DATA notification for /Meas/IMU6 (what the sensor sends; values as float32)."""
    return (bytes([RESP_DATA, ref]) + IMU6_HEAD.pack(timestamp_ms % (1 << 32))
            + np.asarray(acc_mps2, dtype="<f4").tobytes()
            + np.asarray(gyr_dps, dtype="<f4").tobytes())


def decode_imu6(payload: bytes, rate_hz: float) -> ImuFrame:
    """Decode an IMU6 DATA payload (bytes after code and reference)."""
    n, rest = divmod(len(payload) - IMU6_HEAD.size, 24)
    if n < 1 or rest:
        raise MalformedFrameError(PROFILE, "IMU6 payload is not a u32 timestamp plus whole "
                                           "acc+gyro sample pairs", payload)
    (t_ms,) = IMU6_HEAD.unpack_from(payload)
    values = np.frombuffer(payload, dtype="<f4", offset=IMU6_HEAD.size).astype(np.float64)
    acc = values[:3 * n].reshape(n, 3)
    gyr_dps = values[3 * n:].reshape(n, 3)
    if not (np.all(np.abs(acc) <= MAX_ACC_MPS2) and np.all(np.abs(gyr_dps) <= MAX_GYR_DPS)):
        raise MalformedFrameError(PROFILE, "IMU6 values are NaN, infinite or beyond the "
                                           "sensor's range (+-16 g, +-2000 deg/s)", payload)
    gyr = np.radians(gyr_dps)
    times = t_ms * 1e-3 + np.arange(n) / rate_hz
    return ImuFrame(acc, gyr, device_time_s=times, device_time_modulo_s=CLOCK_MODULO_S)


def _is_whole_imu6(payload: bytes) -> bool:
    n, rest = divmod(len(payload) - IMU6_HEAD.size, 24)
    return n >= 1 and rest == 0


class MovesenseParser(FrameParser):
    """DATA (and DATA_PART2 continuations) of the IMU subscription -> frames."""

    def __init__(self, rate_hz: float, ref: int = REF_IMU) -> None:
        super().__init__()
        self._rate = rate_hz
        self._ref = ref
        self._partial = b""

    def _parse(self, data: bytes) -> list[ImuFrame]:
        if len(data) < 2 or data[1] != self._ref or data[0] not in (RESP_DATA, RESP_DATA_PART2):
            if len(data) >= 2 and data[0] == RESP_RESULT:
                return []  # a command result: the session handles those
            raise MalformedFrameError(PROFILE, "not DATA of the IMU subscription", data)
        if data[0] == RESP_DATA:
            if self._partial:
                partial, self._partial = self._partial, b""
                self.reject(MalformedFrameError(PROFILE, "DATA part without its continuation",
                                                partial))
            payload = bytes(data[2:])
        else:
            if not self._partial:
                raise MalformedFrameError(PROFILE, "DATA_PART2 without a preceding DATA", data)
            payload, self._partial = self._partial + bytes(data[2:]), b""
        # How the sensor splits a long message is not documented: a payload that is not a
        # whole number of samples is taken as the first part of a split message.
        if not _is_whole_imu6(payload):
            if len(payload) > MAX_IMU6_PAYLOAD:
                raise MalformedFrameError(PROFILE, f"split IMU6 message longer than "
                                                   f"{MAX_IMU6_PAYLOAD} bytes", payload)
            self._partial = payload
            return []
        return [decode_imu6(payload, self._rate)]

    def reset(self) -> None:
        self._partial = b""


def status_reason(status: int) -> str:
    return f"status {status} {STATUS_TEXT.get(status, '')}".strip()


class MovesenseSession(DeviceSession):
    """HELLO, GET the battery, SUBSCRIBE /Meas/IMU6/<rate>."""

    profile = PROFILE

    def __init__(self, link) -> None:
        super().__init__(link)
        self._replies = ReplyWaiter(link.name)
        self._on_data: NotifyCallback | None = None
        self._subscribed = False
        self._notifying = False

    def _on_notify(self, data: bytes, arrival_s: float) -> None:
        if len(data) >= 2 and data[0] == RESP_RESULT:
            self._replies.resolve(data[1], bytes(data))
        elif self._on_data is not None:
            self._on_data(data, arrival_s)

    async def _ensure_notify(self) -> None:
        if not self._notifying:
            await self.link.start_notify(DATA_UUID, self._on_notify)
            self._notifying = True

    async def _command(self, code: int, ref: int, path: str | None, what: str) -> bytes:
        await self._ensure_notify()
        fut = self._replies.expect(ref)
        await self.link.write(COMMAND_UUID, encode_command(code, ref, path), response=True)
        return await self._replies.wait(ref, fut, what)

    async def start(self, settings: StreamSettings, on_data: NotifyCallback) -> StreamConfig:
        rate = int(round(settings.rate_hz)) if settings.rate_hz else 208
        path = imu6_path(rate)
        self._on_data = on_data
        _, status, _ = decode_result(await self._command(CMD_SUBSCRIBE, REF_IMU, path,
                                                         f"subscribe {path}"))
        if status != 200:
            self._on_data = None
            hint = ("Supported IMU rates: " + ", ".join(map(str, RATES_HZ)) + " Hz."
                    if status == 501 else
                    "Reboot the sensor (it answers 429 until restarted)." if status == 429 else None)
            raise DeviceRefusedError(self.link.name, f"subscribe {path}", status_reason(status), hint)
        self._subscribed = True
        return StreamConfig(float(rate), None, None, seq_source="device timestamp",
                            details={"resource": path})

    async def stop(self) -> None:
        self._on_data = None
        if self._subscribed:
            self._subscribed = False
            await self.link.write(COMMAND_UUID, encode_command(CMD_UNSUBSCRIBE, REF_IMU),
                                  response=True)

    def new_parser(self, config: StreamConfig) -> FrameParser:
        return MovesenseParser(config.rate_hz)

    async def read_battery(self) -> int | None:
        try:
            _, status, payload = decode_result(
                await self._command(CMD_GET, REF_BATTERY, ENERGY_PATH, f"GET {ENERGY_PATH}"))
        except DeviceError:
            return None  # battery is informative only
        return int(payload[0]) if status == 200 and payload else None

    async def read_details(self) -> DeviceDetails:
        try:
            hello = decode_hello(await self._command(CMD_HELLO, REF_HELLO, None, "HELLO"))
        except DeviceError:
            hello = {}
        return DeviceDetails(model=hello.get("product", "Movesense"),
                             serial=hello.get("serial", ""), firmware=hello.get("app_version", ""),
                             manufacturer="Movesense", battery_percent=await self.read_battery())
