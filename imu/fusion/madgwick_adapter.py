"""Madgwick's gradient-descent filter from the `ahrs` package (the reference filter).

Library conventions, checked by the contract tests: q_earth_sensor, w-first; the
accelerometer objective makes earth z point along the measured specific force
(up); in 9D the horizontal field defines earth x (North-West-Up), converted to ENU
here. The gain (beta) defaults to the library's: 0.033 rad/s (6D), 0.041 (9D).
"""

from __future__ import annotations

import numpy as np

from imu.fusion import _quat
from imu.fusion.ahrs_common import AhrsLoopAdapter
from imu.fusion.settings import FusionSettings


class MadgwickAdapter(AhrsLoopAdapter):
    """ahrs.filters.Madgwick, driven per sample with the real interval."""

    q_enu_lib = _quat.Q_ENU_NWU
    needs_zero_gyro_nudge = True

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        from ahrs.filters import Madgwick

        gain = settings.madgwick_gain_9d_rps if settings.use_mag else settings.madgwick_gain_rps
        # frequency: the library defaults to 100 Hz; dt is passed per sample anyway.
        self._filter = Madgwick(frequency=self.rate_hz, gain=gain)

    def _step(self, q: np.ndarray, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
              mag_uT: np.ndarray | None, dt_s: float) -> np.ndarray:
        if mag_uT is None:
            return self._filter.updateIMU(q, gyr_rps, acc_mps2, dt=dt_s)
        return self._filter.updateMARG(q, gyr_rps, acc_mps2, mag_uT, dt=dt_s)
