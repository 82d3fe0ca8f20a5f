"""Mahony's explicit complementary filter from the `ahrs` package.

Library conventions, checked by the contract tests: q_earth_sensor, w-first, earth
z up (along the measured specific force); in 9D the horizontal field defines earth
y (ENU), so no conversion. Gains default to the library's: kp 1.0, ki 0.3. The
integral term's gyro bias estimate (`Mahony.b`, rad/s) is reported in the status.
"""

from __future__ import annotations

import numpy as np

from imu.fusion.ahrs_common import AhrsLoopAdapter
from imu.fusion.backend import AdapterHealth, gyro_tuple
from imu.fusion.settings import FusionSettings


class MahonyAdapter(AhrsLoopAdapter):
    """ahrs.filters.Mahony, driven per sample with the real interval."""

    needs_zero_gyro_nudge = True

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        from ahrs.filters import Mahony

        self._filter = Mahony(frequency=self.rate_hz, k_P=settings.mahony_kp_rps,
                              k_I=settings.mahony_ki_rps2)

    def _step(self, q: np.ndarray, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
              mag_uT: np.ndarray | None, dt_s: float) -> np.ndarray:
        if mag_uT is None:
            return self._filter.updateIMU(q, gyr_rps, acc_mps2, dt=dt_s)
        return self._filter.updateMARG(q, gyr_rps, acc_mps2, mag_uT, dt=dt_s)

    def health(self) -> AdapterHealth:
        return AdapterHealth(gyro_bias_rps=gyro_tuple(self._filter.b))
