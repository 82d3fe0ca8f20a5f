"""Pelvic angles from the fused sensor orientation and the sensor-to-pelvis alignment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.angles import HEADING_WINDOW_S, RelativeHeading, decompose
from imu.calibration import Alignment
from imu.rotation import quat_to_matrix


@dataclass(frozen=True)
class PelvisAngles:
    """Angles per CONVENTIONS, one value per sample, NaN where withheld."""

    time_s: np.ndarray
    tilt_deg: np.ndarray
    obliquity_deg: np.ndarray
    rotation_deg: np.ndarray
    heading_deg: np.ndarray
    """Absolute pelvis heading (wrapped to +-180; arbitrary zero in 6D): what the rep
    analysis measures transverse rotation from."""


def pelvis_orientation(quat_earth_sensor: np.ndarray, r_sensor_pelvis: np.ndarray) -> np.ndarray:
    """Pelvis-to-earth rotation matrices (N, 3, 3): R_ep = R_es @ R_sp."""
    return quat_to_matrix(quat_earth_sensor) @ r_sensor_pelvis


class PelvisAngleStage:
    """Turns fused orientations into tilt, obliquity and rotation (streaming)."""

    def __init__(self, alignment: Alignment, heading_window_s: float = HEADING_WINDOW_S) -> None:
        self.alignment = alignment
        self._heading = RelativeHeading(heading_window_s)

    def update(self, time_s: np.ndarray, quat_earth_sensor: np.ndarray,
               gap_before: np.ndarray, r_earth_sensor: np.ndarray | None = None) -> PelvisAngles:
        """Angles per sample; `r_earth_sensor` (the quaternions as matrices) saves
        converting them again when the caller has them."""
        r_ep = (pelvis_orientation(quat_earth_sensor, self.alignment.r_sensor_pelvis)
                if r_earth_sensor is None else r_earth_sensor @ self.alignment.r_sensor_pelvis)
        tilt, obliquity, heading = decompose(r_ep)
        rotation = self._heading.update(time_s, heading, gap_before)
        return PelvisAngles(np.asarray(time_s), np.degrees(tilt), np.degrees(obliquity),
                            np.degrees(rotation), np.degrees(heading))
