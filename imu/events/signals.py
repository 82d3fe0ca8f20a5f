"""Per-sample body signals the event analysis works on, from the pipeline's stages.

Accelerations are expressed in a heading-free pelvis frame: `up` along earth vertical,
`fwd` along the pelvis's anterior axis projected on the horizontal, `left` completing
it. Gravity is removed from `up` (specific force minus 1 g), so standing still reads 0,
flight in running reads -9.81 m/s^2 and a foot strike gives a sharp positive rise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu import GRAVITY_MPS2
from imu.rotation import quat_to_matrix

COLUMNS = ("time_s", "up_mps2", "fwd_mps2", "left_mps2", "gyr_norm_rps", "tilt_deg",
           "obliquity_deg", "rotation_deg", "heading_deg", "gap_before")


@dataclass(frozen=True)
class BodySignals:
    """One row per sample. Angles are NaN until the sensor-to-pelvis alignment is known."""

    time_s: np.ndarray
    up_mps2: np.ndarray
    fwd_mps2: np.ndarray
    left_mps2: np.ndarray
    gyr_norm_rps: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    heading_deg: np.ndarray
    gap_before: np.ndarray

    def __len__(self) -> int:
        return int(self.time_s.size)

    def columns(self) -> list[np.ndarray]:
        return [getattr(self, c) for c in COLUMNS]


def body_signals(time_s: np.ndarray, quat_wxyz: np.ndarray, acc_mps2: np.ndarray,
                 gyr_rps: np.ndarray, tilt_deg: np.ndarray, obliquity_deg: np.ndarray,
                 rotation_deg: np.ndarray, heading_deg: np.ndarray,
                 gap_before: np.ndarray, r_earth_sensor: np.ndarray | None = None) -> BodySignals:
    """Rotate the specific force into the earth frame, then about the vertical by the
    pelvis heading (when known; before the alignment `fwd`/`left` are NaN).
    `r_earth_sensor`: the quaternions as matrices, when the caller has them."""
    r = quat_to_matrix(quat_wxyz) if r_earth_sensor is None else r_earth_sensor
    acc_e = np.einsum("nij,nj->ni", r, acc_mps2)
    h = np.radians(heading_deg)
    c, s = np.cos(h), np.sin(h)
    fwd = c * acc_e[:, 0] + s * acc_e[:, 1]
    left = -s * acc_e[:, 0] + c * acc_e[:, 1]
    return BodySignals(np.asarray(time_s, float), acc_e[:, 2] - GRAVITY_MPS2, fwd, left,
                       np.linalg.norm(gyr_rps, axis=1), np.asarray(tilt_deg, float),
                       np.asarray(obliquity_deg, float), np.asarray(rotation_deg, float),
                       np.asarray(heading_deg, float), np.asarray(gap_before, bool))


def displacement_m(time_s: np.ndarray, acc_mps2: np.ndarray) -> tuple[float, float]:
    """(net, furthest) travel in metres along one axis (`up`: a change of level; `left`:
    a sideways shift) over a stretch that starts and ends at rest: the acceleration
    integrated twice, the velocity tied to zero at both ends (which removes a constant
    offset of the acceleration, e.g. the accelerometer's own). `furthest` is the
    displacement furthest from the start."""
    t = np.asarray(time_s, float)
    if t.size < 3:
        return 0.0, 0.0
    dt = np.diff(t, prepend=t[0])
    v = np.cumsum(np.asarray(acc_mps2, float) * dt)
    v -= v[-1] * (t - t[0]) / (t[-1] - t[0])
    d = np.cumsum(v * dt)
    return float(d[-1]), float(d[np.argmax(np.abs(d))])


class SignalHistory:
    """A bounded history of body signals (the last `keep_s` seconds), appended in hops.

    Arrays are re-allocated only when the buffer is full, so appending is amortised O(1)
    per sample and memory stays bounded over hours.
    """

    def __init__(self, keep_s: float, rate_hz: float) -> None:
        self.capacity = int(np.ceil(keep_s * rate_hz)) + 1
        self._data = np.full((len(COLUMNS), 2 * self.capacity), np.nan)
        self._start = 0
        self._stop = 0
        self.dropped = 0  # samples that have left the history since the start

    def append(self, sig: BodySignals) -> None:
        n = len(sig)
        if self._stop + n > self._data.shape[1]:
            keep = min(self.capacity, self._stop - self._start)
            self._data[:, :keep] = self._data[:, self._stop - keep:self._stop]
            self.dropped += self._stop - self._start - keep
            self._start, self._stop = 0, keep
            if n > self._data.shape[1] - keep:
                self._data = np.concatenate(
                    (self._data, np.full((len(COLUMNS), n), np.nan)), axis=1)
        for r, col in enumerate(sig.columns()):
            self._data[r, self._stop:self._stop + n] = col
        self._stop += n
        if self._stop - self._start > self.capacity:
            extra = self._stop - self._start - self.capacity
            self._start += extra
            self.dropped += extra

    def __len__(self) -> int:
        return self._stop - self._start

    def col(self, name: str) -> np.ndarray:
        """A view of one column over the whole history (oldest first)."""
        return self._data[COLUMNS.index(name), self._start:self._stop]

    def rows(self, first: str, last: str) -> np.ndarray:
        """A view of consecutive columns first..last (as rows) over the whole history."""
        a, b = COLUMNS.index(first), COLUMNS.index(last) + 1
        return self._data[a:b, self._start:self._stop]

    @property
    def first_index(self) -> int:
        """Stream index of the oldest sample held."""
        return self.dropped
