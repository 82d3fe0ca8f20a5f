"""`BleSource`: a LiveSource (imu.sources) streaming from one Bluetooth sensor.

    source = BleSource("PelvisIMU-0001")                      # name or address
    source = BleSource("C0:FF:EE:00:00:01", BleSettings(profile="open", rate_hz=200))
    await source.start()          # find, connect, configure (errors are raised here)
    pipeline = Pipeline(source.rate_hz)
    async for block in source:    # SampleBlocks, gap_before set after losses
        pipeline.feed(block)
    await source.aclose()

Work is split as bleak's examples advise: the notification callback only timestamps
and queues; the iterator (the consumer) decodes, places samples in time and yields.
A supervisor task reconnects with back-off when the link drops; the samples after a
reconnection continue the same stream with the gap marked (and counted exactly when
the device has a counter or clock). A watchdog treats a connected sensor that sends
nothing for `stall_timeout_s` as a lost link (a stalled sensor or a host stack that
lost the subscription, which BlueZ does not report) and reconnects. Link events are
reported in stream order through `on_event`, so a recorder can write them next to the
samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import AsyncIterator, Awaitable, Callable

import numpy as np
from bleak import BleakClient
from bleak.exc import BleakError

from imu.ble.bleak_link import BleakLink
from imu.ble.connection import ReconnectPolicy, connect, reconnect_delay_s
from imu.ble.scanner import FIND_TIMEOUT_S, FoundDevice, find_device
from imu.ble.timing import SampleTimeline, TimingSettings
from imu.devices import PROFILES
from imu.devices.base import (DeviceDetails, DeviceSession, FrameParser, StreamConfig,
                              StreamSettings)
from imu.devices.errors import DeviceError, DeviceRefusedError
from imu.samples import SampleBlock
from imu.sources import SourceStatus

_DATA, _LOST, _STARTED, _ERROR, _CLOSED = range(5)
# Measured rate over this window: long enough to average BLE batching, short enough to
# show a slowdown within seconds.
RATE_WINDOW_S = 5.0
# Stopping streams and disconnecting on close: a dead link must not hold the exit.
CLOSE_TIMEOUT_S = 3.0
# Errors after which reconnecting can help (link, stack, device busy), as opposed to a
# refused configuration, which would only be refused again.
_RETRYABLE = (BleakError, DeviceError, asyncio.TimeoutError, EOFError, OSError)


@dataclass(frozen=True)
class BleSettings:
    """How to find, configure and keep a sensor. Defaults suit a sacral clip."""

    profile: str = "auto"
    """'auto' (recognise by advertisement) or a profile name (see imu.devices.PROFILES)."""
    rate_hz: float | None = None
    """None = the profile's default (about 200 Hz)."""
    acc_range_g: float | None = None
    gyr_range_dps: float | None = None
    pair: bool = False
    """Pair (bond) before streaming; some hosts need it for Polar sensors."""
    find_timeout_s: float = FIND_TIMEOUT_S
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    timing: TimingSettings = field(default_factory=TimingSettings)
    battery_poll_s: float = 60.0
    """Battery changes slowly and each read costs a radio exchange."""
    stall_timeout_s: float = 5.0
    """No notification for this long while connected = the sensor stalled: reconnect.
    Well above the longest normal silence (a Polar Verity Sense fills a frame every
    ~1.4 s at 26 Hz; links skip connection events for up to ~0.5 s), and short
    enough that a stalled recording is noticed and restarted within seconds. 0 = off."""

    def stream_settings(self) -> StreamSettings:
        return StreamSettings(self.rate_hz, self.acc_range_g, self.gyr_range_dps)


@dataclass(frozen=True)
class LinkEvent:
    """A change of link state, at a session time (seconds)."""

    time_s: float
    state: str
    """'streaming', 'lost', 'restored', 'stopped' or 'failed'."""
    message: str = ""


@dataclass
class _Connection:
    """One connection: its client, session, and the data that arrived before it was ready."""

    client: BleakClient
    session: DeviceSession
    pending: list = field(default_factory=list)
    live: bool = False
    last_data_s: float = 0.0
    """Arrival time of the latest notification (or when streaming started)."""
    stalled: str = ""
    """Why the watchdog gave up on this connection (empty while it is healthy)."""


class BleSource:
    """Streams SampleBlocks from one sensor, reconnecting until closed (see module doc).

    Args:
        device: the sensor's advertised name or its address.
        settings: profile, rate, ranges, pairing, reconnection and timing settings.
        on_event: called with each LinkEvent, in order with the yielded blocks.
        clock: monotonic seconds; notification arrival times come from it too.
        sleep: waits that many seconds of `clock` (back-off, watchdog, battery polls);
            a test running the sensor faster than real time scales both.
    """

    def __init__(self, device: str, settings: BleSettings = BleSettings(), *,
                 on_event: Callable[[LinkEvent], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.wanted = device
        self.settings = settings
        self._on_event = on_event
        self._clock = clock
        self._sleep = sleep
        self._queue: asyncio.Queue = asyncio.Queue()
        self._found: FoundDevice | None = None
        self._conn: _Connection | None = None
        self._config: StreamConfig | None = None
        self._details: DeviceDetails | None = None
        self._parser: FrameParser | None = None
        self._timeline: SampleTimeline | None = None
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._started = False
        self.epoch_s = 0.0
        self._state = "connecting"
        self._message = ""
        self._received = 0
        self._samples_lost = 0
        self._reconnects = 0
        self._malformed_done = 0
        self._rate_window: deque[tuple[float, int]] = deque()
        self.last_arrival_s: float | None = None
        """Arrival time of the notification behind the latest block (latency measurements)."""

    # ----------------------------------------------------------------- public surface
    @property
    def rate_hz(self) -> float:
        """The device's configured rate once started, else the requested/default rate."""
        if self._config is not None:
            return self._config.rate_hz
        if self.settings.rate_hz:
            return float(self.settings.rate_hz)
        profile = PROFILES.get(self.settings.profile)
        return profile.default_rate_hz if profile else 200.0

    @property
    def config(self) -> StreamConfig | None:
        return self._config

    @property
    def device(self) -> FoundDevice | None:
        return self._found

    @property
    def details(self) -> DeviceDetails | None:
        return self._details

    @property
    def timeline(self) -> SampleTimeline | None:
        """The timing reconstruction (its duplicate, reorder, clock-jump counters), once
        streaming started."""
        return self._timeline

    @property
    def malformed(self) -> int:
        """Notifications skipped because they did not follow the device's layout."""
        return self._malformed_done + (self._parser.malformed if self._parser else 0)

    def status(self) -> SourceStatus:
        """Counters for the connection panel and the one-line status (LiveSource)."""
        found = self._found
        message = self._message
        if self.malformed:
            message = (message + "; " if message else "") + \
                f"{self.malformed} malformed notifications skipped"
            if self._parser is not None and self._parser.last_reason:
                message += f" (latest: {self._parser.last_reason})"
        profile = (found.profile or "") if found else self.settings.profile
        return SourceStatus(self._state, found.name if found else self.wanted, profile,
                            self.rate_hz, self._measured_rate(), self._received,
                            self._samples_lost, self._reconnects,
                            self._details.battery_percent if self._details else None, message)

    async def start(self) -> None:
        """Find the device, connect, configure and start streaming. Raises when the device
        is not found, cannot be used, or refuses the configuration."""
        if self._started:
            return
        self.epoch_s = self._clock()
        try:
            self._found = await find_device(self.wanted, self.settings.profile,
                                            self.settings.find_timeout_s)
            await self._open(first=True)
        except BaseException:
            self._state = "failed"
            raise
        self._started = True
        self._tasks.append(asyncio.create_task(self._supervise()))
        if self.settings.battery_poll_s > 0:
            self._tasks.append(asyncio.create_task(self._poll_battery()))
        if self.settings.stall_timeout_s > 0:
            self._tasks.append(asyncio.create_task(self._watch_stall()))
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        """A background task that dies of an unexpected error ends the stream with it."""
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def __aiter__(self) -> AsyncIterator[SampleBlock]:
        return self._blocks()

    async def aclose(self) -> None:
        """Stop streaming, disconnect, and end the iteration (after queued data)."""
        if self._closing:
            return
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close_connection(conn)
        self._state = "stopped"
        self._queue.put_nowait((_CLOSED,))

    # ----------------------------------------------------------------- connecting
    async def _open(self, first: bool) -> None:
        """Connect and start streaming; queue the new parser before any of its data."""
        assert self._found is not None
        self._lost.clear()
        made: list[_Connection] = []
        client = await connect(self._found, lambda: made and self._disconnected(made[0]),
                               pair=self.settings.pair)
        link = BleakLink(client, self._found.name or self._found.address, self._clock)
        conn = _Connection(client, PROFILES[self._found.profile].session(link))
        made.append(conn)

        def on_data(data: bytes, arrival_s: float) -> None:
            item = (_DATA, data, arrival_s)
            conn.last_data_s = arrival_s
            if conn.live:
                self._queue.put_nowait(item)
            else:
                conn.pending.append(item)

        try:
            details = await conn.session.read_details()
            config = await conn.session.start(self.settings.stream_settings(), on_data)
        except BaseException:
            await _close_connection(conn)
            raise
        if not first and self._config is not None and config.rate_hz != self._config.rate_hz:
            await _close_connection(conn)
            raise DeviceRefusedError(link.name, f"stream at {self._config.rate_hz:g} Hz again",
                                     f"it now streams at {config.rate_hz:g} Hz")
        self._details = details
        if first:
            self._config = config
        self._conn = conn
        self._queue.put_nowait((_STARTED, conn.session.new_parser(config), self._clock(), first))
        for item in conn.pending:
            self._queue.put_nowait(item)
        conn.pending.clear()
        conn.last_data_s = max(conn.last_data_s, self._clock())
        conn.live = True
        self._state = "streaming"
        self._message = ""
        if not client.is_connected:  # lost while starting: bleak's callback was ignored
            self._disconnected(conn)

    def _disconnected(self, conn: _Connection) -> None:
        """bleak's disconnected callback (and the end of a stalled connection). Ignored
        for a connection that is not streaming yet (its failure is handled where it is
        opened) or that we are closing."""
        if self._closing or not conn.live:
            return
        conn.live = False
        self._lost.set()
        self._state = "reconnecting"
        self._queue.put_nowait((_LOST, self._clock(), conn.stalled or "link lost; reconnecting"))

    async def _watch_stall(self) -> None:
        """Give up on a connection that delivers nothing for stall_timeout_s (the link
        looks up, so bleak reports nothing): the supervisor then reconnects."""
        timeout = self.settings.stall_timeout_s
        while True:
            await self._sleep(timeout / 4)
            conn = self._conn
            if conn is None or not conn.live or conn.stalled:
                continue
            silent_s = self._clock() - conn.last_data_s
            if silent_s > timeout:
                conn.stalled = (f"no data from {self.wanted} for {silent_s:.1f} s while "
                                "connected (sensor stalled); reconnecting")
                self._state = "reconnecting"
                self._message = conn.stalled
                self._lost.set()

    async def _supervise(self) -> None:
        """Reconnect with back-off whenever the link is lost, until closed."""
        policy = self.settings.reconnect
        while not self._closing:
            await self._lost.wait()
            conn, self._conn = self._conn, None
            cause = ""
            if conn is not None:
                cause = "sensor stalled; " if conn.stalled else ""
                # Data that still arrives while a stalled connection is closed is kept:
                # the lost marker follows it (no-op when bleak reported the loss).
                await _close_connection(conn)
                self._disconnected(conn)
            attempt, error = 0, None
            while not self._closing:
                delay = reconnect_delay_s(attempt, error, policy)
                self._message = f"reconnecting ({cause}attempt {attempt + 1} in {delay:.1f} s)" + \
                    (f"; last error: {error}" if error else "")
                await self._sleep(delay)
                try:
                    if attempt >= 2:  # the old scan record may be stale: look again
                        self._found = await find_device(self._found.address, self._found.profile,
                                                        self.settings.find_timeout_s)
                    await self._open(first=False)
                except DeviceRefusedError as exc:
                    self._fail(exc)
                    return
                except _RETRYABLE as exc:
                    error, attempt = exc, attempt + 1
                    if policy.max_attempts is not None and attempt >= policy.max_attempts:
                        self._fail(DeviceError(f"gave up reconnecting to {self.wanted} after "
                                               f"{attempt} attempts: {exc}"))
                        return
                    continue
                self._reconnects += 1
                break

    def _fail(self, exc: BaseException) -> None:
        self._state = "failed"
        self._message = str(exc)
        self._queue.put_nowait((_ERROR, exc))

    async def _poll_battery(self) -> None:
        while True:
            await self._sleep(self.settings.battery_poll_s)
            conn = self._conn
            if conn is None or not conn.live or self._details is None:
                continue
            try:
                level = await conn.session.read_battery()
            except _RETRYABLE:
                continue  # the supervisor deals with a lost link
            if level is not None:
                self._details = replace(self._details, battery_percent=level)

    # ----------------------------------------------------------------- consuming
    async def _blocks(self) -> AsyncIterator[SampleBlock]:
        if not self._started:
            await self.start()
        queue = self._queue
        while True:
            item = await queue.get()
            tag = item[0]
            if tag == _DATA:
                for block in self._decode(item[1], item[2]):
                    yield block
            elif tag == _STARTED:
                self._switch_parser(item[1], item[2], first=item[3])
            elif tag == _LOST:
                for block in self._flush():
                    yield block
                self._emit(item[1], "lost", item[2])
            elif tag == _ERROR:
                self._emit(self._clock(), "failed", str(item[1]))
                raise item[1]
            else:
                for block in self._flush():
                    yield block
                self._emit(self._clock(), "stopped")
                return

    def _switch_parser(self, parser: FrameParser, at_s: float, first: bool) -> None:
        if self._parser is not None:
            self._malformed_done += self._parser.malformed
        self._parser = parser
        if self._timeline is None:
            assert self._config is not None
            self._timeline = SampleTimeline(self._config.rate_hz, self.epoch_s,
                                            self.settings.timing)
        if not first:
            self._timeline.link_restored()
        self._emit(at_s, "streaming" if first else "restored")

    def _decode(self, data: bytes, arrival_s: float) -> list[SampleBlock]:
        assert self._parser is not None and self._timeline is not None
        placements = [p for frame in self._parser.feed(data)
                      for p in self._timeline.feed(frame, arrival_s)]
        return self._blocks_of(placements, arrival_s)

    def _flush(self) -> list[SampleBlock]:
        """A frame the timeline held back for look-ahead, when no more data will follow."""
        if self._timeline is None:
            return []
        return self._blocks_of(self._timeline.flush(), self.last_arrival_s or 0.0)

    def _blocks_of(self, placements: list, arrival_s: float) -> list[SampleBlock]:
        blocks = []
        for frame, placed in placements:
            gap = np.zeros(len(frame), dtype=bool)
            gap[0] = placed.gap_before
            blocks.append(SampleBlock(placed.time_s, frame.acc_mps2, frame.gyr_rps, None,
                                      placed.seq, gap))
            self._received += len(frame)
            self._samples_lost += placed.lost
            self._rate_window.append((arrival_s, self._received))
        if blocks:
            self.last_arrival_s = arrival_s
        return blocks

    def _measured_rate(self) -> float | None:
        w = self._rate_window
        while len(w) > 2 and w[-1][0] - w[0][0] > RATE_WINDOW_S:
            w.popleft()
        if len(w) < 2 or w[-1][0] <= w[0][0]:
            return None
        return (w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0])

    def _emit(self, at_s: float, state: str, message: str = "") -> None:
        if self._on_event is not None:
            self._on_event(LinkEvent(at_s - self.epoch_s, state, message))


async def _close_connection(conn: _Connection) -> None:
    """Stop the device's streams and disconnect, best effort and bounded in time."""
    if conn.client.is_connected:
        with contextlib.suppress(DeviceError, BleakError, asyncio.TimeoutError, EOFError, OSError):
            await asyncio.wait_for(conn.session.stop(), CLOSE_TIMEOUT_S)
    with contextlib.suppress(BleakError, asyncio.TimeoutError, EOFError, OSError):
        await asyncio.wait_for(conn.client.disconnect(), CLOSE_TIMEOUT_S)
