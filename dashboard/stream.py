"""The live stream: one LiveSource feeding one Pipeline in a background thread.

The thread runs an asyncio loop that pulls SampleBlocks from the source, feeds the
pipeline, appends decimated angles to a bounded ring, keeps the analysis items, and
writes the recording when one is running. Page callbacks only read snapshots (and
send a few commands) under one lock, so no state lives in module globals and any
number of browser tabs can watch the same stream.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from imu.calibration import Alignment, CalibrationProgress
from imu.errors import PelvisMonitorError, RecordingError, SettingsError
from imu.events.model import AnalysisEvent, Flag
from imu.pipeline import Pipeline, PipelineSettings
from imu.record_target import check_record_target
from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter
from imu.samples import SampleBlock
from imu.sources import LiveSource, SourceStatus

from dashboard.buffers import AngleRing, AngleSlice, RawRing

DISPLAY_RATE_HZ = 50.0
"""Points drawn per second: the browser's cost grows with points per extend, and 50 Hz
shows a pelvis movement without visible loss (dashboard-transport-notes)."""
RAW_KEEP_S = 180.0
"""Raw samples kept for a recording's pre-roll (a calibration a few minutes back)."""
UNCALIBRATED_PREROLL_S = 30.0
"""Pre-roll when not yet calibrated: enough for a calibration that is under way."""
EVENTS_KEEP = 20000
FLUSH_CHECK_S = 0.25
"""How often the stream thread checks that a running recording's buffered samples are
not older than the writer's flush interval (blocks flush it as they come; this covers a
stalled stream, so a crash then still loses at most the last second)."""
NUMBER_SMOOTHING_S = 0.2
"""The big numbers show the mean of the last 0.2 s: a value that flickers at 20 Hz
cannot be read from two metres away."""


def supports_exercise_setting() -> bool:
    """True once PipelineSettings has the `exercise` field (events analysis)."""
    return any(f.name == "exercise" for f in fields(PipelineSettings))


def with_exercise(settings: PipelineSettings, exercise: str) -> PipelineSettings:
    """The settings with the exercise selection, where the pipeline supports one."""
    if supports_exercise_setting():
        return replace(settings, exercise=exercise)
    return settings


@dataclass(frozen=True)
class RecordingState:
    path: str
    started_wall_s: float
    samples: int


@dataclass(frozen=True)
class LiveSnapshot:
    """What the slow panels of the live view show, copied under the lock."""

    generation: int
    running: bool
    status: SourceStatus | None
    error: str
    calibration_message: str
    progress: CalibrationProgress | None
    alignment: Alignment | None
    events_total: int
    recording: RecordingState | None
    exercise: str
    last_time_s: float | None
    time_origin_s: float | None
    flags_total: int = 0
    """Flags ever reported (the kept items hold only the newest EVENTS_KEEP): the
    sound cue fires when this grows, also hours into a session."""


@dataclass(frozen=True)
class RecordingResult:
    path: str
    samples: int
    duration_s: float


class LiveStream:
    """Streams one LiveSource at a time through a Pipeline (see module docstring)."""

    def __init__(self, recordings_dir: Path, window_s: float = 15.0,
                 settings: PipelineSettings = PipelineSettings(),
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.recordings_dir = Path(recordings_dir)
        self.window_s = float(window_s)
        self._base_settings = settings
        self._wall = wall_clock
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._source: LiveSource | None = None
        self._generation = 0
        self._exercise = "auto"
        self._reset_state(rate_hz=None)

    # ---------------------------------------------------------------- state
    def _reset_state(self, rate_hz: float | None) -> None:
        self._rate_hz = rate_hz
        self._pipeline = Pipeline(rate_hz, self._settings()) if rate_hz else None
        self._ring = AngleRing(int(self.window_s * DISPLAY_RATE_HZ * 2))
        self._raw = RawRing(int(RAW_KEEP_S * (rate_hz or 200.0)))
        self._events: deque[AnalysisEvent] = deque(maxlen=EVENTS_KEEP)
        self._events_total = 0
        """Items ever reported in this generation (the page's events cursor)."""
        self._flags_total = 0
        self._decim = max(1, int(round((rate_hz or DISPLAY_RATE_HZ) / DISPLAY_RATE_HZ)))
        self._phase = 0
        self._error = ""
        self._writer: RecordingWriter | None = None
        self._rec_started = 0.0
        self._calibration_written = False
        self._last_block: SampleBlock | None = None
        self._time_origin: float | None = None

    def _settings(self) -> PipelineSettings:
        return with_exercise(self._base_settings, self._exercise)

    # ---------------------------------------------------------------- lifecycle
    def connect(self, source: LiveSource) -> None:
        """Stream from `source` (the previous source, if any, is closed first)."""
        self.disconnect()
        with self._lock:
            self._generation += 1
            self._reset_state(source.rate_hz)
            self._source = source
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(loop, source),
                                        name="pelvis-live-stream", daemon=True)
        self._thread.start()

    def disconnect(self) -> RecordingResult | None:
        """Stop streaming (a running recording is closed and returned)."""
        thread, loop, source = self._thread, self._loop, self._source
        if thread is not None and thread.is_alive() and loop is not None and source is not None:
            try:
                asyncio.run_coroutine_threadsafe(source.aclose(), loop).result(timeout=5.0)
            except (TimeoutError, RuntimeError):
                pass  # the loop ended meanwhile: the source stopped by itself
            thread.join(timeout=5.0)
        self._thread = self._loop = None
        with self._lock:
            result = self._close_writer()
            self._source = None
        return result

    def _run(self, loop: asyncio.AbstractEventLoop, source: LiveSource) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._consume(source))
        finally:
            loop.close()

    async def _consume(self, source: LiveSource) -> None:
        flusher = asyncio.get_running_loop().create_task(self._flush_when_due())
        try:
            async for block in source:
                self._process(block)
        except Exception as exc:  # noqa: BLE001 - the thread boundary: show it on the page
            with self._lock:
                self._error = f"The sensor stream stopped: {type(exc).__name__}: {exc}"
        finally:
            flusher.cancel()

    async def _flush_when_due(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_CHECK_S)
            with self._lock:
                if self._writer is not None:
                    self._guard_writer(self._writer.flush_if_due)

    # ---------------------------------------------------------------- the stream thread
    def _process(self, block: SampleBlock) -> None:
        arrival = self._wall()
        with self._lock:
            if self._pipeline is None or len(block) == 0:
                return
            if self._time_origin is None:
                self._time_origin = float(block.time_s[0])
            out = self._pipeline.feed(block)
            self._raw.append(block)
            self._last_block = block
            first = (-self._phase) % self._decim
            idx = np.arange(first, len(block), self._decim)
            self._phase = (self._phase + len(block)) % self._decim
            self._ring.append(out.time_s[idx], out.tilt_deg[idx], out.obliquity_deg[idx],
                              out.rotation_deg[idx], arrival)
            if out.events:
                self._events.extend(out.events)
                self._events_total += len(out.events)
                self._flags_total += sum(isinstance(e, Flag) for e in out.events)
            if self._writer is not None:
                self._write(block)

    def _write(self, block: SampleBlock) -> None:
        def write() -> None:
            self._writer.write_samples(block)
            if not self._calibration_written and self._pipeline.alignment is not None:
                self._write_calibration()
        self._guard_writer(write)

    def _guard_writer(self, write: Callable[[], object]) -> None:
        """Run a write; a failure (a full disk) stops the recording, keeping what is saved."""
        try:
            write()
        except PelvisMonitorError as exc:
            self._error = f"Recording stopped: {exc}"
            self._close_writer()

    def _write_calibration(self) -> None:
        al = self._pipeline.alignment
        self._writer.write_calibration(al.decided_at_s, {"alignment": al.to_dict(),
                                                         "source": "live"})
        self._calibration_written = True

    # ---------------------------------------------------------------- commands from the page
    def set_exercise(self, exercise: str) -> None:
        """Analyse as `exercise` ('auto' or one of imu.events.model.EXERCISES); the
        calibration found so far is kept."""
        with self._lock:
            self._exercise = exercise
            if self._pipeline is not None:
                self._pipeline = Pipeline(self._rate_hz, self._settings(),
                                          alignment=self._pipeline.alignment)

    def recalibrate(self) -> None:
        """Forget the calibration and look for standing and hinges again."""
        with self._lock:
            if self._pipeline is not None:
                self._pipeline = Pipeline(self._rate_hz, self._settings())
                self._calibration_written = False

    def start_recording(self) -> str:
        """Start recording into the recordings folder; returns the file name.

        The recording begins with the raw samples of the calibration (when it lies
        within the last few minutes), so the file re-analyses on its own.
        """
        with self._lock:
            if self._writer is not None:
                return Path(self._writer.path).name
            if self._pipeline is None or self._last_block is None:
                raise SettingsError("Connect a sensor and wait for data before recording.")
            try:
                self.recordings_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RecordingError(str(self.recordings_dir), "cannot create the recordings "
                                     f"folder: {exc.strerror or exc}.",
                                     hint="choose a writable folder for recordings.") from None
            path = self._free_path()
            check_record_target(path)  # a read-only folder or a full disk: say so now
            status = self._source.status() if self._source else None
            last = self._last_block
            header = RecordingHeader(
                sample_rate_hz=self._rate_hz,
                device=DeviceInfo(name=status.device_name if status else "unknown",
                                  profile=status.profile if status else "unknown"),
                has_mag=last.mag_uT is not None, has_seq=last.seq is not None,
                settings={"pipeline": self._pipeline.settings.to_dict(),
                          "exercise": self._exercise})
            self._writer = RecordingWriter(path, header)
            self._rec_started = self._wall()
            self._calibration_written = False
            al = self._pipeline.alignment
            t_from = (al.standing_start_s - 1.0 if al is not None
                      else float(last.time_s[-1]) - UNCALIBRATED_PREROLL_S)
            for b in self._raw.since(t_from):
                self._writer.write_samples(b)
            if al is not None:
                self._write_calibration()
            return path.name

    def _free_path(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.recordings_dir / f"session-{stamp}.pmrec"
        n = 2
        while path.exists():
            path = self.recordings_dir / f"session-{stamp}-{n}.pmrec"
            n += 1
        return path

    def stop_recording(self) -> RecordingResult | None:
        with self._lock:
            return self._close_writer()

    def _close_writer(self) -> RecordingResult | None:
        w = self._writer
        if w is None:
            return None
        self._writer = None
        try:
            w.close()
        except PelvisMonitorError as exc:
            self._error = f"Closing the recording failed: {exc}"
        dur = self._wall() - self._rec_started
        return RecordingResult(w.path, w.samples_written, dur)

    def annotate(self, text: str) -> float:
        """Store a note in the running recording at the latest sample time."""
        text = (text or "").strip()
        if not text:
            raise SettingsError("Type a note first.")
        with self._lock:
            if self._writer is None or self._last_block is None:
                raise SettingsError("Start recording to keep notes.")
            t = float(self._last_block.time_s[-1])
            self._writer.write_annotation(t, text[:200])
            return t

    # ---------------------------------------------------------------- reads for the page
    def angles_since(self, index: int, limit: int | None = None) -> tuple[int, AngleSlice]:
        """(generation, new display points after `index`)."""
        with self._lock:
            return self._generation, self._ring.since(index, limit)

    def time_origin(self) -> float:
        """Sample time of the first sample of this connection (0 before any)."""
        with self._lock:
            return self._time_origin or 0.0

    def latest_angles(self) -> tuple[float, float, float] | None:
        """Tilt, obliquity, rotation (deg): the mean of the last NUMBER_SMOOTHING_S."""
        with self._lock:
            sl = self._ring.since(0, max(1, int(NUMBER_SMOOTHING_S * DISPLAY_RATE_HZ)))
        return smoothed_angles(sl)

    def events(self) -> tuple[AnalysisEvent, ...]:
        """The analysis items kept (the newest EVENTS_KEEP), in report order."""
        with self._lock:
            return tuple(self._events)

    def events_reported_after(self, after_s: float) -> tuple[AnalysisEvent, ...]:
        """Kept items reported after stream time `after_s`, in report order: all that can
        reach into a chart window starting then (an item is reported after it ends)."""
        with self._lock:
            recent = []
            for it in reversed(self._events):  # report order: stop at the first older one
                if it.reported_time_s <= after_s:
                    break
                recent.append(it)
        return tuple(reversed(recent))

    def events_since(self, count: int) -> tuple[int, tuple[AnalysisEvent, ...]]:
        """(items ever reported, the kept items reported after the first `count`)."""
        with self._lock:
            new = max(0, min(self._events_total - count, len(self._events)))
            return self._events_total, tuple(self._events)[len(self._events) - new:]

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            pipe = self._pipeline
            rec = None
            if self._writer is not None:
                rec = RecordingState(self._writer.path, self._rec_started,
                                     self._writer.samples_written)
            last = self._last_block
            return LiveSnapshot(
                self._generation, self._thread is not None and self._thread.is_alive(),
                self._source.status() if self._source else None, self._error,
                pipe.status_message() if pipe else "",
                pipe.calibration_progress() if pipe else None,
                pipe.alignment if pipe else None, self._events_total, rec,
                self._exercise, float(last.time_s[-1]) if last is not None else None,
                self._time_origin, self._flags_total)


def smoothed_angles(sl: AngleSlice) -> tuple[float, float, float] | None:
    """Mean of the finite points of a slice, or None when there are none."""
    if len(sl) == 0:
        return None
    ok = np.isfinite(sl.tilt_deg)
    if not ok.any():
        return None
    return (float(np.mean(sl.tilt_deg[ok])), float(np.mean(sl.obliquity_deg[ok])),
            float(np.mean(sl.rotation_deg[ok])))
