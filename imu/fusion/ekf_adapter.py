"""The extended Kalman filter of the `ahrs` package.

Library conventions, checked by the contract tests: q_earth_sensor, w-first. With
`frame="NED"` the library's gravity reference is (0, 0, 1) compared against the
measured *specific force*, so its earth z in fact points up; that is the frame we
need, whatever the name says. In 9D its default magnetic reference comes from a
world magnetic model at a fixed place; we give it the field measured at the first
sample instead, expressed in ENU (0, horizontal, vertical), so the estimate is in
ENU and works at any latitude. Noise variances default to the library's.
"""

from __future__ import annotations

import numpy as np

from imu.fusion.ahrs_common import AhrsLoopAdapter
from imu.fusion.settings import FusionSettings
from imu.rotation import rotate


class EkfAdapter(AhrsLoopAdapter):
    """ahrs.filters.EKF, driven per sample with the real interval."""

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        from ahrs.filters import EKF

        self._ekf_class = EKF
        # 9D: built at the first sample, which gives the magnetic reference.
        self._filter = None if settings.use_mag else self._make(None, None)

    def _make(self, first_mag_uT: np.ndarray | None, mag_ref_enu: np.ndarray | None) -> object:
        noises = [self.settings.ekf_gyro_var_rps_sq, self.settings.ekf_acc_var,
                  self.settings.ekf_mag_var]
        if first_mag_uT is None:
            # magnetic_ref as a dip angle skips the library's world-magnetic-model lookup.
            return self._ekf_class(frequency=self.rate_hz, frame="NED", noises=noises,
                                   magnetic_ref=0.0)
        # Passing `mag` (one sample, without gyr/acc so nothing is computed) switches the
        # library's measurement model to gravity + magnetic field.
        return self._ekf_class(mag=np.asarray(first_mag_uT).reshape(1, 3), frequency=self.rate_hz,
                               frame="NED", noises=noises, magnetic_ref=mag_ref_enu)

    def _on_first_sample(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                         q_enu: np.ndarray) -> None:
        if mag_uT is None or self._filter is not None:
            return
        m_enu = rotate(q_enu, mag_uT)  # (0, horizontal, vertical) by construction of q_enu
        ref = np.array([0.0, float(np.hypot(m_enu[0], m_enu[1])), float(m_enu[2])])
        self._filter = self._make(mag_uT, ref)

    def _step(self, q: np.ndarray, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
              mag_uT: np.ndarray | None, dt_s: float) -> np.ndarray:
        return self._filter.update(q, gyr_rps, acc_mps2, mag_uT, dt=dt_s)
