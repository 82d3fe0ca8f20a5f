"""Small quaternion helpers shared by the filter adapters (w, x, y, z; earth z up, ENU).

All quaternions are q_earth_sensor: they rotate sensor-frame vectors into the
earth frame (imu.rotation conventions). Single-sample helpers use plain floats
because they run once per start or gap, not per sample.
"""

from __future__ import annotations

import math

import numpy as np

from imu.rotation import matrix_to_quat, quat_multiply, rotate

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])

# Earth-frame change from North-West-Up (x north) to East-North-Up: +90 deg about up.
# Some libraries (ahrs Madgwick in 9D) estimate against NWU; q_enu = Q_ENU_NWU * q_nwu.
_H = math.sqrt(0.5)
Q_ENU_NWU = np.array([_H, 0.0, 0.0, _H])
Q_NWU_ENU = np.array([_H, 0.0, 0.0, -_H])


def level_quat(acc: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the measured specific force to earth up (+z).

    Its axis is horizontal, so it carries no heading of its own. Returns identity
    for a zero vector (nothing to level with).
    """
    a = np.asarray(acc, dtype=np.float64)
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        return IDENTITY.copy()
    ax, ay, az = a / norm
    # q = normalise(1 + a.z, a x z): the half-way rotation from a to z.
    w = 1.0 + az
    if w < 1e-12:  # upside down: any horizontal axis will do; take x
        return np.array([0.0, 1.0, 0.0, 0.0])
    q = np.array([w, ay, -ax, 0.0])
    return q / np.linalg.norm(q)


def initial_quat(acc: np.ndarray, mag: np.ndarray | None = None) -> np.ndarray:
    """Orientation from one accelerometer (and magnetometer) sample.

    6D: inclination from acc, heading by the smallest levelling rotation.
    9D: full ENU orientation (x east, y magnetic north, z up).
    """
    if mag is None:
        return level_quat(acc)
    up = np.asarray(acc, dtype=np.float64)
    m = np.asarray(mag, dtype=np.float64)
    east = np.cross(m, up)
    if np.linalg.norm(up) == 0.0 or np.linalg.norm(east) == 0.0:
        return level_quat(acc)  # field parallel to gravity or missing: no heading
    up = up / np.linalg.norm(up)
    east = east / np.linalg.norm(east)
    north = np.cross(up, east)
    # Rows of R_earth_sensor are the earth axes expressed in the sensor frame.
    return matrix_to_quat(np.stack([east, north, up]))


def relevel(q: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Re-initialise the inclination of q from one acc sample, keeping the heading.

    The correction rotates about a horizontal earth axis (the same kind of step
    VQF uses), so the heading is kept as far as a change of inclination allows.
    """
    a_earth = rotate(np.asarray(q, dtype=np.float64), np.asarray(acc, dtype=np.float64))
    out = quat_multiply(level_quat(a_earth), q)
    return out / np.linalg.norm(out)


def change_earth_frame(q_from: np.ndarray, q_to_from: np.ndarray) -> np.ndarray:
    """q_to_sensor = q_to_from * q_from_sensor for (..., 4) arrays."""
    return np.ascontiguousarray(quat_multiply(q_to_from, q_from))
