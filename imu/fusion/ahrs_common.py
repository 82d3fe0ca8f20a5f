"""What the three `ahrs` adapters share: the per-sample loop and two library pitfalls.

The `ahrs` filters are pure Python (tens of microseconds per sample): offered as
options and references, not as the default. Each is driven sample by sample with
`dt` = the real interval, so the library's own `frequency`/`Dt` (100 Hz unless
told) never decides the integration step; we still pass the real rate.

Pitfall: `ahrs` Madgwick and Mahony return the quaternion unchanged, *skipping the
accelerometer correction*, when the gyro reading is exactly zero (`norm(gyr) == 0`).
Noise-free synthetic standing data, or a quantised gyro reading 0 LSB on all axes,
then never converges. Workaround: replace an all-zero gyro sample by a 1e-150 rad/s
rate. Its integrated rotation (1e-150 * dt) vanishes against 1.0 in double precision,
so the quaternion moves by the accelerometer correction alone, as it should.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from imu.fusion import _quat
from imu.fusion.backend import FilterAdapter
from imu.fusion.settings import FusionSettings
from imu.rotation import quat_conj

#: Stand-in for an exactly zero gyro sample (see module docstring). Its square,
#: 1e-300, is still a normal double, so `np.linalg.norm` sees it as > 0.
ZERO_GYRO_NUDGE_RPS = 1e-150
_NUDGE = np.array([0.0, 0.0, ZERO_GYRO_NUDGE_RPS])


class AhrsLoopAdapter(FilterAdapter):
    """Per-sample loop over an `ahrs` filter's update function.

    Subclasses say which earth frame the library estimates against (as the rotation
    from it to ENU) and implement `_step`. The state quaternion is kept in the
    library's frame; conversion happens only on the way in (restart) and out.
    """

    #: q_enu_library: rotation from the library's earth frame to ENU (identity if ENU).
    q_enu_lib: np.ndarray = _quat.IDENTITY
    #: True if the library skips the acc correction at zero gyro (Madgwick, Mahony).
    needs_zero_gyro_nudge: bool = False

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        self._q_lib = _quat.IDENTITY.copy()
        self._started = False

    def _lib_frame_for(self, use_mag: bool) -> np.ndarray:
        """q_enu_library for this mode (6D filters have no heading reference: identity)."""
        return self.q_enu_lib if use_mag else _quat.IDENTITY

    def restart(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None, keep_heading: bool) -> None:
        q_enu_lib = self._lib_frame_for(mag_uT is not None)
        if keep_heading and self._started:
            q_enu = _quat.relevel(_quat.change_earth_frame(self._q_lib, q_enu_lib), acc_mps2)
        else:
            q_enu = _quat.initial_quat(acc_mps2, mag_uT)
            self._on_first_sample(acc_mps2, mag_uT, q_enu)
        self._started = True
        self._q_lib = _quat.change_earth_frame(q_enu, quat_conj(q_enu_lib))

    def _on_first_sample(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                         q_enu: np.ndarray) -> None:
        """Hook for adapters that need the first sample (e.g. a magnetic reference)."""

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                dt_s: np.ndarray) -> np.ndarray:
        n = gyr_rps.shape[0]
        out = np.empty((n, 4))
        q = self._q_lib
        nudge = self.needs_zero_gyro_nudge
        for k in range(n):
            dt = float(dt_s[k])
            if dt > 0.0:  # dt == 0: first sample of a run, already set by restart()
                g = gyr_rps[k]
                if nudge and g[0] == 0.0 and g[1] == 0.0 and g[2] == 0.0:
                    g = _NUDGE
                q = np.asarray(self._step(q, g, acc_mps2[k], None if mag_uT is None else mag_uT[k], dt),
                               dtype=np.float64)
            out[k] = q
        self._q_lib = q
        q_enu_lib = self._lib_frame_for(mag_uT is not None)
        if q_enu_lib is _quat.IDENTITY:
            return out
        return _quat.change_earth_frame(out, q_enu_lib)

    @abstractmethod
    def _step(self, q: np.ndarray, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
              mag_uT: np.ndarray | None, dt_s: float) -> np.ndarray:
        """One library update from q (library frame) over dt_s seconds."""
