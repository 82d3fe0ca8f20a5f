"""The project's open GATT profile ("PelvisIMU"): specification in firmware_notes/README.md.

One vendor service with three characteristics (128-bit UUIDs on base
eef6xxxx-3111-4bdb-9baf-d2944e7c6b16), plus the SIG Battery and Device Information
services:

- data (notify): a batch of samples per notification,
  `u8 format=1 | u8 n | u16 seq | u32 t_us | n x (i16 ax ay az gx gy gz)`, little-endian;
  seq = free-running sample counter of the first sample (wraps at 2^16),
  t_us = device clock of the first sample in microseconds (wraps at 2^32);
  LSB: acc = range_g * 9.80665 / 32768 m/s^2, gyr = range_dps / 32768 deg/s.
- config (read, write with response): `u16 rate_hz | u8 acc_range_g | u8 0 |
  u16 gyr_range_dps | u8 samples_per_notification | u8 0`; a value the firmware does
  not support is refused with ATT error 0x13 (value not allowed).
- capabilities (read): the rates, ranges and the largest batch the firmware offers.
Streaming runs while notifications on the data characteristic are enabled.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from imu.devices import sig
from imu.devices.base import (DeviceDetails, DeviceSession, FrameParser, ImuFrame,
                              NotifyCallback, StreamConfig, StreamSettings, acc_lsb_mps2,
                              gyr_lsb_rps)
from imu.devices.errors import DeviceRefusedError, GattOperationError, MalformedFrameError

PROFILE = "open"
UUID_BASE = "eef6{:04x}-3111-4bdb-9baf-d2944e7c6b16"
SERVICE_UUID = UUID_BASE.format(0x0001)
DATA_UUID = UUID_BASE.format(0x0002)
CONFIG_UUID = UUID_BASE.format(0x0003)
CAPABILITIES_UUID = UUID_BASE.format(0x0004)
NAME_PREFIX = "PelvisIMU"

FORMAT_ACC_GYR_I16 = 0x01
HEADER = struct.Struct("<BBHI")
CONFIG = struct.Struct("<HBBHBB")
BYTES_PER_SAMPLE = 12
COUNTER_MODULO = 1 << 16
CLOCK_MODULO_S = (1 << 32) * 1e-6
# Notifications at about 33 per second: short enough batching delay (30 ms) for a live
# view, few enough notifications to leave the radio idle most of the time.
BATCH_PERIOD_S = 0.03
DEFAULT_RATE_HZ = 200


@dataclass(frozen=True)
class OpenConfig:
    """The config characteristic."""

    rate_hz: int
    acc_range_g: int
    gyr_range_dps: int
    samples_per_notification: int

    def encode(self) -> bytes:
        return CONFIG.pack(self.rate_hz, self.acc_range_g, 0, self.gyr_range_dps,
                           self.samples_per_notification, 0)

    @classmethod
    def decode(cls, data: bytes) -> "OpenConfig":
        if len(data) != CONFIG.size:
            raise MalformedFrameError(PROFILE, f"config value must be {CONFIG.size} bytes", data)
        rate, acc, _, gyr, spn, _ = CONFIG.unpack(data)
        return cls(rate, acc, gyr, spn)

    def describe(self) -> str:
        return (f"stream at {self.rate_hz} Hz, +-{self.acc_range_g} g, +-{self.gyr_range_dps} deg/s, "
                f"{self.samples_per_notification} samples per notification")


@dataclass(frozen=True)
class OpenCapabilities:
    """The capabilities characteristic."""

    rates_hz: tuple[int, ...]
    acc_ranges_g: tuple[int, ...]
    gyr_ranges_dps: tuple[int, ...]
    max_samples_per_notification: int

    def encode(self) -> bytes:
        return b"".join([
            struct.pack(f"<B{len(self.rates_hz)}H", len(self.rates_hz), *self.rates_hz),
            struct.pack(f"<B{len(self.acc_ranges_g)}B", len(self.acc_ranges_g), *self.acc_ranges_g),
            struct.pack(f"<B{len(self.gyr_ranges_dps)}H", len(self.gyr_ranges_dps),
                        *self.gyr_ranges_dps),
            struct.pack("<B", self.max_samples_per_notification)])

    @classmethod
    def decode(cls, data: bytes) -> "OpenCapabilities":
        pos = 0
        lists = []
        try:
            for fmt in ("H", "B", "H"):
                n = data[pos]
                size = struct.calcsize(f"<{n}{fmt}")
                lists.append(tuple(struct.unpack_from(f"<{n}{fmt}", data, pos + 1)))
                pos += 1 + size
            max_spn = data[pos]
        except (IndexError, struct.error):
            raise MalformedFrameError(PROFILE, "capabilities value is truncated", data) from None
        if not lists[0] or 0 in lists[0]:
            raise MalformedFrameError(PROFILE, "capabilities offer no usable sample rate", data)
        return cls(lists[0], lists[1], lists[2], max_spn)

    def describe(self) -> str:
        return (f"It supports rates {', '.join(map(str, self.rates_hz))} Hz, accelerometer "
                f"ranges +-{'/'.join(map(str, self.acc_ranges_g))} g, gyroscope ranges "
                f"+-{'/'.join(map(str, self.gyr_ranges_dps))} deg/s, up to "
                f"{self.max_samples_per_notification} samples per notification.")


def encode_frame(seq: int, t_us: int, acc_counts: np.ndarray, gyr_counts: np.ndarray) -> bytes:
    """One data notification (what the firmware sends); seq and t_us are wrapped here."""
    n = acc_counts.shape[0]
    body = np.empty((n, 6), dtype="<i2")
    body[:, :3] = acc_counts
    body[:, 3:] = gyr_counts
    return HEADER.pack(FORMAT_ACC_GYR_I16, n, seq % COUNTER_MODULO, t_us % (1 << 32)) + body.tobytes()


def decode_frame(data: bytes, rate_hz: float, acc_range_g: float,
                 gyr_range_dps: float) -> ImuFrame:
    """Decode one data notification with the ranges and rate of the current config."""
    if len(data) < HEADER.size:
        raise MalformedFrameError(PROFILE, f"shorter than the {HEADER.size}-byte header", data)
    fmt, n, seq, t_us = HEADER.unpack_from(data)
    if fmt != FORMAT_ACC_GYR_I16:
        raise MalformedFrameError(PROFILE, f"unknown frame format {fmt}", data)
    if n == 0 or len(data) != HEADER.size + BYTES_PER_SAMPLE * n:
        raise MalformedFrameError(
            PROFILE, f"header announces {n} samples ({HEADER.size + BYTES_PER_SAMPLE * n} bytes)",
            data)
    counts = np.frombuffer(data, dtype="<i2", offset=HEADER.size).reshape(n, 6)
    acc = counts[:, :3] * acc_lsb_mps2(acc_range_g)
    gyr = counts[:, 3:] * gyr_lsb_rps(gyr_range_dps)
    times = t_us * 1e-6 + np.arange(n) / rate_hz
    return ImuFrame(acc, gyr, counter=seq, counter_modulo=COUNTER_MODULO,
                    device_time_s=times, device_time_modulo_s=CLOCK_MODULO_S)


def batch_size(rate_hz: float, max_samples: int) -> int:
    """Samples per notification for a rate: about BATCH_PERIOD_S of data, within the limit."""
    return max(1, min(max_samples, int(round(rate_hz * BATCH_PERIOD_S))))


class OpenParser(FrameParser):
    def __init__(self, config: StreamConfig) -> None:
        super().__init__()
        self._args = (config.rate_hz, config.acc_range_g, config.gyr_range_dps)

    def _parse(self, data: bytes) -> list[ImuFrame]:
        return [decode_frame(data, *self._args)]


class OpenSession(DeviceSession):
    """Configure with a write to the config characteristic, stream while subscribed."""

    profile = PROFILE

    async def start(self, settings: StreamSettings, on_data: NotifyCallback) -> StreamConfig:
        caps = OpenCapabilities.decode(await self.link.read(CAPABILITIES_UUID))
        current = OpenConfig.decode(await self.link.read(CONFIG_UUID))
        # Default: the offered rate nearest 200 Hz (IMUs often offer 208 instead).
        rate = int(round(settings.rate_hz)) if settings.rate_hz else \
            min(caps.rates_hz, key=lambda r: abs(r - DEFAULT_RATE_HZ))
        want = OpenConfig(
            rate_hz=rate,
            acc_range_g=int(settings.acc_range_g or current.acc_range_g),
            gyr_range_dps=int(settings.gyr_range_dps or current.gyr_range_dps),
            samples_per_notification=batch_size(rate, caps.max_samples_per_notification))
        try:
            await self.link.write(CONFIG_UUID, want.encode(), response=True)
        except GattOperationError as exc:
            raise DeviceRefusedError(self.link.name, want.describe(), exc.problem,
                                     caps.describe()) from None
        got = OpenConfig.decode(await self.link.read(CONFIG_UUID))
        if got != want:
            raise DeviceRefusedError(self.link.name, want.describe(),
                                     f"it kept the configuration ({got.describe()})",
                                     caps.describe())
        await self.link.start_notify(DATA_UUID, on_data)
        return StreamConfig(float(got.rate_hz), float(got.acc_range_g), float(got.gyr_range_dps),
                            seq_source="device counter",
                            details={"samples_per_notification": got.samples_per_notification})

    async def stop(self) -> None:
        await self.link.stop_notify(DATA_UUID)

    def new_parser(self, config: StreamConfig) -> FrameParser:
        return OpenParser(config)

    async def read_details(self) -> DeviceDetails:
        return await sig.read_device_information(self.link)

    async def read_battery(self) -> int | None:
        return await sig.read_battery_level(self.link)

