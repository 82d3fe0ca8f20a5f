"""Activity segmentation: standing, walking, running, exercise (reps) or unknown.

Decided per hop from what the detectors see (a step rhythm with or without flight, a
rep in progress or recently finished, a still upright pelvis) and switched only after
the new activity has lasted SWITCH_S, so a turn or a pause of a step does not split a
bout. A segment is reported when it ends.
"""

from __future__ import annotations

import numpy as np

from imu.events.model import Segment

SWITCH_S = 1.0
STILL_RPS = 0.35
REP_RECENT_S = 8.0
UPRIGHT_DEG = 50.0


class ActivityTracker:
    def __init__(self, rate_hz: float, exercise: str = "auto") -> None:
        self.rate_hz = rate_hz
        self.exercise = exercise
        self.current = "unknown"
        self._start: float | None = None
        self._candidate: str | None = None
        self._candidate_since = 0.0
        self._segment_exercise: str | None = None

    def _classify(self, hist, now_s: float, gait, reps) -> str:
        if not np.isfinite(hist.col("tilt_deg")[-1]):
            return "calibration"   # before the alignment: standing still and hinges
        if gait.in_gait(now_s):
            return "running" if gait.running else "walking"
        last = reps.last_rep_end_s
        if reps.state == "active" or (last is not None and now_s - last < REP_RECENT_S):
            return "exercise"
        t = hist.col("time_s")
        a = int(np.searchsorted(t, now_s - 1.0))
        gyr = hist.col("gyr_norm_rps")[a:]
        tilt = hist.col("tilt_deg")[a:]
        if gyr.size and gyr.mean() < STILL_RPS:
            if not np.isfinite(tilt[-1]) or abs(tilt[-1]) < UPRIGHT_DEG:
                return "standing"
            return "exercise"
        return "unknown"

    def update(self, hist, now_s: float, gait, reps) -> list[Segment]:
        label = self._classify(hist, now_s, gait, reps)
        if self._start is None:
            self._start, self.current = now_s, label
            return []
        if label == self.current:
            self._candidate = None
            if label == "exercise" and reps.current_exercise:
                self._segment_exercise = reps.current_exercise
            return []
        if label != self._candidate:
            self._candidate, self._candidate_since = label, now_s
        if now_s - self._candidate_since < SWITCH_S:
            return []
        seg = self._close(self._candidate_since, now_s)
        self.current, self._start = label, self._candidate_since
        self._candidate = None
        self._segment_exercise = None
        return [seg]

    def _close(self, end_s: float, now_s: float) -> Segment:
        ex = None
        if self.current == "exercise":
            ex = self.exercise if self.exercise != "auto" else self._segment_exercise
        elif self.current in ("walking", "running") and self.exercise in ("walk", "run"):
            ex = self.exercise
        return Segment(self.current, ex, float(self._start), float(end_s), now_s)

    def finish(self, now_s: float) -> list[Segment]:
        if self._start is None:
            return []
        seg = self._close(now_s, now_s)
        self._start = None
        return [seg]
