"""Pelvic angles per CONVENTIONS: Baker (2001) sequence, project signs.

The pelvis orientation relative to the standing calibration posture is
R = Rz(heading) @ Rx(-obliquity) @ Ry(tilt): rotation about the vertical, then
obliquity about the rotated anterior axis, then tilt about the twice-rotated
medio-lateral axis. Signs:
- tilt > 0: anterior tilt (front of the pelvis down) = positive rotation about +y (left).
- obliquity > 0: right side higher = negative rotation about +x (anterior).
- rotation > 0: turned to the left (counter-clockwise from above) = positive about +z.
"""

from __future__ import annotations

import numpy as np

from imu.rotation import rot_x, rot_y, rot_z


def pelvis_matrix_from_angles(tilt_rad: np.ndarray | float, obliquity_rad: np.ndarray | float,
                              heading_rad: np.ndarray | float) -> np.ndarray:
    """Pelvis-to-earth rotation matrices from the three angles (inverse of `decompose`)."""
    return rot_z(heading_rad) @ rot_x(-np.asarray(obliquity_rad)) @ rot_y(tilt_rad)


def decompose(r_earth_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split pelvis-to-earth matrices (..., 3, 3) into (tilt, obliquity, heading) in radians.

    With R = Rz(h) Rx(p) Ry(t) the bottom row is (-cos p sin t, sin p, cos p cos t) and the
    middle column is (-sin h cos p, cos h cos p, sin p), so each angle has a closed form.
    """
    r = np.asarray(r_earth_pelvis, dtype=np.float64)
    p = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    tilt = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    heading = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    return tilt, -p, heading


# Heading is reported relative to its trailing mean over this window (CONVENTIONS:
# "about the last two strides or 2 s"), which removes slow turns and gyro drift.
HEADING_WINDOW_S = 2.0


class RelativeHeading:
    """Streaming removal of the trailing-mean heading.

    rotation(t) = heading(t) - mean(heading over (t - window_s, t]), on the unwrapped
    heading. Running sums are carried across calls, so the result does not depend on
    how the samples are split into blocks (bit-identical). A gap restarts the window
    (the heading before a gap cannot be related to the heading after it).
    """

    def __init__(self, window_s: float = HEADING_WINDOW_S) -> None:
        self.window_s = float(window_s)
        self.reset()

    def reset(self) -> None:
        self._t = np.zeros(0)          # times of the samples still inside a window
        self._csum = np.zeros(0)       # running sum of unwrapped heading at those samples
        self._csum_before = 0.0        # running sum just before the first kept sample
        self._last_heading: float | None = None
        self._last_unwrapped = 0.0

    def update(self, time_s: np.ndarray, heading_rad: np.ndarray,
               gap_before: np.ndarray | None = None) -> np.ndarray:
        """Relative heading (rad) for each sample; heading_rad may be wrapped."""
        t = np.asarray(time_s, dtype=np.float64)
        h = np.asarray(heading_rad, dtype=np.float64)
        out = np.empty_like(h)
        cuts = [0, t.size]
        if gap_before is not None:
            cuts[1:1] = [int(i) for i in np.flatnonzero(gap_before)]
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b <= a:
                continue
            if gap_before is not None and gap_before[a]:
                self.reset()
            out[a:b] = self._update_run(t[a:b], h[a:b])
        return out

    def _update_run(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        prev = self._last_heading
        steps = np.diff(h, prepend=h[0] if prev is None else prev)
        steps = (steps + np.pi) % (2 * np.pi) - np.pi
        base = h[0] if prev is None else self._last_unwrapped
        # Accumulate from the carried value, left to right, so block splits do not
        # change the rounding.
        unwrapped = np.cumsum(np.concatenate(([base], steps)))[1:]
        last_total = self._csum[-1] if self._csum.size else self._csum_before
        # np.cumsum adds left to right, so splitting the input differently gives the same sums.
        csum = np.cumsum(np.concatenate(([last_total], unwrapped)))[1:]
        all_t = np.concatenate((self._t, t))
        all_c = np.concatenate((self._csum, csum))
        idx = np.arange(self._t.size, all_t.size)
        first = np.searchsorted(all_t, t - self.window_s, side="right")
        sum_before = np.where(first > 0, all_c[np.maximum(first - 1, 0)], self._csum_before)
        mean = (all_c[idx] - sum_before) / (idx - first + 1)
        keep_from = int(np.searchsorted(all_t, t[-1] - self.window_s, side="right"))
        if keep_from > 0:
            self._csum_before = float(all_c[keep_from - 1])
        self._t = all_t[keep_from:]
        self._csum = all_c[keep_from:]
        self._last_heading = float(h[-1])
        self._last_unwrapped = float(unwrapped[-1])
        return unwrapped - mean


def relative_heading(time_s: np.ndarray, heading_rad: np.ndarray,
                     gap_before: np.ndarray | None = None,
                     window_s: float = HEADING_WINDOW_S) -> np.ndarray:
    """Batch form of `RelativeHeading` (identical results)."""
    return RelativeHeading(window_s).update(time_s, heading_rad, gap_before)
