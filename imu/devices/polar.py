"""Polar Verity Sense: accelerometer + gyroscope over PMD (codecs in polar_pmd).

- Recognised by its advertised name "Polar Sense <id>". Polar H10 / OH1 stream only
  the accelerometer (no gyroscope), so they cannot give pelvic rotation: the scanner
  lists them as unsupported.
- Verity Sense offers 52 Hz in normal mode and 26-416 Hz in "SDK mode" (PMD
  measurement type 9), which this session enters for any other rate.
- Accelerometer and gyroscope arrive as separate delta-compressed frames, each stamped
  with the device time of its last sample (ns since 2000-01-01). Samples are paired by
  device time; a sample whose partner was lost is dropped (never invented).
- Writes to the control point may need a paired (bonded) link on some hosts; the device
  then answers "Not paired" / insufficient authentication.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from imu import GRAVITY_MPS2
from imu.devices import polar_pmd as pmd
from imu.devices import sig
from imu.devices.base import (DeviceDetails, DeviceSession, FrameParser, ImuFrame,
                              NotifyCallback, StreamConfig, StreamSettings)
from imu.devices.errors import DeviceRefusedError, GattOperationError, MalformedFrameError
from imu.devices.replies import ReplyWaiter

PROFILE = "polar"
NAME_PREFIX = "Polar Sense"
ACC_ONLY_PREFIXES = ("Polar H10", "Polar OH1", "Polar H9")
NORMAL_RATE_HZ = 52
SDK_RATES_HZ = (26, 52, 104, 208, 416)
DEFAULT_RATE_HZ = 208
ACC_RANGE_G = 8
GYR_RANGE_DPS = 2000
RESOLUTION_BITS = 16
PAIR_HINT = ("Pair the sensor once (`bluetoothctl pair ADDRESS`, or `pelvis-monitor record "
             "--pair`) and try again.")
# A sample waits this long for its partner from the other stream before it is dropped.
PAIRING_WINDOW_S = 3.0


def acc_factor_mps2(factor: float) -> float:
    """m/s^2 per count of a delta-compressed accelerometer frame (factor is in g)."""
    return factor * GRAVITY_MPS2


def gyr_factor_rps(factor: float) -> float:
    """rad/s per count of a delta-compressed gyroscope frame (factor is in deg/s)."""
    return float(np.radians(factor))


def sample_times_ns(t_last_ns: int, n: int, prev_last_ns: int | None, rate_hz: float) -> np.ndarray:
    """Device times of the n samples of a frame whose last sample is at t_last_ns.

    As the vendor SDK: spacing = (t_last - previous frame's t_last) / n, or the nominal
    interval for the first frame. Unlike the SDK, the nominal interval is also used when
    that spacing is off by more than 10 % (a frame was lost or the clock jumped), so lost
    frames stay a gap instead of stretching the samples.
    """
    nominal = 1e9 / rate_hz
    step = nominal
    if prev_last_ns is not None:
        measured = (t_last_ns - prev_last_ns) / n
        if abs(measured - nominal) <= 0.1 * nominal:
            step = measured
    return t_last_ns - np.round((n - 1 - np.arange(n)) * step).astype(np.int64)


class PolarParser(FrameParser):
    """ACC and GYRO frames -> paired 6-axis ImuFrames (one per contiguous run)."""

    def __init__(self, rate_hz: float, acc_factor: float, gyr_factor: float) -> None:
        super().__init__()
        self._rate = rate_hz
        self._lsb = {pmd.TYPE_ACC: acc_factor_mps2(acc_factor),
                     pmd.TYPE_GYRO: gyr_factor_rps(gyr_factor)}
        self._prev_last: dict[int, int | None] = {pmd.TYPE_ACC: None, pmd.TYPE_GYRO: None}
        self._queues: dict[int, deque] = {pmd.TYPE_ACC: deque(), pmd.TYPE_GYRO: deque()}
        self._epoch_ns: int | None = None
        self._max_queued = int(2 * PAIRING_WINDOW_S * rate_hz) + 64
        self.unpaired = 0

    def _decode(self, data: bytes) -> tuple[int, np.ndarray, np.ndarray]:
        mtype, t_ns, frame_type, payload = pmd.decode_frame_header(data)
        if mtype not in self._lsb:
            raise MalformedFrameError(PROFILE, f"unexpected measurement type {mtype}", data)
        if frame_type == pmd.COMPRESSED:  # compressed frame type 0: counts x factor
            counts = pmd.decode_delta_frames(payload, 3, RESOLUTION_BITS)
            values = counts * self._lsb[mtype]
        elif frame_type == 0x01 and mtype == pmd.TYPE_ACC:  # raw int16 in mG (H10)
            values = pmd.decode_raw_int16(payload) * (1e-3 * GRAVITY_MPS2)
        else:
            raise MalformedFrameError(PROFILE, f"unsupported frame type 0x{frame_type:02x} "
                                               f"for {pmd.TYPE_NAMES[mtype]}", data)
        times = sample_times_ns(t_ns, values.shape[0], self._prev_last[mtype], self._rate)
        self._prev_last[mtype] = t_ns
        return mtype, times, values

    def _parse(self, data: bytes) -> list[ImuFrame]:
        mtype, times, values = self._decode(data)
        queue = self._queues[mtype]
        queue.extend(zip(times.tolist(), values))
        return self._pair()

    def _pair(self) -> list[ImuFrame]:
        acc_q, gyr_q = self._queues[pmd.TYPE_ACC], self._queues[pmd.TYPE_GYRO]
        half = 0.5e9 / self._rate
        out_t, out_a, out_g = [], [], []
        while acc_q and gyr_q:
            ta, tg = acc_q[0][0], gyr_q[0][0]
            if abs(ta - tg) <= half:
                out_t.append(ta)
                out_a.append(acc_q.popleft()[1])
                out_g.append(gyr_q.popleft()[1])
            else:
                (acc_q if ta < tg else gyr_q).popleft()
                self.unpaired += 1
        for q in (acc_q, gyr_q):  # a stream that stalls must not hold the other forever
            # (by count too: a device repeating one timestamp never spans the window)
            while q and (q[-1][0] - q[0][0] > PAIRING_WINDOW_S * 1e9
                         or len(q) > self._max_queued):
                q.popleft()
                self.unpaired += 1
        if not out_t:
            return []
        if self._epoch_ns is None:
            self._epoch_ns = out_t[0]  # seconds relative to this keep float precision
        t = (np.asarray(out_t, dtype=np.int64) - self._epoch_ns) * 1e-9
        acc, gyr = np.asarray(out_a), np.asarray(out_g)
        cuts = np.flatnonzero(np.diff(t) > 1.5 / self._rate) + 1
        bounds = [0, *cuts.tolist(), len(t)]
        return [ImuFrame(acc[a:b], gyr[a:b], device_time_s=t[a:b]) for a, b in zip(bounds[:-1],
                                                                                   bounds[1:])]

    def reset(self) -> None:
        for q in self._queues.values():
            q.clear()
        self._prev_last = {k: None for k in self._prev_last}


class PolarSession(DeviceSession):
    """(SDK mode,) start ACC and GYRO with 16-bit resolution, read the FACTOR of each."""

    profile = PROFILE

    def __init__(self, link) -> None:
        super().__init__(link)
        self._replies = ReplyWaiter(link.name)
        self._started: list[int] = []
        self._sdk_mode = False
        self.stopped_by_device: list[int] = []

    def _on_control(self, data: bytes, arrival_s: float) -> None:
        if data and data[0] == pmd.CP_RESPONSE and len(data) >= 4:
            self._replies.resolve((data[1], data[2]), pmd.decode_cp_response(data))
        elif len(data) >= 2 and data[0] == 0x01:
            self.stopped_by_device.append(data[1])  # the device ended a stream by itself

    async def _command(self, payload: bytes, what: str) -> pmd.CpResponse:
        key = (payload[0], payload[1])
        fut = self._replies.expect(key)
        try:
            await self.link.write(pmd.CONTROL_UUID, payload, response=True)
        except GattOperationError as exc:
            hint = PAIR_HINT if exc.att_code in (0x05, 0x0F) else exc.hint
            raise DeviceRefusedError(self.link.name, what, exc.problem, hint) from None
        return await self._replies.wait(key, fut, what)

    async def _checked(self, payload: bytes, what: str, hint: str | None = None) -> pmd.CpResponse:
        resp = await self._command(payload, what)
        if not resp.ok and resp.status != 6:  # 6 = already in state
            raise DeviceRefusedError(self.link.name, what, resp.status_name, hint)
        return resp

    async def _start_measurement(self, mtype: int, rate: int, rng: int) -> float:
        name = pmd.TYPE_NAMES[mtype]
        offered = pmd.decode_settings((await self._checked(
            pmd.encode_get_settings(mtype), f"list the {name} settings")).params)
        rates = offered.get(pmd.SET_SAMPLE_RATE, [])
        ranges = offered.get(pmd.SET_RANGE, [])
        if rates and rate not in rates:
            raise DeviceRefusedError(self.link.name, f"stream the {name} at {rate} Hz",
                                     f"it offers {', '.join(map(str, rates))} Hz",
                                     "Choose one of those rates.")
        if ranges and rng not in ranges:
            rng = max(ranges)
        settings = {pmd.SET_SAMPLE_RATE: [rate], pmd.SET_RESOLUTION: [RESOLUTION_BITS],
                    pmd.SET_RANGE: [rng], pmd.SET_CHANNELS: [3]}
        resp = await self._checked(pmd.encode_start(mtype, settings),
                                   f"start the {name} at {rate} Hz")
        self._started.append(mtype)
        return pmd.decode_factor(resp.params)

    async def start(self, settings: StreamSettings, on_data: NotifyCallback) -> StreamConfig:
        rate = int(round(settings.rate_hz)) if settings.rate_hz else DEFAULT_RATE_HZ
        await self.link.start_notify(pmd.CONTROL_UUID, self._on_control)
        await self.link.start_notify(pmd.DATA_UUID, on_data)
        note = ""
        if rate != NORMAL_RATE_HZ:
            resp = await self._command(pmd.encode_start(pmd.TYPE_SDK_MODE), "enter SDK mode")
            if resp.ok or resp.status == 6:
                self._sdk_mode = True
            elif settings.rate_hz:
                raise DeviceRefusedError(self.link.name, f"enter SDK mode for {rate} Hz",
                                         resp.status_name,
                                         f"Without SDK mode it streams at {NORMAL_RATE_HZ} Hz.")
            else:
                rate, note = NORMAL_RATE_HZ, f"SDK mode refused ({resp.status_name}); 52 Hz"
        acc_factor = await self._start_measurement(pmd.TYPE_ACC, rate, int(settings.acc_range_g
                                                                           or ACC_RANGE_G))
        gyr_factor = await self._start_measurement(pmd.TYPE_GYRO, rate, int(settings.gyr_range_dps
                                                                            or GYR_RANGE_DPS))
        details = {"acc_factor_g": acc_factor, "gyr_factor_dps": gyr_factor,
                   "sdk_mode": self._sdk_mode}
        if note:
            details["note"] = note
        return StreamConfig(float(rate), float(settings.acc_range_g or ACC_RANGE_G),
                            float(settings.gyr_range_dps or GYR_RANGE_DPS),
                            seq_source="device timestamp", details=details)

    async def stop(self) -> None:
        for mtype in reversed(self._started):
            await self._command(pmd.encode_stop(mtype), f"stop the {pmd.TYPE_NAMES[mtype]}")
        self._started.clear()
        if self._sdk_mode:
            self._sdk_mode = False
            await self._command(pmd.encode_stop(pmd.TYPE_SDK_MODE), "leave SDK mode")

    def new_parser(self, config: StreamConfig) -> FrameParser:
        return PolarParser(config.rate_hz, config.details["acc_factor_g"],
                           config.details["gyr_factor_dps"])

    async def read_details(self) -> DeviceDetails:
        return await sig.read_device_information(self.link)

    async def read_battery(self) -> int | None:
        return await sig.read_battery_level(self.link)
