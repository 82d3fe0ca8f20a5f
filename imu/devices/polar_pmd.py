"""Polar Measurement Data (PMD) byte codecs: control point, settings, data frames, deltas.

Facts (../shared/device-protocols.md section 3; Polar's PMD specification PDF and the
polar-ble-sdk Android sources PmdControlPointCommand/Response, PmdSetting,
BlePMDClient.parseDeltaFramesAll, AccData, GyrData, PmdTimeStampUtils):
- Control point FB005C81 (write, indicate): `u8 opcode | u8 measurement type | params`;
  responses are indications `F0 | opcode | type | status | more | params`.
- Settings TLV: `u8 setting type | u8 count | count x value` (sample rate u16 Hz,
  resolution u16 bits, range u16, channels u8, factor f32 (responses only)).
- Data frame on FB005C82: `u8 type | u64 timestamp of the LAST sample, ns since
  2000-01-01 | u8 frame type (bit 7 = delta compressed) | samples`.
- Delta frame: a reference sample (channels x ceil(resolution/8) bytes, signed LE), then
  blocks `u8 delta width | u8 count | deltas`, bit-packed LSB first, channel order x,y,z,
  each delta a two's-complement number of `width` bits added to the previous sample.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from imu.devices.errors import MalformedFrameError

PROFILE = "polar"
SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

TYPE_ECG, TYPE_PPG, TYPE_ACC, TYPE_PPI, TYPE_GYRO, TYPE_MAG, TYPE_SDK_MODE = 0, 1, 2, 3, 5, 6, 9
TYPE_NAMES = {TYPE_ECG: "ECG", TYPE_PPG: "PPG", TYPE_ACC: "accelerometer", TYPE_PPI: "PPI",
              TYPE_GYRO: "gyroscope", TYPE_MAG: "magnetometer", TYPE_SDK_MODE: "SDK mode"}
OP_GET_SETTINGS, OP_START, OP_STOP = 1, 2, 3
CP_RESPONSE = 0xF0

SET_SAMPLE_RATE, SET_RESOLUTION, SET_RANGE, SET_RANGE_MILLI, SET_CHANNELS, SET_FACTOR = range(6)
SET_SECURITY = 6
_SETTING_FORMATS = {SET_SAMPLE_RATE: "H", SET_RESOLUTION: "H", SET_RANGE: "H",
                    SET_RANGE_MILLI: "I", SET_CHANNELS: "B", SET_FACTOR: "f", SET_SECURITY: "16s"}

STATUS_NAMES = {0: "success", 1: "invalid op code", 2: "invalid measurement type",
                3: "not supported", 4: "invalid length", 5: "invalid parameter",
                6: "already in state", 7: "invalid resolution", 8: "invalid sample rate",
                9: "invalid range", 10: "invalid MTU", 11: "invalid number of channels",
                12: "invalid state", 13: "device in charger", 14: "disk full"}

FRAME_HEADER = struct.Struct("<BQB")
COMPRESSED = 0x80
# Sample times are int64 nanoseconds downstream; no real clock is anywhere near this.
MAX_TIMESTAMP_NS = (1 << 63) - 1
# Seconds from the Unix epoch to Polar's epoch 2000-01-01T00:00:00 (for display only).
POLAR_EPOCH_UNIX_S = 946684800


@dataclass(frozen=True)
class CpResponse:
    """A control-point indication answering a command."""

    opcode: int
    measurement_type: int
    status: int
    more: bool
    params: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"status {self.status}")


def encode_settings(settings: dict[int, list]) -> bytes:
    """Settings TLV in the given order."""
    out = bytearray()
    for kind, values in settings.items():
        fmt = _SETTING_FORMATS[kind]
        out += bytes([kind, len(values)]) + b"".join(struct.pack("<" + fmt, v) for v in values)
    return bytes(out)


def decode_settings(data: bytes) -> dict[int, list]:
    """Settings TLV -> {setting type: [values]}."""
    out: dict[int, list] = {}
    pos = 0
    try:
        while pos < len(data):
            kind, count = data[pos], data[pos + 1]
            fmt = "<" + _SETTING_FORMATS[kind]
            size = struct.calcsize(fmt)
            out[kind] = [struct.unpack_from(fmt, data, pos + 2 + i * size)[0] for i in range(count)]
            pos += 2 + count * size
    except (IndexError, KeyError, struct.error):
        raise MalformedFrameError(PROFILE, f"settings are not a valid TLV list at byte {pos}",
                                  data) from None
    return out


def encode_get_settings(measurement_type: int) -> bytes:
    return bytes([OP_GET_SETTINGS, measurement_type])


def encode_start(measurement_type: int, settings: dict[int, list] | None = None) -> bytes:
    return bytes([OP_START, measurement_type]) + encode_settings(settings or {})


def encode_stop(measurement_type: int) -> bytes:
    return bytes([OP_STOP, measurement_type])


def decode_factor(params: bytes) -> float:
    """The FACTOR setting of a start response (1.0 when absent): counts -> unit."""
    values = decode_settings(params).get(SET_FACTOR, [1.0])
    if not values or not (np.isfinite(values[0]) and values[0] > 0):
        raise MalformedFrameError(PROFILE, f"start response holds no usable factor "
                                           f"({values[0] if values else 'empty'})", params)
    return float(values[0])


def decode_cp_response(data: bytes) -> CpResponse:
    if len(data) < 4 or data[0] != CP_RESPONSE:
        raise MalformedFrameError(PROFILE, "not a control-point response", data)
    more = len(data) > 4 and data[4] != 0
    return CpResponse(data[1], data[2], data[3], more, bytes(data[5:]))


def encode_cp_response(opcode: int, measurement_type: int, status: int,
                       params: bytes = b"") -> bytes:
    return bytes([CP_RESPONSE, opcode, measurement_type, status, 0]) + params


def decode_frame_header(data: bytes) -> tuple[int, int, int, bytes]:
    """(measurement type, timestamp_ns of the last sample, frame type byte, payload)."""
    if len(data) <= FRAME_HEADER.size:
        raise MalformedFrameError(PROFILE, f"data frame shorter than its "
                                           f"{FRAME_HEADER.size}-byte header plus samples", data)
    mtype, t_ns, frame_type = FRAME_HEADER.unpack_from(data)
    if t_ns > MAX_TIMESTAMP_NS:
        raise MalformedFrameError(PROFILE, f"timestamp {t_ns} ns is past the year 2292 "
                                           "(beyond int64 nanoseconds)", data)
    return mtype & 0x3F, t_ns, frame_type, bytes(data[FRAME_HEADER.size:])


def encode_frame(measurement_type: int, timestamp_ns: int, frame_type: int, payload: bytes) -> bytes:
    return FRAME_HEADER.pack(measurement_type, timestamp_ns, frame_type) + payload


def decode_raw_int16(payload: bytes, channels: int = 3) -> np.ndarray:
    """Raw frame of int16 samples (ACC frame type 0x01, values in mG)."""
    if len(payload) % (2 * channels):
        raise MalformedFrameError(PROFILE, "raw frame is not a whole number of samples", payload)
    return np.frombuffer(payload, dtype="<i2").reshape(-1, channels).astype(np.int64)


def decode_delta_frames(payload: bytes, channels: int = 3, resolution_bits: int = 16) -> np.ndarray:
    """Delta-compressed samples -> int64 array (N, channels)."""
    ref_size = (resolution_bits + 7) // 8
    head = channels * ref_size
    if len(payload) < head:
        raise MalformedFrameError(PROFILE, "delta frame shorter than its reference sample", payload)
    ref = [int.from_bytes(payload[i * ref_size:(i + 1) * ref_size], "little", signed=True)
           for i in range(channels)]
    rows = [ref]
    pos = head
    while pos < len(payload):
        if pos + 2 > len(payload):
            raise MalformedFrameError(PROFILE, f"delta block header cut at byte {pos}", payload)
        width, count = payload[pos], payload[pos + 1]
        nbytes = (width * count * channels + 7) // 8
        if width == 0 or width > 32 or pos + 2 + nbytes > len(payload):
            raise MalformedFrameError(PROFILE, f"delta block at byte {pos} (width {width}, "
                                               f"{count} samples) does not fit the frame", payload)
        bits = int.from_bytes(payload[pos + 2:pos + 2 + nbytes], "little")
        mask, sign = (1 << width) - 1, 1 << (width - 1)
        prev = rows[-1]
        for s in range(count):
            sample = []
            for c in range(channels):
                v = (bits >> ((s * channels + c) * width)) & mask
                sample.append(prev[c] + (v - (1 << width) if v & sign else v))
            rows.append(sample)
            prev = sample
        pos += 2 + nbytes
    return np.asarray(rows, dtype=np.int64)


def _width(deltas: np.ndarray) -> int:
    """Bits of the smallest two's-complement field holding every delta (at least 1)."""
    lo, hi = int(deltas.min(initial=0)), int(deltas.max(initial=0))
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def encode_delta_frames(samples: np.ndarray, resolution_bits: int = 16,
                        block_samples: int = 32) -> bytes:
    """Delta-compress int samples (N >= 1, channels): reference, then blocks of deltas."""
    samples = np.asarray(samples, dtype=np.int64)
    ref_size = (resolution_bits + 7) // 8
    out = bytearray(b"".join(int(v).to_bytes(ref_size, "little", signed=True)
                             for v in samples[0]))
    deltas = np.diff(samples, axis=0)
    channels = samples.shape[1]
    for start in range(0, deltas.shape[0], block_samples):
        block = deltas[start:start + block_samples]
        width = _width(block)
        mask = (1 << width) - 1
        bits = 0
        for i, v in enumerate(block.reshape(-1)):
            bits |= (int(v) & mask) << (i * width)
        nbytes = (width * block.shape[0] * channels + 7) // 8
        out += bytes([width, block.shape[0]]) + bits.to_bytes(nbytes, "little")
    return bytes(out)
