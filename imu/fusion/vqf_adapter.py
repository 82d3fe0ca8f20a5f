"""VQF (Laidig & Seel 2023) through the compiled `vqf.VQF` class.

Why this adapter is fast and split-invariant: each run goes to `VQF.updateBatch`,
whose C++ loop is bit-identical to calling `update` per sample, so any block
split gives the same bits. VQF's earth frame is ENU (z up), its quaternion is
q_earth_sensor, w-first: no conversion needed (checked by the contract tests).
"""

from __future__ import annotations

import numpy as np

from imu.fusion.backend import AdapterHealth, FilterAdapter, gyro_tuple
from imu.fusion.settings import FusionSettings

# VQF state arrays that hold low-pass filter memories. NaN restarts a filter: VQF then
# averages the next samples for tau seconds before filtering (its own start-up).
_ACC_FILTER_STATE = ("accLpState",)
_REST_FILTER_STATE = ("restGyrLpState", "restAccLpState")


class VqfAdapter(FilterAdapter):
    """VQF 6D/9D with real-interval gyro scaling and gap restarts."""

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        from vqf import VQF  # the only place that imports vqf

        self._ts_s = 1.0 / self.rate_hz
        self._vqf = VQF(
            self._ts_s,
            tauAcc=settings.vqf_tau_acc_s,
            tauMag=settings.vqf_tau_mag_s,
            restBiasEstEnabled=settings.vqf_rest_bias_estimation,
            motionBiasEstEnabled=settings.vqf_motion_bias_estimation,
            magDistRejectionEnabled=settings.vqf_mag_dist_rejection,
        )
        self._started = False
        self._health = AdapterHealth()

    def restart(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None, keep_heading: bool) -> None:
        if not self._started:
            # A fresh VQF initialises itself from the first sample: its acc low-pass
            # starts by averaging, and every sample's inclination correction makes that
            # average vertical, so the first output is already levelled by acc.
            self._started = True
            return
        # After a gap: restart the acc low-pass (and rest detection, whose window would
        # span the gap) so the next sample re-levels the estimate. Gyro bias, heading
        # (gyrQuat / accQuat heading part) and the 9D magnetic reference are kept.
        # VQF's inclination correction turns about a horizontal axis: heading kept.
        state = self._vqf.state
        for key in _ACC_FILTER_STATE + _REST_FILTER_STATE:
            state[key] = np.full(np.shape(state[key]), np.nan)
        state["restT"] = 0.0
        state["restDetected"] = False
        self._vqf.state = state

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                dt_s: np.ndarray) -> np.ndarray:
        # VQF integrates each gyro sample over its fixed Ts. With jittered timestamps the
        # rotation over a real interval is gyr * dt, so feed gyr * (dt / Ts): VQF then
        # integrates (gyr * dt / Ts) * Ts = gyr * dt. dt = 0 (first sample of a run) thus
        # integrates nothing. (VQF's internal bias subtraction still uses Ts: a bias
        # error of b * (Ts - dt) per sample, negligible with clock jitter.)
        scale = dt_s / self._ts_s
        gyr = np.ascontiguousarray(gyr_rps * scale[:, None])
        acc = np.ascontiguousarray(acc_mps2)
        if mag_uT is None:
            out = self._vqf.updateBatch(gyr, acc)
            quat = out["quat6D"]
            mag_disturbed = None
        else:
            out = self._vqf.updateBatch(gyr, acc, np.ascontiguousarray(mag_uT))
            quat = out["quat9D"]
            mag_disturbed = bool(out["magDistDetected"][-1])
        self._health = AdapterHealth(
            rest_detected=bool(out["restDetected"][-1]),
            gyro_bias_rps=gyro_tuple(out["bias"][-1]),
            acc_rejected=None,
            mag_disturbed=mag_disturbed,
        )
        return np.ascontiguousarray(quat, dtype=np.float64)

    def health(self) -> AdapterHealth:
        return self._health
