"""The one processing pipeline, fed block by block, shared by live, replay and batch.

samples -> fusion -> alignment (calibration) -> pelvis angles -> (events, metrics, flags)

Every stage keeps its own state and processes any block size with results that do
not depend on how the stream was split, so a replay of a recording reproduces
exactly what was shown live, and batch analysis is just a replay.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from imu.angles import HEADING_WINDOW_S
from imu.calibration import Alignment, AlignmentDetector, CalibrationProgress, CalibrationSettings
from imu.device_calibration import DeviceCalibration
from imu.errors import SettingsError
from imu.events.model import EXERCISES, AnalysisEvent
from imu.events.profile import Profile
from imu.events.signals import body_signals
from imu.events.stage import EventStage
from imu.fusion import FusionSettings, OrientationFilter, make_filter
from imu.pelvis import PelvisAngleStage
from imu.rotation import quat_to_matrix
from imu.samples import SampleBlock

# Batch analysis feeds blocks of this many samples: large enough that per-block
# overhead vanishes, small enough to keep memory per step modest.
BATCH_BLOCK_SAMPLES = 8192


@dataclass(frozen=True)
class PipelineSettings:
    """Everything that changes the pipeline's output. Saved with each recording."""

    fusion: FusionSettings = field(default_factory=FusionSettings)
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    heading_window_s: float = HEADING_WINDOW_S
    exercise: str = "auto"
    """"auto" (find activities and exercises), or one of imu.events.model.EXERCISES."""
    device: DeviceCalibration | None = None
    """The device's accelerometer calibration (`pelvis-monitor calibrate-device`), applied
    to every sample before anything else; None: samples as the device sent them."""

    def __post_init__(self) -> None:
        if self.exercise != "auto" and self.exercise not in EXERCISES:
            raise SettingsError(f"Unknown exercise {self.exercise!r}. Use auto or one of: "
                                f"{', '.join(EXERCISES)}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineSettings":
        try:
            return cls(fusion=FusionSettings(**d.get("fusion", {})),
                       calibration=CalibrationSettings(**d.get("calibration", {})),
                       heading_window_s=float(d.get("heading_window_s", HEADING_WINDOW_S)),
                       exercise=str(d.get("exercise", "auto")),
                       device=DeviceCalibration.from_dict(d["device"]) if d.get("device") else None)
        except TypeError as exc:
            raise SettingsError(f"Unknown pipeline setting: {exc}") from exc


@dataclass(frozen=True)
class PipelineOutput:
    """What one fed block produced, one row per input sample."""

    time_s: np.ndarray
    quat_wxyz: np.ndarray
    """Fused sensor orientation (sensor -> earth, earth z up), (N, 4)."""
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    """Angles are NaN until the alignment is known."""
    gap_before: np.ndarray
    alignment: Alignment | None = None
    """Set in the output of the block in which the alignment was decided."""
    events: tuple[AnalysisEvent, ...] = ()
    """Gait events, strides, reps, segments, variability and flags reported during
    this block, in report order (see imu.events.model)."""


class Pipeline:
    """Streaming pelvis pipeline. `feed()` any number of samples at a time."""

    def __init__(self, rate_hz: float, settings: PipelineSettings = PipelineSettings(),
                 alignment: Alignment | None = None, profile: Profile | None = None) -> None:
        if not rate_hz > 0:
            raise SettingsError(f"rate_hz must be positive, got {rate_hz!r}.")
        self.rate_hz = float(rate_hz)
        self.settings = settings
        self._filter: OrientationFilter = make_filter(settings.fusion, self.rate_hz)
        self._detector = AlignmentDetector(self.rate_hz, settings.calibration)
        self._angles: PelvisAngleStage | None = None
        self._given_alignment = alignment is not None
        if alignment is not None:
            self._angles = PelvisAngleStage(alignment, settings.heading_window_s)
        self._events = EventStage(self.rate_hz, settings.exercise, profile)
        self.samples_seen = 0
        self._last_pose = np.full(3, np.nan)  # tilt, obliquity, heading of the last sample

    @property
    def events(self) -> EventStage:
        """The analysis stage (current activity, step period, rep state...)."""
        return self._events

    @property
    def alignment(self) -> Alignment | None:
        return self._angles.alignment if self._angles else None

    @property
    def fusion_status(self):
        return self._filter.status

    def status_message(self) -> str:
        if self._given_alignment:
            return "Using the alignment given at start."
        return self._detector.status_message()

    def calibration_progress(self) -> CalibrationProgress | None:
        """Counters of the running calibration, for a progress display; None when the
        alignment was given at start."""
        return None if self._given_alignment else self._detector.progress()

    def feed(self, block: SampleBlock) -> PipelineOutput:
        n = len(block)
        if self.settings.device is not None:
            block = self.settings.device.apply_block(block)
        quat = self._filter.update(block)
        r_es = quat_to_matrix(quat)  # once: the angles and the body signals both need it
        angles = np.full((4, n), np.nan)
        decided = None
        if self._angles is None:
            decided = self._detector.update(block.time_s, block.acc_mps2, block.gyr_rps,
                                            quat, block.gap_before)
            if decided is not None:
                self._angles = PelvisAngleStage(decided, self.settings.heading_window_s)
        if self._angles is not None:
            start = 0
            if decided is not None:
                start = max(0, decided.valid_from_sample - self.samples_seen)
            if start < n:
                a = self._angles.update(block.time_s[start:], quat[start:],
                                        block.gap_before[start:], r_es[start:])
                angles[0, start:], angles[1, start:], angles[2, start:], angles[3, start:] = (
                    a.tilt_deg, a.obliquity_deg, a.rotation_deg, a.heading_deg)
        self.samples_seen += n
        self._tell_reframes(block.time_s, angles)
        events: tuple = ()
        if n:
            sig = body_signals(block.time_s, quat, block.acc_mps2, block.gyr_rps, angles[0],
                               angles[1], angles[2], angles[3], block.gap_before, r_es)
            events = tuple(self._events.feed(sig))
        return PipelineOutput(block.time_s, quat, angles[0], angles[1], angles[2],
                              block.gap_before, decided, events)

    def _tell_reframes(self, time_s: np.ndarray, angles: np.ndarray) -> None:
        """Where the fusion corrected its frame the angles step with no movement: tell
        the event stage by how much, so a rest posture is not taken for a rep's start."""
        pose = angles[[0, 1, 3]]
        for i in self._filter.reframed_at:
            before = pose[:, i - 1] if i > 0 else self._last_pose
            step = pose[:, i] - before
            if np.all(np.isfinite(step)):
                step[2] = (step[2] + 180.0) % 360.0 - 180.0
                self._events.reframe(float(time_s[i]), step)
        if pose.shape[1]:
            self._last_pose = pose[:, -1].copy()

    def finish(self) -> tuple[AnalysisEvent, ...]:
        """End of the stream: report what was still open (the last segment)."""
        return tuple(self._events.finish())


@dataclass(frozen=True)
class Analysis:
    """A whole input run through the pipeline."""

    time_s: np.ndarray
    quat_wxyz: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    gap_before: np.ndarray
    alignment: Alignment | None
    message: str
    rate_hz: float
    settings: PipelineSettings
    events: tuple[AnalysisEvent, ...] = ()

    @property
    def calibrated(self) -> bool:
        return self.alignment is not None


def analyze_samples(block: SampleBlock, rate_hz: float,
                    settings: PipelineSettings = PipelineSettings(),
                    block_size: int = BATCH_BLOCK_SAMPLES,
                    progress: Callable[[int, int], None] | None = None,
                    profile: Profile | None = None) -> Analysis:
    """Run a whole sample block through a fresh pipeline (identical to streaming it)."""
    pipe = Pipeline(rate_hz, settings, profile=profile)
    events: list[AnalysisEvent] = []
    n = len(block)
    quat = np.empty((n, 4))
    angles = np.empty((3, n))
    for start in range(0, n, block_size):
        out = pipe.feed(block.slice(start, start + block_size))
        stop = start + len(out.time_s)
        quat[start:stop] = out.quat_wxyz
        angles[:, start:stop] = (out.tilt_deg, out.obliquity_deg, out.rotation_deg)
        events += out.events
        if progress:
            progress(stop, n)
    events += pipe.finish()
    return Analysis(block.time_s, quat, angles[0], angles[1], angles[2], block.gap_before,
                    pipe.alignment, pipe.status_message(), rate_hz, settings, tuple(events))
