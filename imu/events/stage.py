"""The analysis stage of the pipeline: body signals in, reported items out, in hops.

Samples are processed in fixed hops counted from the start of the stream, so what is
reported, and at which sample, does not depend on how the stream was split into
blocks: a replay reports exactly what live reported. Each hop looks at a bounded
history (40 s), so memory stays flat over hours.
"""

from __future__ import annotations

import numpy as np

from imu.events.activity import ActivityTracker
from imu.events.flags import TURN_RATE_MAX_DPS, FlagRules
from imu.events.gait import GaitDetector
from imu.events.model import AnalysisEvent, Rep, Stride
from imu.events.profile import Profile
from imu.events.reps import RepDetector
from imu.events.signals import COLUMNS, BodySignals, SignalHistory
from imu.events.variability import VariabilityTracker

HOP_S = 0.05
HISTORY_S = 40.0  # a 30 s single-leg stance, the 2 s before it and the report after it
LONG_GAP_S = 0.5


class EventStage:
    """Gait events, strides, reps, segments, variability and flags, streaming."""

    def __init__(self, rate_hz: float, exercise: str = "auto",
                 profile: Profile | None = None) -> None:
        self.rate_hz = float(rate_hz)
        self.exercise = exercise
        self.profile = profile or Profile()
        self.hop_n = max(1, int(round(HOP_S * rate_hz)))
        self._hist = SignalHistory(HISTORY_S, rate_hz)
        self._pending: list[BodySignals] = []
        self._pending_n = 0
        self._last_t = -np.inf
        self.gait = GaitDetector(rate_hz)
        self.reps = RepDetector(rate_hz, exercise)
        self.activity = ActivityTracker(rate_hz, exercise)
        self.variability = VariabilityTracker(self.profile)
        self.flags = FlagRules(self.profile)

    def reframe(self, time_s: float, step_deg: np.ndarray) -> None:
        """From time_s on, the angles (tilt, obliquity, heading) read step_deg more for
        the same pose: the fusion corrected its frame there (Pipeline._tell_reframes)."""
        self.reps.shift_reference(time_s, step_deg)

    def feed(self, sig: BodySignals) -> list[AnalysisEvent]:
        """Add samples; returns the items reported by the hops they completed."""
        if len(sig) == 0:
            return []
        self._pending.append(sig)
        self._pending_n += len(sig)
        out: list[AnalysisEvent] = []
        if self._pending_n < self.hop_n:
            return out
        cols = [np.concatenate([getattr(p, c) for p in self._pending]) for c in COLUMNS]
        allsig = BodySignals(*cols)
        n_hops = self._pending_n // self.hop_n
        for h in range(n_hops):
            out += self._hop(_slice(allsig, h * self.hop_n, (h + 1) * self.hop_n))
        rest = n_hops * self.hop_n
        self._pending = [_slice(allsig, rest, len(allsig))] if rest < len(allsig) else []
        self._pending_n = len(allsig) - rest
        return out

    def finish(self) -> list[AnalysisEvent]:
        """End of stream: close the open segment and a rep in progress."""
        out: list[AnalysisEvent] = []
        if self._pending_n:
            cols = [np.concatenate([getattr(p, c) for p in self._pending]) for c in COLUMNS]
            out += self._hop(BodySignals(*cols))
            self._pending, self._pending_n = [], 0
        if len(self._hist):
            now = float(self._hist.col("time_s")[-1])
            out += self.activity.finish(now)
        return out

    def _hop(self, sig: BodySignals) -> list[AnalysisEvent]:
        if sig.gap_before.any() and self._long_gap(sig):
            # Never carry a stride or rep across a long loss (short ones are bridged by
            # the fusion and barely change the signals' shapes).
            self.gait.reset(float(sig.time_s[0]))
            self.reps.reset()
        self._hist.append(sig)
        self._last_t = float(sig.time_s[-1])
        now = float(sig.time_s[-1])
        items: list[AnalysisEvent] = []
        items += self.activity.update(self._hist, now, self.gait, self.reps)
        items += self.gait.process(self._hist, now)
        items += self.reps.process(self._hist, now, self.gait.in_gait(now))
        extra: list[AnalysisEvent] = []
        for it in items:
            if isinstance(it, Stride) and abs(it.turn_rate_dps) <= TURN_RATE_MAX_DPS:
                for var in self.variability.add(it, self._stance_obliquity(it)):
                    extra.append(var)
                    extra += self.flags.check(var)
            if isinstance(it, (Stride, Rep)):
                extra += self.flags.check(it)
        return items + extra


    def _long_gap(self, sig: BodySignals) -> bool:
        t = sig.time_s
        prev = np.concatenate(([self._last_t], t[:-1]))
        dt = (t - prev)[sig.gap_before]
        return bool(np.any(dt > LONG_GAP_S))

    def _stance_obliquity(self, s: Stride) -> np.ndarray:
        t = self._hist.col("time_s")
        a, b = np.searchsorted(t, s.ic_time_s), np.searchsorted(t, s.to_time_s, side="right")
        return self._hist.col("obliquity_deg")[a:b]


def _slice(sig: BodySignals, a: int, b: int) -> BodySignals:
    return BodySignals(*[c[a:b] for c in sig.columns()])
