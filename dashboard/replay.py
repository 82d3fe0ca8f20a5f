"""Replay: a file run through the same pipeline as live, shown as of any moment.

The whole file is analysed once (the pipeline's results do not depend on how the
samples are split, and every analysis item says when live would have reported it),
so the view at position t shows the angles up to t and the items reported by t:
exactly what the live view showed at that moment.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu.events.model import AnalysisEvent
from imu.inputs import LoadedInput, load_input
from imu.pipeline import Analysis, PipelineSettings, analyze_samples

from dashboard.buffers import AngleSlice
from dashboard.stream import DISPLAY_RATE_HZ

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_TICK_S = 0.5
"""A late tick advances at most this much wall time (a stalled tab does not jump)."""
CACHE_FILES = 4
CACHE_SAMPLES = 4 * 3600 * 200
"""The cache also holds at most this many samples (4 h at 200 Hz, ~0.5 GB analysed:
bench/long_session measured ~127 MB per hour of session); the file in use is kept."""


def settings_for(loaded: LoadedInput) -> PipelineSettings:
    """The pipeline settings a recording was made with (defaults for CSV and old files)."""
    stored = loaded.settings.get("pipeline") if loaded.settings else None
    return PipelineSettings.from_dict(stored) if isinstance(stored, dict) else PipelineSettings()


@dataclass(frozen=True)
class ReplayData:
    """One analysed file."""

    name: str
    loaded: LoadedInput
    analysis: Analysis
    reported_s: np.ndarray
    """reported_time_s of each analysis item, in report order."""

    @property
    def events(self) -> tuple[AnalysisEvent, ...]:
        return self.analysis.events

    @property
    def origin_s(self) -> float:
        return float(self.analysis.time_s[0])

    @property
    def duration_s(self) -> float:
        return float(self.analysis.time_s[-1] - self.analysis.time_s[0])

    @property
    def decimation(self) -> int:
        return max(1, int(round(self.analysis.rate_hz / DISPLAY_RATE_HZ)))

    def events_until(self, position_s: float) -> tuple[AnalysisEvent, ...]:
        """Items live had reported when the stream reached `position_s` (from the start)."""
        return self.events[:self.count_until(position_s)]

    def count_until(self, position_s: float) -> int:
        """How many items live had reported at `position_s` (from the start)."""
        return int(np.searchsorted(self.reported_s, self.origin_s + position_s, side="right"))

    def events_reported_between(self, after_s: float, position_s: float
                                ) -> tuple[AnalysisEvent, ...]:
        """Items reported after `after_s` and up to `position_s` (from the start): all
        that can reach into a window ending at `position_s` (an item is reported after
        it ends), without walking the whole session's items on every tick."""
        a = int(np.searchsorted(self.reported_s, self.origin_s + after_s, side="left"))
        b = int(np.searchsorted(self.reported_s, self.origin_s + position_s, side="right"))
        return self.events[a:b]

    def display_points(self, after_s: float, until_s: float, limit: int | None = None) -> AngleSlice:
        """Display points (decimated as live decimates) with after_s < t - origin <= until_s."""
        a = self.analysis
        t = a.time_s - self.origin_s
        i0 = int(np.searchsorted(t, after_s, side="right"))
        i1 = int(np.searchsorted(t, until_s, side="right"))
        d = self.decimation
        i0 = -(-i0 // d) * d  # round up to the decimation grid
        idx = np.arange(i0, i1, d)
        if limit is not None:
            idx = idx[-limit:]
        nan = np.full(idx.size, np.nan)
        start = int(idx[0] // d) if idx.size else i1 // d
        return AngleSlice(start, start + idx.size, a.time_s[idx], a.tilt_deg[idx],
                          a.obliquity_deg[idx], a.rotation_deg[idx], nan)


def analyse_file(path: Path, name: str) -> ReplayData:
    """Load and analyse a recording or CSV (raises the loaders' errors)."""
    loaded = load_input(path)
    analysis = analyze_samples(loaded.samples, loaded.rate_hz, settings_for(loaded))
    reported = np.array([e.reported_time_s for e in analysis.events], dtype=float)
    return ReplayData(name, loaded, analysis, reported)


class ReplayLibrary:
    """Analysed files, cached by (path, size, modification time); thread-safe."""

    def __init__(self, max_files: int = CACHE_FILES, max_samples: int = CACHE_SAMPLES) -> None:
        self._cache: OrderedDict[tuple, ReplayData] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_files
        self._max_samples = max_samples

    def __len__(self) -> int:
        """Files cached."""
        with self._lock:
            return len(self._cache)

    def get(self, path: Path, name: str) -> ReplayData:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        data = analyse_file(path, name)
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > 1 and (
                    len(self._cache) > self._max
                    or sum(d.analysis.time_s.size for d in self._cache.values()) > self._max_samples):
                self._cache.popitem(last=False)
        return data


def advance(position_s: float, speed: float, wall_dt_s: float, duration_s: float) -> tuple[float, bool]:
    """The new play position and whether playing goes on (it stops at the end)."""
    dt = min(max(wall_dt_s, 0.0), MAX_TICK_S)
    new = min(position_s + dt * speed, duration_s)
    return new, new < duration_s


@dataclass(frozen=True)
class PlayerRequest:
    """What one request of the player callback carries.

    The browser merges a click that is still waiting to be sent into a later tick's
    request, or drops it for that request, so the trigger alone can miss a click. The
    inputs' current values always travel, though: a press is a rise of `clicks`, and a
    seek is a slider value other than the one the page last got from the server."""

    fired: frozenset[str]
    """Which of "loaded", "play", "seek", "timeline", "tick" the browser names."""
    clicks: int
    seek_s: float | None
    shown_seek_s: float | None
    """The slider value of the last response the page applied (None: none yet)."""
    timeline_s: float | None
    """The time of the last point clicked on the timeline."""


@dataclass
class Player:
    """Where one browser tab's replay is: kept on the server, so a click and a tick that
    cross on the way cannot undo each other."""

    name: str
    position_s: float = 0.0
    playing: bool = False
    speed: float = 1.0
    wall_s: float = 0.0
    clicks: int = 0
    timeline_s: float | None = None

    def step(self, req: PlayerRequest, duration_s: float, now_s: float, fresh: bool) -> bool:
        """Apply one request; True when the position jumped (the chart is redrawn)."""
        if fresh:  # what the page did before this player existed is not a command
            self.clicks = req.clicks - (1 if "play" in req.fired else 0)
            self.timeline_s = None if "timeline" in req.fired else req.timeline_s
        jumped = fresh
        presses, self.clicks = req.clicks - self.clicks, max(req.clicks, self.clicks)
        clicked = req.timeline_s is not None and (
            "timeline" in req.fired or req.timeline_s != self.timeline_s)
        self.timeline_s = req.timeline_s
        if "loaded" in req.fired:
            self.position_s, self.playing, jumped = 0.0, False, True
        else:
            moved = req.seek_s is not None and (
                "seek" in req.fired or req.shown_seek_s is None
                or abs(req.seek_s - req.shown_seek_s) > 0.05)
            target = req.timeline_s if clicked else req.seek_s if moved else None
            if target is not None and abs(target - self.position_s) > 0.05:
                self.position_s, jumped = min(max(float(target), 0.0), duration_s), True
            if presses > 0 and presses % 2:
                if not self.playing and self.position_s >= duration_s:
                    self.position_s, jumped = 0.0, True
                self.playing = not self.playing
            elif "tick" in req.fired and self.playing and not jumped:
                self.position_s, self.playing = advance(self.position_s, self.speed,
                                                        now_s - self.wall_s, duration_s)
        self.wall_s = now_s
        return jumped


class PlayerRegistry:
    """Players by browser-tab id (bounded: the oldest tabs are forgotten)."""

    def __init__(self, max_tabs: int = 64) -> None:
        self._players: OrderedDict[str, Player] = OrderedDict()
        self._max = max_tabs
        self.lock = threading.Lock()

    def player(self, tab: str, name: str) -> tuple[Player, bool]:
        """The tab's player for file `name` (a new one when the file changed); True if new.
        Call with `lock` held."""
        p = self._players.get(tab)
        fresh = p is None or p.name != name
        if fresh:
            p = Player(name)
            self._players[tab] = p
            while len(self._players) > self._max:
                self._players.popitem(last=False)
        self._players.move_to_end(tab)
        return p, fresh
