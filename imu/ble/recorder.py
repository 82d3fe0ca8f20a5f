"""Recording a BleSource into one .pmrec file: samples as received, link events, device info.

The source reconnects by itself; its blocks after an outage carry gap_before, so the
same file simply continues with the gap marked, and each link change is stored as an
event (kind "link"). Samples are flushed every `flush_interval_s` and on stop, also
while the stream stalls, so a killed process loses at most that much (plus the block in
hand); a write error (a full disk) stops the recording cleanly with everything written
so far readable, and the summary says why. `append=True` continues an existing
recording of the same device after the program itself was restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable

from imu.ble.stream import BleSource, LinkEvent
from imu.errors import RecordingError, SettingsError
from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter, iter_recording
from imu.samples import SampleBlock
from imu.sources import LiveSource, SourceStatus

# Status callback period: a terminal line that updates twice a second looks live.
STATUS_INTERVAL_S = 0.5
# The stall flusher checks at half the flush interval, but never spins faster than this.
FLUSH_CHECK_MIN_S = 0.05


@dataclass(frozen=True)
class RecordingSummary:
    """What a recording run stored."""

    path: str
    samples_written: int
    duration_s: float
    gaps: int
    samples_lost: int
    reconnects: int
    malformed: int
    stopped_by: str = ""
    """Why recording stopped before it was asked to (e.g. the disk is full); empty otherwise."""

    def describe(self) -> str:
        saved = (f"Saved {self.samples_written:,} samples ({self.duration_s:.1f} s; {self.gaps} "
                 f"gaps, {self.samples_lost:,} samples lost, {self.reconnects} reconnects, "
                 f"{self.malformed} malformed notifications skipped) to {self.path}")
        if not self.stopped_by:
            return saved
        return f"Recording stopped early: {self.stopped_by}\n{saved}"


def header_for(source: BleSource) -> RecordingHeader:
    """The recording header of a started source (device identity and stream settings)."""
    found, config, details = source.device, source.config, source.details
    assert found is not None and config is not None
    extra = {"stream": asdict(config)}
    if details is not None:
        extra.update(details.as_dict())
    return RecordingHeader(
        sample_rate_hz=config.rate_hz,
        device=DeviceInfo(name=found.name, address=found.address, profile=found.profile or "",
                          firmware=details.firmware if details else "", extra=extra),
        has_mag=False, has_seq=True,
        settings={"ble": {"profile": found.profile, "rate_hz": config.rate_hz,
                          "seq_source": config.seq_source,
                          "timing": asdict(source.settings.timing)}})


class Recorder:
    """Writes what a live source yields into `path` until stopped.

    Use `on_link_event` as a BleSource's `on_event` so link changes are stored too.
    All methods run on the event loop that runs `run()` (the writer is not thread-safe).
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = False, overwrite: bool = False,
                 flush_interval_s: float = 0.5) -> None:
        self.path = os.fspath(path)
        self.append = append
        self.overwrite = overwrite
        self.flush_interval_s = flush_interval_s
        self._writer: RecordingWriter | None = None
        self._offset_s = 0.0
        self._first = True
        self._gaps = 0
        self._events: list[LinkEvent] = []
        self._last_time_s: float | None = None
        self._failure = ""

    def on_link_event(self, event: LinkEvent) -> None:
        if self._writer is None:
            self._events.append(event)  # written once the file is open
            return
        self._guarded(self._writer.write_event, event.time_s + self._offset_s, "link",
                      {"state": event.state, "message": event.message})

    def annotate(self, text: str) -> float:
        """Store a note at the latest sample time (seconds on the file's clock), fsync'ed."""
        text = text.strip()
        if not text:
            raise SettingsError("the note is empty.")
        if self._writer is None or self._last_time_s is None:
            raise SettingsError("no samples recorded yet: a note needs a time on the "
                                "sample clock; try again once streaming has begun.")
        if self._failure:
            raise SettingsError(f"recording has stopped: {self._failure}")
        self._guarded(self._writer.write_annotation, self._last_time_s, text)
        return self._last_time_s

    def _guarded(self, write, *args) -> None:
        """A write whose failure (a full disk) ends the recording instead of the program."""
        if self._failure:
            return
        try:
            write(*args)
        except RecordingError as exc:
            self._failure = str(exc)

    def _open(self, header: RecordingHeader) -> None:
        if self.append and os.path.exists(self.path):
            self._offset_s = _continue_offset(self.path, header)
            self._writer = RecordingWriter.append_to(self.path,
                                                     flush_interval_s=self.flush_interval_s)
        else:
            self._writer = RecordingWriter(self.path, header, overwrite=self.overwrite,
                                           flush_interval_s=self.flush_interval_s)
        for event in self._events:
            self.on_link_event(event)
        self._events.clear()

    def _write(self, block: SampleBlock) -> None:
        assert self._writer is not None
        if len(block) == 0:
            return
        if self._offset_s or (self._first and self.append):
            gap = block.gap_before.copy()
            gap[0] |= self._first  # a continued file: the restart itself is a gap
            block = SampleBlock(block.time_s + self._offset_s, block.acc_mps2, block.gyr_rps,
                                block.mag_uT, block.seq, gap)
        self._first = False
        self._gaps += int(block.gap_before.sum())
        self._guarded(self._writer.write_samples, block)
        self._last_time_s = float(block.time_s[-1])

    async def run(self, source: LiveSource, stop: asyncio.Event, *,
                  on_status: Callable[[SourceStatus], None] | None = None,
                  duration_s: float | None = None,
                  header: RecordingHeader | None = None) -> RecordingSummary:
        """Start the source (errors are raised before any file is made), record until
        `stop` is set, `duration_s` has passed or writing fails, then stop, flush and close.

        `header`: the recording header; by default made from the started BleSource
        (header_for). Other live sources (e.g. the virtual sensor) need one given.
        """
        if isinstance(source, BleSource):
            if not await _unless_stopped(source.start(), stop):
                await source.aclose()
                return RecordingSummary(self.path, 0, 0.0, 0, 0, 0, 0)
        elif header is None:
            raise SettingsError("a recording header is needed for a source other than BleSource.")
        self._open(header or header_for(source))
        started = time.monotonic()

        closer: list[asyncio.Task] = []  # the task that closes the source, once one does

        async def close_source() -> None:
            closer.append(asyncio.current_task())
            await source.aclose()

        async def stopper() -> None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), duration_s)
            await close_source()

        async def reporter() -> None:
            while on_status is not None:
                on_status(source.status())
                await asyncio.sleep(STATUS_INTERVAL_S)

        async def flusher() -> None:
            # Blocks flush the writer as they come; this covers a stream that stalls.
            while not self._failure:
                await asyncio.sleep(max(self.flush_interval_s / 2, FLUSH_CHECK_MIN_S))
                self._guarded(self._writer.flush_if_due)
            await close_source()  # a write failed while no block came: end the stream

        tasks = [asyncio.create_task(stopper()), asyncio.create_task(reporter()),
                 asyncio.create_task(flusher())]
        assert self._writer is not None
        try:
            async for block in source:
                self._write(block)
                if self._failure:
                    break
        finally:
            # The loop may end by a stop, an error or a failed write: end every helper
            # except one that is closing the source (a half-done close would leave the
            # connection open).
            for task in tasks:
                if task not in closer:
                    task.cancel()
            await source.aclose()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                self._writer.close()  # after a failure it only releases the file
            except RecordingError as exc:
                self._failure = self._failure or str(exc)
            written = self._writer.samples_stored
        status = source.status()
        if on_status is not None:
            on_status(status)
        return RecordingSummary(self.path, written, time.monotonic() - started, self._gaps,
                                status.samples_lost, status.reconnects,
                                getattr(source, "malformed", 0), self._failure)


async def _unless_stopped(start, stop: asyncio.Event) -> bool:
    """Run `start` unless `stop` is set first (Ctrl-C while scanning); True if it ran."""
    start_task = asyncio.ensure_future(start)
    stop_task = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({start_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_task.cancel()
    if start_task in done:
        start_task.result()
        return True
    start_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await start_task
    return False


def _continue_offset(path: str, header: RecordingHeader) -> float:
    """Seconds to add to the new session's times so they follow the recording's last sample.

    The outage between runs is taken from the file's modification time (written at the
    last flush, at most one flush interval after the last sample).
    """
    last_time = None
    with iter_recording(path) as records:
        old = records.header
        for record in records:
            if isinstance(record, SampleBlock) and len(record):
                last_time = float(record.time_s[-1])
    if old.device.address != header.device.address or old.device.profile != header.device.profile:
        raise RecordingError(path, f"it was recorded from {old.device.name} "
                                   f"({old.device.address}, {old.device.profile}), not from "
                                   f"{header.device.name} ({header.device.address}).",
                             hint="record into a new file, or connect to the same sensor.")
    if abs(old.sample_rate_hz - header.sample_rate_hz) > 1e-9:
        raise RecordingError(path, f"it holds {old.sample_rate_hz:g} Hz samples; the sensor now "
                                   f"streams at {header.sample_rate_hz:g} Hz.",
                             hint=f"record with --rate {old.sample_rate_hz:g}, or into a new file.")
    if last_time is None:
        return 0.0
    outage = max(0.0, time.time() - os.path.getmtime(path))
    return last_time + outage
