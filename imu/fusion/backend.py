"""The common face every filter adapter implements (one module per library).

The facade (`imu.fusion.filter.OrientationFilter`) cuts each block at starts and
gaps and drives an adapter with two calls:

1. `restart(acc, mag, keep_heading)` before the first sample of a run: set the
   inclination from that accelerometer sample (the full 9D orientation at the very
   start), keeping the heading when `keep_heading` (after a gap).
2. `process(gyr, acc, mag, dt)` for the samples of the run. `dt_s[k]` is the real
   time since the previous sample; it is 0 for the first sample of a run, which
   must not integrate the gyro (nothing is known about the rotation in between).

Adapters return q_earth_sensor, w-first, earth frame ENU (z up; in 6D the heading
is arbitrary), float64 (n, 4), whatever the library uses inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from imu.fusion.settings import FusionSettings


@dataclass(frozen=True)
class AdapterHealth:
    """What an adapter can say about its inputs (None = not provided by the library)."""

    rest_detected: bool | None = None
    gyro_bias_rps: tuple[float, float, float] | None = None
    acc_rejected: bool | None = None
    mag_disturbed: bool | None = None


class FilterAdapter(ABC):
    """One orientation filter behind the project's conventions."""

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        self.settings = settings
        self.rate_hz = float(rate_hz)
        self.reframes: list[int] = []
        """Absolute sample indices from which the output is read in a corrected frame
        (a step in the angles that no movement made); the filter collects them."""

    @abstractmethod
    def restart(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None, keep_heading: bool) -> None:
        """Set the inclination from one sample before a run (see module docstring)."""

    @abstractmethod
    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                dt_s: np.ndarray) -> np.ndarray:
        """Fuse one run of samples; returns (n, 4) q_earth_sensor (ENU, w-first)."""

    def health(self) -> AdapterHealth:
        """The library's view of its inputs after the last processed sample."""
        return AdapterHealth()


def gyro_tuple(b: np.ndarray) -> tuple[float, float, float]:
    """A bias vector as a plain tuple for the frozen status."""
    return (float(b[0]), float(b[1]), float(b[2]))
