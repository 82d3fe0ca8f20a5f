"""Stride-to-stride variability per side: CPD mean/SD and cycle-normalised curve SD.

The curve variability resamples each stance's obliquity to 0-100 % of the stance and
averages, over the cycle, the across-stride SD at each percent (a mean-SD measure as
used for kinematic curve variability, e.g. Winter 1984; Hamill et al. 1999 for why too
little and too much both matter).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from imu.events.model import Stride, Variability

CURVE_POINTS = 51
MIN_STRIDES = 5


_GRID = np.linspace(0.0, 1.0, CURVE_POINTS)


def normalise_curve(values: np.ndarray, points: int = CURVE_POINTS) -> np.ndarray:
    """`values` resampled to `points` evenly spaced points over 0-100 % of the cycle."""
    grid = _GRID if points == CURVE_POINTS else np.linspace(0.0, 1.0, points)
    return np.interp(grid, np.linspace(0.0, 1.0, values.size), values)


def band_of(curve_sd_deg: float, too_little_deg: float, too_much_deg: float) -> str:
    if curve_sd_deg < too_little_deg:
        return "too little"
    if curve_sd_deg > too_much_deg:
        return "too much"
    return "healthy"


class VariabilityTracker:
    def __init__(self, profile) -> None:
        self.profile = profile
        self._by_side: dict[str, deque] = {}

    def add(self, stride: Stride, stance_obliquity_deg: np.ndarray) -> list[Variability]:
        limits = self.profile.running if stride.activity == "running" else self.profile.walking
        win = self._by_side.setdefault(stride.side, deque(maxlen=limits.window_strides))
        if win.maxlen != limits.window_strides:
            win = deque(win, maxlen=limits.window_strides)
            self._by_side[stride.side] = win
        win.append((stride.contralateral_drop_deg, normalise_curve(stance_obliquity_deg)))
        if len(win) < MIN_STRIDES:
            return []
        cpd = np.array([w[0] for w in win])
        curves = np.array([w[1] for w in win])
        # The across-stride SD at each percent (ddof 1), written out: np.std's generic
        # path costs more than the arithmetic for 10 x 51 values, once per stride.
        dev = curves - curves.mean(axis=0)
        curve_sd = float(np.sqrt(np.einsum("ij,ij->j", dev, dev) / (len(win) - 1)).mean())
        band = band_of(curve_sd, limits.variability_too_little_deg, limits.variability_too_much_deg)
        return [Variability(stride.ic_time_s, stride.side, len(win), float(cpd.mean()),
                            float(cpd.std(ddof=1)), curve_sd, band, stride.reported_time_s)]

    def mean_cpd(self, side: str) -> float | None:
        win = self._by_side.get(side)
        return float(np.mean([w[0] for w in win])) if win else None
