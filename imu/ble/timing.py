"""Sample times and losses from device clocks, counters and host arrival times.

Two parts, both pure (no I/O, no wall clock: times are passed in):

- `ClockModel` maps device-clock seconds to host seconds. Arrival times are the send
  times plus a latency that is never negative and often much larger (connection
  interval, batching, scheduling), so the model follows the LOWER envelope of
  (arrival - device time): the minimum per bucket of device time, with a straight line
  (offset + drift) fitted through the last minute of minima. The output mapping slews
  towards that line instead of jumping, so sample intervals stay smooth and strictly
  increasing.
- `SampleTimeline` places each decoded frame: unwraps the device's counter and clock,
  counts the samples lost before the frame (exactly from a counter or timestamps,
  estimated from arrival times for devices without either), marks gaps and gives every
  sample its session time. Samples are never invented: a loss is a gap. With a
  counter, out-of-order notifications are put back in order (a frame after a counter
  gap waits briefly for the missing ones), duplicates are dropped, and a device clock
  that jumps while the counter runs on is re-based instead of read as a loss.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from imu.devices.base import ImuFrame


@dataclass(frozen=True)
class TimingSettings:
    """Timing reconstruction parameters (seconds unless named otherwise)."""

    bucket_s: float = 1.0
    """Lower-envelope bucket: one second holds ~30 notifications over many connection
    events, so at least one of them arrives with near-minimal latency."""
    window_buckets: int = 60
    """Drift is fitted over the last minute: crystal drift changes over minutes (temperature)."""
    drift_baseline_s: float = 10.0
    """Drift is fitted once the minima span this much device time: minimum latencies
    scatter by ~0.1-1 ms, which over 10 s is < 100 ppm of slope error."""
    slew_s: float = 5.0
    """An offset correction is spread over this long, so intervals change by < 0.1 %."""
    max_slew_ppm: float = 1000.0
    """Cap of that correction rate."""
    step_s: float = 0.5
    """A mapping error larger than this (a clock jump) is applied at once, forward only."""
    arrival_loss_s: float = 0.05
    """Devices without counter or timestamp: a notification later than expected by more
    than this means samples were lost. Shorter losses cannot be told from BLE batching
    (connection intervals reach 50 ms on some hosts)."""
    resync_s: float = 2.0
    """After an outage the device clock is trusted when it agrees with host time within
    this; otherwise the device restarted and the gap length is estimated from host time."""
    rate_window_s: float = 30.0
    """Device sample rate is measured over continuous runs of at least this much device time
    before it replaces the nominal rate (used to convert long gaps to sample counts)."""
    reorder_s: float = 0.1
    """Devices with a counter: a frame that follows a counter gap waits up to this much
    arrival time for the missing frames, so notifications delivered out of order are
    placed in order instead of one being lost and one dropped as a duplicate. Only
    frames after a gap wait, so it is the extra latency right after a real loss. 0 = off."""
    clock_jump_s: float = 0.25
    """Devices with counter and clock: when the clock advanced this much more or less
    than the counter says, the clock was set (jumped), not samples lost: device times
    are re-based to follow the counter."""


class ClockModel:
    """Device seconds -> host seconds, from (device time, arrival time) observations."""

    def __init__(self, settings: TimingSettings = TimingSettings()) -> None:
        self.settings = settings
        self._buckets: deque[tuple[float, float]] = deque(maxlen=settings.window_buckets)
        self._bucket_index: int | None = None
        self._bucket_min: tuple[float, float] | None = None
        self._d_ref = 0.0
        self._a = 0.0   # fitted host - device at d_ref
        self._b = 0.0   # fitted drift (host seconds per device second - 1)
        self._seg = (0.0, 0.0, 0.0)  # output segment: (d_r, h_r, slope - 1)
        self.started = False

    @property
    def drift_ppm(self) -> float:
        return self._b * 1e6

    @property
    def host_per_device_s(self) -> float:
        """Host seconds per device second (1 + drift)."""
        return 1.0 + self._b

    def restart(self, device_s: float, host_s: float) -> None:
        """Start over: this observation anchors the mapping (output continues from host_s)."""
        self._buckets.clear()
        self._bucket_index = math.floor(device_s / self.settings.bucket_s)
        self._bucket_min = (device_s, host_s - device_s)
        self._d_ref = device_s
        self._a = host_s - device_s
        self._seg = (device_s, host_s, self._b)
        self.started = True

    def observe(self, device_s: float, host_s: float) -> None:
        """One notification: device time of its last sample and its arrival time."""
        if not self.started:
            self.restart(device_s, host_s)
            return
        y = host_s - device_s
        index = math.floor(device_s / self.settings.bucket_s)
        if index != self._bucket_index:
            if self._bucket_min is not None:
                self._buckets.append(self._bucket_min)
            self._bucket_index = index
            self._bucket_min = (device_s, y)
            self._refit(device_s)
        elif self._bucket_min is None or y < self._bucket_min[1]:
            self._bucket_min = (device_s, y)

    def _refit(self, d_now: float) -> None:
        """Fit through the closed buckets (the open one has too few arrivals yet)."""
        x = np.array([p[0] for p in self._buckets]) - self._d_ref
        y = np.array([p[1] for p in self._buckets])
        if np.ptp(x) >= self.settings.drift_baseline_s:
            self._b, self._a = (float(v) for v in np.polyfit(x, y, 1))
        else:
            self._a = float(np.mean(y - self._b * x))
        h_now = float(self.to_host(d_now))
        error = self.fitted_host(d_now) - h_now
        s = self.settings
        if error > s.step_s:
            self._seg = (d_now, h_now + error, self._b)
            return
        limit = s.max_slew_ppm * 1e-6
        self._seg = (d_now, h_now, self._b + float(np.clip(error / s.slew_s, -limit, limit)))

    def fitted_host(self, device_s):
        """The fitted line itself (best estimate, may jump between refits)."""
        return device_s + self._a + self._b * (device_s - self._d_ref)

    def to_device(self, host_s: float) -> float:
        """Inverse of the fitted line: the device time that would be sent at host_s."""
        return (host_s - self._a + self._b * self._d_ref) / (1.0 + self._b)

    def to_host(self, device_s):
        """The smooth output mapping (continuous, strictly increasing)."""
        d_r, h_r, s = self._seg
        return h_r + (np.asarray(device_s, dtype=np.float64) - d_r) * (1.0 + s)


@dataclass(frozen=True)
class PlacedSamples:
    """Where one frame's samples go."""

    time_s: np.ndarray
    """Session time of each sample (host clock minus the session epoch)."""
    seq: np.ndarray
    """Sample numbers (int64, increasing, lost samples skipped)."""
    lost: int
    """Samples missing just before this frame (0 = none)."""
    lost_exact: bool
    """True when `lost` comes from device counters/timestamps, False when estimated."""
    gap_before: bool
    """Data is missing before the first sample (lost samples or a device restart)."""


# Frames that may wait for a late one (bounds memory if a device's counter misbehaves).
MAX_WAITING = 64


def _unwrap(raw, modulo: float, predicted: float):
    """raw + k * modulo with k chosen to land nearest to the predicted value."""
    return raw + modulo * round((predicted - float(np.ravel(raw)[-1])) / modulo)


def _strictly_after(time_s: np.ndarray, floor: float) -> np.ndarray:
    """Times nudged (by 1 us steps) so each is later than the previous and than floor."""
    out = time_s.copy()
    prev = floor
    for i in range(out.shape[0]):
        if out[i] <= prev:
            out[i] = prev + 1e-6
        prev = out[i]
    return out


class SampleTimeline:
    """Places decoded frames of one device on the session clock (across reconnects).

    Args:
        rate_hz: the nominal sample rate the device was configured to.
        epoch_s: host time (same clock as the arrival times) that is session time 0.
    """

    def __init__(self, rate_hz: float, epoch_s: float,
                 settings: TimingSettings = TimingSettings()) -> None:
        self.rate_hz = float(rate_hz)
        self.epoch_s = float(epoch_s)
        self.settings = settings
        self.clock = ClockModel(settings)
        self._last_seq: int | None = None
        self._seq_offset = 0     # sample number = unwrapped device counter + this
        self._last_dev = 0.0
        self._last_host = 0.0
        self._after_outage = False
        self._run_n = 0          # samples in the current loss-free run
        self._run_start: float | None = None
        self._rate_n = 0         # samples and device seconds of finished runs (rate estimate)
        self._rate_dt = 0.0
        self._excess = 0.0       # typical arrival delay over the lower envelope
        self._held: tuple[ImuFrame, float] | None = None  # see feed()
        self._waiting: list[tuple[ImuFrame, float]] = []   # see _in_counter_order()
        self._dev_offset = 0.0   # added to device times after clock jumps (see _counted)
        self.duplicates = 0
        self.restarts = 0
        self.clamped = 0
        self.clock_jumps = 0
        self.reordered = 0

    def link_restored(self) -> None:
        """The next frame follows a reconnection: check the device clock before trusting it."""
        self._after_outage = True

    @property
    def device_rate_hz(self) -> float:
        """Measured samples per device second (nominal until enough data was seen)."""
        n, dt = self._rate_n, self._rate_dt
        if self._run_start is not None:
            n, dt = n + self._run_n - 1, dt + self._last_dev - self._run_start
        if dt >= self.settings.rate_window_s and n > 0:
            return n / dt
        return self.rate_hz

    def feed(self, frame: ImuFrame, arrival_s: float) -> list[tuple[ImuFrame, PlacedSamples]]:
        """Place frames in arrival order, with one frame of look-ahead where it matters.

        A device without counter or clock that goes quiet and then sends again may have
        lost samples, or its notifications may only have been delayed (a missed
        connection event, a stalled host): delayed ones then arrive in a burst. So a
        suspiciously late frame is held until the next one shows which it was.
        """
        out = []
        if self._held is not None:
            held, held_arrival = self._held
            self._held = None
            burst = arrival_s - held_arrival < 0.5 * len(held) / self.rate_hz
            placed = self.place(held, held_arrival, delayed=burst)
            if placed is not None:
                out.append((held, placed))
        if frame.counter is not None and self.settings.reorder_s > 0:
            return out + self._in_counter_order(frame, arrival_s)
        if (frame.counter is None and frame.device_time_s is None and self._last_seq is not None
                and self._arrival_loss(arrival_s, len(frame), commit=False)):
            self._held = (frame, arrival_s)
            return out
        placed = self.place(frame, arrival_s)
        if placed is not None:
            out.append((frame, placed))
        return out

    def flush(self) -> list[tuple[ImuFrame, PlacedSamples]]:
        """Frames held for look-ahead, placed now (the stream ended or broke)."""
        out = self._release_waiting(None)
        if self._held is not None:
            held, held_arrival = self._held
            self._held = None
            placed = self.place(held, held_arrival)
            if placed is not None:
                out.append((held, placed))
        return out

    def _counter_delta(self, frame: ImuFrame) -> int:
        """How far the frame's counter is past the next expected one (wrapped, signed)."""
        if self._last_seq is None or frame.counter is None:
            return 0
        modulo = frame.counter_modulo or 2 ** 63
        expected = (self._last_seq + 1 - self._seq_offset) % modulo
        return (int(frame.counter) - expected + modulo // 2) % modulo - modulo // 2

    def _in_counter_order(self, frame: ImuFrame,
                          arrival_s: float) -> list[tuple[ImuFrame, PlacedSamples]]:
        """Frames with a counter, placed in counter order: one that follows a gap waits
        (up to reorder_s of arrival time) for the missing frames to arrive late."""
        self._waiting.append((frame, arrival_s))
        return self._release_waiting(arrival_s)

    def _release_waiting(self, now_s: float | None) -> list[tuple[ImuFrame, PlacedSamples]]:
        """Place waiting frames that are next in order or waited long enough (all: None)."""
        out = []
        waiting = self._waiting
        while waiting:
            i = min(range(len(waiting)), key=lambda j: self._counter_delta(waiting[j][0]))
            frame, arrival_s = waiting[i]
            in_order = self._counter_delta(frame) <= 0 or self._after_outage
            waited = now_s is None or now_s - min(a for _, a in waiting) >= self.settings.reorder_s
            if not (in_order or waited or len(waiting) > MAX_WAITING):
                break
            waiting.pop(i)
            if i > 0:  # placed ahead of a frame that arrived before it
                self.reordered += 1
            placed = self.place(frame, arrival_s)
            if placed is not None:
                out.append((frame, placed))
        return out

    def place(self, frame: ImuFrame, arrival_s: float, *,
              delayed: bool = False) -> PlacedSamples | None:
        """Times and sample numbers of a frame's samples (no look-ahead; see `feed`); None
        for a duplicate frame. `delayed`: the caller knows a counter-less device's late
        frame was delayed, not preceded by a loss."""
        n = len(frame)
        if self._last_seq is None:
            return self._first(frame, arrival_s, n)
        rate = self.device_rate_hz
        d_pred = self.clock.to_device(arrival_s)
        restarted = False
        if frame.device_time_s is not None:
            dev = np.asarray(frame.device_time_s, dtype=np.float64)
            if frame.device_time_modulo_s:
                dev = _unwrap(dev, frame.device_time_modulo_s, d_pred - self._dev_offset)
            dev = dev + self._dev_offset
            if frame.counter is not None:
                counted, dev = self._counted(frame, dev, d_pred, rate)
                restarted = counted is None
                advance = 0 if counted is None else counted
            else:
                restarted = (self._after_outage
                             and abs(float(dev[-1]) - d_pred) > self.settings.resync_s)
                advance = round((float(dev[0]) - self._last_dev) * rate)
        else:
            dev = None
            advance = 1 + (0 if delayed else self._arrival_loss(arrival_s, n))
            if frame.counter is not None:
                counter = int(_unwrap(frame.counter, frame.counter_modulo or 2 ** 63,
                                      self._last_seq - self._seq_offset + advance))
                advance = counter + self._seq_offset - self._last_seq
        if restarted or (dev is not None and advance <= 0 and self._after_outage):
            return self._restart(frame, arrival_s, n, dev)
        if advance <= 0:
            self.duplicates += 1
            return None
        self._after_outage = False
        seq_first = self._last_seq + advance
        if dev is None:
            dev = (seq_first + np.arange(n)) / self.rate_hz
        exact = frame.counter is not None or frame.device_time_s is not None
        return self._emit(dev, seq_first, n, arrival_s, lost=advance - 1, exact=exact)

    def _counted(self, frame: ImuFrame, dev: np.ndarray, d_pred: float,
                 rate: float) -> tuple[int | None, np.ndarray]:
        """Counter and clock: the counter counts the samples; the clock only places them.

        The counter is unwrapped near what the host clock predicts, never the device
        clock, which may have jumped. After an outage, a counter that disagrees with the
        elapsed host time means the device restarted (None). A device clock that moved
        differently from the counter was set: device times are re-based to follow the
        counter.
        """
        n = len(frame)
        modulo = frame.counter_modulo or 2 ** 63
        last_counter = self._last_seq - self._seq_offset
        by_host = round((d_pred - self._last_dev) * rate) - (n - 1)
        advance = int(_unwrap(frame.counter, modulo, last_counter + by_host)) - last_counter
        if self._after_outage and abs(advance - by_host) > self.settings.resync_s * rate:
            return None, dev
        jump_s = (float(dev[0]) - self._last_dev) - advance / rate
        if advance > 0 and abs(jump_s) > self.settings.clock_jump_s:
            self.clock_jumps += 1
            self._dev_offset -= jump_s
            dev = dev - jump_s
        return advance, dev

    def _host_rate_hz(self) -> float:
        """Samples per host second (the device rate seen through the clock drift)."""
        return self.device_rate_hz / self.clock.host_per_device_s

    def _arrival_loss(self, arrival_s: float, n: int, commit: bool = True) -> int:
        """Counter-less devices: samples lost, judged by how late this frame arrives
        (`commit` updates the typical delay; False only asks)."""
        d_last = (self._last_seq + n) / self.rate_hz
        excess = arrival_s - float(self.clock.fitted_host(d_last))
        if excess - self._excess > self.settings.arrival_loss_s:
            return max(0, round((excess - self._excess) * self._host_rate_hz()))
        if commit:
            self._excess += 0.05 * (max(excess, 0.0) - self._excess)
        return 0

    def _first(self, frame: ImuFrame, arrival_s: float, n: int) -> PlacedSamples:
        seq_first = int(frame.counter) if frame.counter is not None else 0
        dev = (np.asarray(frame.device_time_s, dtype=np.float64) if frame.device_time_s is not None
               else (seq_first + np.arange(n)) / self.rate_hz)
        self.clock.restart(float(dev[-1]), arrival_s)
        return self._emit(dev, seq_first, n, arrival_s, lost=0, exact=True, observe=False)

    def _restart(self, frame: ImuFrame, arrival_s: float, n: int,
                 dev: np.ndarray | None) -> PlacedSamples:
        """The device clock restarted (e.g. the sensor rebooted during an outage): the
        gap length is estimated from host time; the new clock anchors a new segment."""
        self.restarts += 1
        self._after_outage = False
        rate = self._host_rate_hz()
        period = 1.0 / rate
        first_host = arrival_s - self._excess - (n - 1) * period
        lost = max(0, round((first_host - self._last_host) * rate) - 1)
        seq_first = self._last_seq + 1 + lost
        if frame.counter is not None:
            self._seq_offset = seq_first - int(frame.counter)
        if dev is None:
            dev = (seq_first + np.arange(n)) / self.rate_hz
        host_last = max(self._last_host + (lost + n) * period, arrival_s - self._excess)
        self.clock.restart(float(dev[-1]), host_last)
        self._close_run()
        return self._emit(dev, seq_first, n, arrival_s, lost=lost, exact=False, observe=False,
                          gap=True)

    def _close_run(self) -> None:
        if self._run_start is not None and self._run_n > 1:
            self._rate_n += self._run_n - 1
            self._rate_dt += self._last_dev - self._run_start
        self._run_start, self._run_n = None, 0

    def _emit(self, dev: np.ndarray, seq_first: int, n: int, arrival_s: float, *, lost: int,
              exact: bool, observe: bool = True, gap: bool = False) -> PlacedSamples:
        if lost:
            self._close_run()
        if self._run_start is None:
            self._run_start = float(dev[0])
        self._run_n += n
        time_s = self.clock.to_host(dev) - self.epoch_s
        if self._last_seq is not None:
            floor = self._last_host - self.epoch_s
            if time_s[0] <= floor or np.any(np.diff(time_s) <= 0):
                # Keeps times strictly increasing if device stamps ever overlap; counted.
                self.clamped += 1
                time_s = _strictly_after(time_s, floor)
        if observe:  # after mapping: a refit re-anchors at this frame's end, continuously
            self.clock.observe(float(dev[-1]), arrival_s)
        self._last_seq = seq_first + n - 1
        self._last_dev = float(dev[-1])
        self._last_host = float(time_s[-1]) + self.epoch_s
        return PlacedSamples(time_s, seq_first + np.arange(n, dtype=np.int64), lost, exact,
                             gap or lost > 0)
