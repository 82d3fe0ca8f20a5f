"""x-io Technologies' Fusion AHRS through its `imufusion` binding.

Library conventions, checked by the contract tests: gyro in deg/s, accelerometer
in g, q_earth_sensor w-first in float32, earth frame chosen by the settings' `convention`.

Pitfall (imufusion 1.3.3): `AhrsSettings(convention=...)` silently ignores the
keyword and stays North-West-Up; only the property setter works. Every setting is
therefore assigned through its property, and the contract test checks the heading
of a 9D estimate against ENU.

Start-up: Fusion normally ramps its gain down from 10 over 3 s and zeroes the
heading meanwhile; like every adapter here we instead set the orientation from
the first sample and skip that start-up.
"""

from __future__ import annotations

import math

import numpy as np

from imu import GRAVITY_MPS2
from imu.errors import SettingsError
from imu.fusion import _quat
from imu.fusion.backend import AdapterHealth, FilterAdapter, gyro_tuple
from imu.fusion.settings import FusionSettings

_DEG_PER_RAD = 180.0 / math.pi


class ImufusionAdapter(FilterAdapter):
    """imufusion.Ahrs (+ optional imufusion.Bias), driven per sample with the real interval."""

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        try:
            import imufusion
        except ImportError as exc:  # optional dependency, not in the project's requirements
            raise SettingsError(
                "filter_name 'imufusion' needs the imufusion package (x-io Fusion): "
                "pip install imufusion, or choose another filter."
            ) from exc
        s = imufusion.AhrsSettings()
        s.sample_rate = self.rate_hz
        s.convention = imufusion.CONVENTION_ENU  # property setter: the keyword is ignored
        s.gain = settings.imufusion_gain
        s.gyroscope_range = settings.imufusion_gyro_range_dps
        s.acceleration_rejection = settings.imufusion_acc_rejection_deg
        s.magnetic_rejection = settings.imufusion_mag_rejection_deg
        s.rejection_timeout = settings.imufusion_rejection_timeout_s
        self._ahrs = imufusion.Ahrs()
        self._ahrs.set_settings(s)
        self._bias = None
        if settings.imufusion_gyro_bias_correction:
            bs = imufusion.BiasSettings()
            bs.sample_rate = self.rate_hz
            self._bias = imufusion.Bias()
            self._bias.set_settings(bs)
        self._last_dt_s = -1.0
        self._started = False

    def restart(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None, keep_heading: bool) -> None:
        if keep_heading and self._started:
            q = _quat.relevel(self._quat(), acc_mps2)
        else:
            q = _quat.initial_quat(acc_mps2, mag_uT)
            self._ahrs.skip_startup()
        self._started = True
        self._ahrs.set_quaternion(q)

    def _quat(self) -> np.ndarray:
        q = np.asarray(self._ahrs.get_quaternion(), dtype=np.float64)
        return q / np.linalg.norm(q)  # float32 inside: renormalise in float64

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                dt_s: np.ndarray) -> np.ndarray:
        gyr_dps = gyr_rps * _DEG_PER_RAD
        acc_g = acc_mps2 / GRAVITY_MPS2
        n = gyr_dps.shape[0]
        out = np.empty((n, 4))
        ahrs, bias = self._ahrs, self._bias
        for k in range(n):
            dt = float(dt_s[k])
            if dt > 0.0:  # dt == 0: first sample of a run, already set by restart()
                if dt != self._last_dt_s:
                    ahrs.set_sample_period(dt)
                    self._last_dt_s = dt
                g = gyr_dps[k] if bias is None else bias.update(gyr_dps[k])
                if mag_uT is None:
                    ahrs.update_no_magnetometer(g, acc_g[k])
                else:
                    ahrs.update(g, acc_g[k], mag_uT[k])
            out[k] = ahrs.get_quaternion()
        return np.ascontiguousarray(out / np.linalg.norm(out, axis=1, keepdims=True))

    def health(self) -> AdapterHealth:
        states = self._ahrs.get_internal_states()
        bias = None
        if self._bias is not None:
            bias = gyro_tuple(np.asarray(self._bias.get_offset(), dtype=np.float64) / _DEG_PER_RAD)
        return AdapterHealth(
            rest_detected=None,
            gyro_bias_rps=bias,
            acc_rejected=bool(states.accelerometer_ignored),
            mag_disturbed=bool(states.magnetometer_ignored) if self.settings.use_mag else None,
        )
