"""Bounded buffers between the stream thread and the page.

`AngleRing` keeps the most recent display points (time, three angles, and when the
sample reached the server) with absolute indices, so each browser tab can ask for
"everything after index i" and receive only new points. `RawRing` keeps the last
minutes of raw samples so a recording started after calibration can still begin
with the calibration samples.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from imu.samples import SampleBlock


@dataclass(frozen=True)
class AngleSlice:
    """Display points with indices [start_index, end_index)."""

    start_index: int
    end_index: int
    time_s: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    arrival_epoch_s: np.ndarray
    """Wall-clock time (time.time()) at which each point's sample reached the server."""

    def __len__(self) -> int:
        return self.end_index - self.start_index


class AngleRing:
    """Fixed-capacity ring of display points; old points are overwritten."""

    _COLUMNS = 5  # time, tilt, obliquity, rotation, arrival

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._data = np.full((self._COLUMNS, self.capacity), np.nan)
        self.end_index = 0
        """Number of points ever appended (the index the next point gets)."""

    @property
    def start_index(self) -> int:
        return max(0, self.end_index - self.capacity)

    def append(self, time_s: np.ndarray, tilt_deg: np.ndarray, obliquity_deg: np.ndarray,
               rotation_deg: np.ndarray, arrival_epoch_s: float | np.ndarray) -> None:
        n = len(time_s)
        if n == 0:
            return
        cols = np.empty((self._COLUMNS, n))
        cols[0], cols[1], cols[2], cols[3], cols[4] = (time_s, tilt_deg, obliquity_deg,
                                                       rotation_deg, arrival_epoch_s)
        if n > self.capacity:
            self.end_index += n - self.capacity
            cols = cols[:, -self.capacity:]
            n = self.capacity
        pos = np.arange(self.end_index, self.end_index + n) % self.capacity
        self._data[:, pos] = cols
        self.end_index += n

    def since(self, index: int, limit: int | None = None) -> AngleSlice:
        """Points after `index` (clamped to what the ring still holds), at most `limit`
        of the newest."""
        start = min(max(int(index), self.start_index), self.end_index)
        if limit is not None:
            start = max(start, self.end_index - limit)
        pos = np.arange(start, self.end_index) % self.capacity
        d = self._data[:, pos]
        return AngleSlice(start, self.end_index, d[0], d[1], d[2], d[3], d[4])


class RawRing:
    """The last `max_samples` raw samples, as the blocks they arrived in."""

    def __init__(self, max_samples: int) -> None:
        self.max_samples = int(max_samples)
        self._blocks: deque[SampleBlock] = deque()
        self._n = 0

    def append(self, block: SampleBlock) -> None:
        self._blocks.append(block)
        self._n += len(block)
        while self._blocks and self._n - len(self._blocks[0]) >= self.max_samples:
            self._n -= len(self._blocks.popleft())

    def since(self, time_s: float) -> list[SampleBlock]:
        """Blocks whose samples reach `time_s` or later (whole blocks, in order)."""
        return [b for b in self._blocks if len(b) and b.time_s[-1] >= time_s]

