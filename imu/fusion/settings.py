"""Fusion settings and status: plain values, no filter library imported here.

Settings are one frozen value object with units in the field names and the
library defaults documented, so a recording can store them and a replay is
reproducible. Parameters of a filter carry its name as prefix and are ignored
by the other filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from imu.errors import SettingsError
from imu.fusion.gap_fill import GAP_FILL_METHODS

#: Every filter the project offers. Only `imu.fusion` imports their libraries.
#: "vqf": Laidig & Seel's VQF (C++ `vqf` package); "madgwick", "mahony", "ekf": the
#: pure-Python `ahrs` package; "imufusion": x-io Technologies' Fusion (C, `imufusion`).
FILTER_NAMES: tuple[str, ...] = ("vqf", "madgwick", "mahony", "ekf", "imufusion")

#: The filter with the lowest mean inclination RMSE on the six BROAD trials in
#: ../shared/data/broad, measured by `python -m bench.fusion_accuracy` (6D, library
#: defaults, real rate): vqf 0.57 deg (with the body-worn additions; plain VQF 0.56),
#: madgwick (ahrs reference) 1.62, ekf 2.20, imufusion 3.67, mahony 6.36; vqf / madgwick
#: = 0.35. VQF is also among the fastest (compiled batch path; 0.6 to 1.2 us/sample with
#: the additions: 720,000 samples in 0.4 to 0.9 s).
#: Caveat: VQF comes from BROAD's authors and was evaluated on BROAD (docs/fusion.md).
DEFAULT_FILTER: str = "vqf"


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise SettingsError(f"FusionSettings.{name} must be a finite number {bound}, got {value!r}.")


@dataclass(frozen=True)
class FusionSettings:
    """How to fuse gyroscope, accelerometer (and optionally magnetometer) samples.

    Attributes:
        filter_name: one of FILTER_NAMES. Default DEFAULT_FILTER (measured best).
        use_mag: False = 6D (gyr + acc; heading drifts, is arbitrary at start and
            is not used by the pelvic angles). True = 9D: heading from the
            magnetometer, needs `SampleBlock.mag_uT`; indoor fields and metal near the
            pelvis make 9D heading unreliable, so it is opt-in.

        gap_bridge_max_s: gaps up to this long (a few lost packets) are bridged like a
            long sample interval: the next gyro sample is integrated over the whole
            interval and the filter carries on. Longer gaps restart the inclination
            from the accelerometer. Why: a restart takes one accelerometer sample as
            vertical, which is off by tens of degrees mid-stride while running;
            bridging 0.5 s errs by at most a few degrees that the accelerometer
            correction then removes. Default 0.5 s.
        gap_fill: the angular rate integrated over a bridged gap (imu.fusion.gap_fill):
            "sample" (the sample after the gap, as plain filters do), "linear" (the
            rates either side interpolated) or "stride" (in walking and running, the
            rotation over the same stretch one stride earlier; otherwise "linear").
            Default "stride": over a 240 ms gap in a real run it errs 2.2 deg
            (median) where "linear" errs 13 and "sample" 15 (bench.gap_fill).

        vqf_tau_acc_s: VQF accelerometer low-pass time constant in s. Larger trusts
            the gyro longer (better during accelerations, slower to remove drift).
            Library default 3.0.
        vqf_tau_mag_s: VQF magnetometer time constant in s (9D only). Default 9.0.
        vqf_rest_bias_estimation: VQF's own gyro bias estimate while at rest. Default
            True. (Its rest detector takes postural sway for rest and part of the sway
            for bias; the quiet-spell estimate below corrects that.)
        vqf_motion_bias_estimation: estimate gyro bias during motion. Default True.
        vqf_mag_dist_rejection: reject disturbed magnetic fields (9D). Default True.
        vqf_bias_clip_dps: largest gyro bias VQF estimates, deg/s. VQF's default is 2,
            below the zero-rate offset of some MEMS parts (3 deg/s: BMI160 specification,
            BMI270 parts in the field); a clipped bias leaves bias x tau of tilt (9 deg
            on the simulator's "poor" device, 3 deg with 5). Default 5.0.
        vqf_quiet_bias: gyro bias from quiet spells of 3 s or more, the gyro averaged
            over the spell minus the rotation the accelerometer saw, so sway does not
            count as bias (imu.fusion.quiet_bias). Default True.
        vqf_reference_acc_offset: remove the accelerometer offset along gravity in the
            first quiet posture (|mean acc| - g there), which otherwise tilts every
            other posture (lying supine: offset / g). Default
            True.
        vqf_posture_acc_offset: with vqf_reference_acc_offset, also remove the offset's
            part across the first posture's gravity once a quiet spell in another
            posture (lying, kneeling) reveals it, turning the output by the tilt it gave
            in the first posture so the calibration stays valid (imu.fusion.acc_offset).
            Default True.
        vqf_turn_hold: while a walking or running body turns, ignore the accelerometer
            (its centripetal acceleration tilts the estimate by dv / (g tau): 5 deg
            after a walking U-turn, 12 running), in whole strides; undone if the body
            did not turn 90 deg; then move the accelerometer offset's share of the
            vertical with the body (imu.fusion.turn_hold, turn_offset). Default True.
        vqf_turn_hold_enter_dps, vqf_turn_hold_leave_dps: heading rate (deg/s, over
            0.5 s) above which a hold starts in gait, below which it ends. Defaults 30
            (above the pelvis' own rotation in a stride, +-20 over 0.5 s) and 15.
        vqf_turn_hold_max_s: longest hold (a U-turn takes 2 to 4 s). Default 8.

        madgwick_gain_rps: Madgwick beta (gyro error magnitude, rad/s) in 6D.
            `ahrs` default 0.033. Larger: faster drift removal, more sensitive to
            body accelerations.
        madgwick_gain_9d_rps: Madgwick beta in 9D. `ahrs` default 0.041.

        mahony_kp_rps: Mahony proportional gain, rad/s per unit of (dimensionless)
            direction error. `ahrs` default 1.0.
        mahony_ki_rps2: Mahony integral gain (gyro bias learning), rad/s^2 per unit
            error. `ahrs` default 0.3.

        ekf_gyro_var_rps_sq: EKF gyro noise variance, (rad/s)^2. `ahrs` default 0.3**2.
        ekf_acc_var: EKF accelerometer noise variance of the normalised
            (unit-length) acceleration. `ahrs` default 0.5**2.
        ekf_mag_var: EKF magnetometer noise variance of the normalised field (9D).
            `ahrs` default 0.8**2.

        imufusion_gain: x-io Fusion complementary gain (dimensionless). Default 0.5.
        imufusion_acc_rejection_deg: ignore the accelerometer while it disagrees with
            the estimated vertical by more than this (deg); 0 disables. Default 10,
            the value x-io's examples recommend (the binding's own default is 0 = off).
        imufusion_mag_rejection_deg: same for the magnetometer (9D). Default 10.
        imufusion_rejection_timeout_s: after this long of continuous rejection the
            sensor is trusted again (recovery). Default 5.0, as in x-io's examples.
        imufusion_gyro_range_dps: gyro full scale in deg/s for over-range recovery;
            0 disables (the sensor is not known here). Default 0.
        imufusion_gyro_bias_correction: run x-io's run-time gyro offset correction
            (learns the offset while stationary), as in x-io's examples. Default True.
    """

    filter_name: str = DEFAULT_FILTER
    use_mag: bool = False

    gap_bridge_max_s: float = 0.5
    gap_fill: str = "stride"
    vqf_tau_acc_s: float = 3.0
    vqf_tau_mag_s: float = 9.0
    vqf_rest_bias_estimation: bool = True
    vqf_motion_bias_estimation: bool = True
    vqf_mag_dist_rejection: bool = True
    vqf_bias_clip_dps: float = 5.0
    vqf_quiet_bias: bool = True
    vqf_reference_acc_offset: bool = True
    vqf_posture_acc_offset: bool = True
    vqf_turn_hold: bool = True
    vqf_turn_hold_enter_dps: float = 30.0
    vqf_turn_hold_leave_dps: float = 15.0
    vqf_turn_hold_max_s: float = 8.0

    madgwick_gain_rps: float = 0.033
    madgwick_gain_9d_rps: float = 0.041

    mahony_kp_rps: float = 1.0
    mahony_ki_rps2: float = 0.3

    ekf_gyro_var_rps_sq: float = 0.3 ** 2
    ekf_acc_var: float = 0.5 ** 2
    ekf_mag_var: float = 0.8 ** 2

    imufusion_gain: float = 0.5
    imufusion_acc_rejection_deg: float = 10.0
    imufusion_mag_rejection_deg: float = 10.0
    imufusion_rejection_timeout_s: float = 5.0
    imufusion_gyro_range_dps: float = 0.0
    imufusion_gyro_bias_correction: bool = True

    def __post_init__(self) -> None:
        if self.filter_name not in FILTER_NAMES:
            raise SettingsError(
                f"FusionSettings.filter_name {self.filter_name!r} is not offered; "
                f"choose one of {', '.join(FILTER_NAMES)}."
            )
        if self.gap_fill not in GAP_FILL_METHODS:
            raise SettingsError(f"FusionSettings.gap_fill {self.gap_fill!r} is not offered; "
                                f"choose one of {', '.join(GAP_FILL_METHODS)}.")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise SettingsError(f"FusionSettings.{f.name} must be True or False, got {value!r}.")
            elif f.type in ("float", float):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise SettingsError(f"FusionSettings.{f.name} must be a number, got {value!r}.")
                # Gains of zero are legal where the library accepts them (gyro-only);
                # time constants and variances must be positive.
                zero_ok = f.name in {"mahony_ki_rps2", "imufusion_acc_rejection_deg",
                                     "imufusion_mag_rejection_deg", "imufusion_gyro_range_dps",
                                     "imufusion_gain", "imufusion_rejection_timeout_s"}
                _check_positive(f.name, float(value), allow_zero=zero_ok)
        if not self.vqf_turn_hold_leave_dps < self.vqf_turn_hold_enter_dps:
            raise SettingsError("FusionSettings.vqf_turn_hold_leave_dps must be below "
                                f"vqf_turn_hold_enter_dps, got {self.vqf_turn_hold_leave_dps!r} "
                                f"and {self.vqf_turn_hold_enter_dps!r}.")
        for name in ("imufusion_acc_rejection_deg", "imufusion_mag_rejection_deg"):
            if getattr(self, name) > 180.0:
                raise SettingsError(f"FusionSettings.{name} is an angle in degrees (0..180), "
                                    f"got {getattr(self, name)!r}.")


@dataclass(frozen=True)
class FusionStatus:
    """Why the filter currently trusts or distrusts its inputs, for the UI.

    A field is None when the selected filter does not provide that information
    (e.g. the `ahrs` filters have no rest detector), so a screen can hide it
    rather than show a made-up value.

    Attributes:
        filter_name: the running filter.
        use_mag: True when fusing the magnetometer (9D).
        samples_processed: samples fed so far.
        samples_since_gap: samples since the start or the last gap, counting the
            first sample after it (the one that re-initialised the inclination).
        gaps_seen: gaps (`gap_before`) met so far; the start does not count.
        reinitialised_at_gap: True if the most recent `update()` met a gap and
            re-initialised the inclination from the accelerometer there.
        rest_detected: the filter considers the sensor at rest (VQF: the last 0.5 s
            window was quiet in the sense of imu.fusion.quiet_bias, or VQF's own rest
            detector when vqf_quiet_bias is off), else None.
        gyro_bias_rps: the filter's current gyro bias estimate (x, y, z) in rad/s,
            None if the filter does not estimate one.
        acc_rejected: the accelerometer is currently ignored as disturbed by body
            acceleration (x-io Fusion; VQF: a turn hold), None if the filter never
            rejects it.
        mag_disturbed: 9D: the magnetometer is currently ignored as disturbed;
            None in 6D or when the filter does not detect disturbances.
    """

    filter_name: str
    use_mag: bool
    samples_processed: int = 0
    samples_since_gap: int = 0
    gaps_seen: int = 0
    reinitialised_at_gap: bool = False
    rest_detected: bool | None = None
    gyro_bias_rps: tuple[float, float, float] | None = None
    acc_rejected: bool | None = None
    mag_disturbed: bool | None = None
