"""Pelvic angles per CONVENTIONS: Baker (2001) sequence, project signs.

The pelvis orientation relative to the standing calibration posture is
R = Rz(heading) @ Rx(-obliquity) @ Ry(tilt): rotation about the vertical, then
obliquity about the rotated anterior axis, then tilt about the twice-rotated
medio-lateral axis. Signs:
- tilt > 0: anterior tilt (front of the pelvis down) = positive rotation about +y (left).
- obliquity > 0: right side higher = negative rotation about +x (anterior).
- rotation > 0: turned to the left (counter-clockwise from above) = positive about +z.
"""

from __future__ import annotations

import numpy as np

from imu.rotation import rot_x, rot_y, rot_z


def pelvis_matrix_from_angles(tilt_rad: np.ndarray | float, obliquity_rad: np.ndarray | float,
                              heading_rad: np.ndarray | float) -> np.ndarray:
    """Pelvis-to-earth rotation matrices from the three angles (inverse of `decompose`)."""
    return rot_z(heading_rad) @ rot_x(-np.asarray(obliquity_rad)) @ rot_y(tilt_rad)


def decompose(r_earth_pelvis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split pelvis-to-earth matrices (..., 3, 3) into (tilt, obliquity, heading) in radians.

    With R = Rz(h) Rx(p) Ry(t) the bottom row is (-cos p sin t, sin p, cos p cos t) and the
    middle column is (-sin h cos p, cos h cos p, sin p), so each angle has a closed form.
    """
    r = np.asarray(r_earth_pelvis, dtype=np.float64)
    p = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    tilt = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    heading = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    return tilt, -p, heading
