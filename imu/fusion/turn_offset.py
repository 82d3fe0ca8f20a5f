"""The accelerometer offset, learnt from turns, and what a turn does with it.

An accelerometer offset b (sensor frame; 20 mg per axis is typical for MEMS parts) tilts
the vertical an accelerometer-corrected filter settles on by b_h / g, where b_h is its
part perpendicular to gravity. The tilt is fixed to the sensor, so the standing
calibration takes it in and the pelvic angles do not show it. During a turn hold
(`imu.fusion.turn_hold`) the filter integrates the gyro only, which keeps the estimate's
error fixed in the earth frame while the body turns under it; when the accelerometer is
trusted again the estimate has to move to the error of the new heading, i.e. by

    du = h(R1 b - R0 b) / g

(R0, R1: sensor-to-earth rotations at the start and end of the hold, h(): horizontal
part), twice the offset angle after a U-turn: 2.3 deg for 20 mg, decaying over seconds.

The same equation makes b_h observable, as heading changes make horizontal accelerometer
biases observable in inertial navigation: after each turn the filter's accelerometer
correction over the next seconds (`measured`) is du plus noise (the gyro's scale and
cross-axis errors over the turn, speed changes). `TurnOffsetLearner` fits b by least
squares over the turns seen, with a Gaussian prior of PRIOR_MG per axis; from then on
each turn's du is applied at once when the hold ends, and only the remainder is left to
the accelerometer correction.
"""

from __future__ import annotations

import numpy as np

from imu import GRAVITY_MPS2

#: Prior spread of the offset per axis, mg (typical zero-g offset of MEMS parts such as
#: BMI270, LSM6DSO, ICM-42688-P: +-20 mg, see docs/simulator.md).
PRIOR_MG = 20.0


def turn_shift(r0: np.ndarray, r1: np.ndarray, offset_mps2: np.ndarray) -> np.ndarray:
    """du: how far (earth frame, horizontal, unit-free) the estimated vertical must move
    after a gyro-only turn from sensor-to-earth rotation r0 to r1, for an offset."""
    du = (r1 @ offset_mps2 - r0 @ offset_mps2) / GRAVITY_MPS2
    du[2] = 0.0
    return du


class TurnOffsetLearner:
    """Least-squares estimate of the accelerometer offset from turns (module docstring)."""

    def __init__(self) -> None:
        prior_var = (PRIOR_MG * 1e-3 * GRAVITY_MPS2) ** 2
        self._normal = np.eye(3) / prior_var
        self._rhs = np.zeros(3)
        self.turns = 0

    def add_turn(self, r0: np.ndarray, r1: np.ndarray, measured_du: np.ndarray,
                 noise_rad: float) -> None:
        """One turn: the vertical's move (earth frame, horizontal) observed after it.

        measured_du must include any shift already applied at the hold's end, i.e. the
        whole move the turn called for. noise_rad: its expected error (1 sigma).
        """
        a = ((r1 - r0) / GRAVITY_MPS2)[:2, :]
        w = 1.0 / noise_rad ** 2
        self._normal += w * (a.T @ a)
        self._rhs += w * (a.T @ np.asarray(measured_du, dtype=np.float64)[:2])
        self.turns += 1

    @property
    def offset_mps2(self) -> np.ndarray:
        """The current estimate (sensor frame); zero before any turn."""
        return np.linalg.solve(self._normal, self._rhs)
