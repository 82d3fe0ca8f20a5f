"""IMU synthesis: exact rigid-body kinematics at the sensor, then sensor and link errors.

Specific force f_s = R_es^T (a_e - g_e), g_e = (0, 0, -9.80665), where a_e is the second
derivative of the sensor-point position; angular rate in the sensor frame from the
time derivative of the Baker angles (closed form, see `body_rate`). The sensor frame
is the pelvis frame rotated by the mounting R_pelvis_sensor (any orientation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu import GRAVITY_MPS2
from imu.angles import pelvis_matrix_from_angles
from imu.errors import SettingsError
from imu.rotation import axis_angle_matrix, random_rotation, rot_x, rot_y, rot_z
from imu.samples import SampleBlock
from imu.simulate.motion import Motion
from imu.simulate.sensor_errors import (DrawnErrors, SensorErrorModel, apply_imu_errors,
                                        draw_errors, jittered, packet_keep_mask, sample_clock)

# Nominal clip on the waistband at the sacrum: sensor z out of the body (posterior),
# sensor x up, sensor y to the left. Columns = sensor axes in the pelvis frame.
CLIP_MOUNTING = np.array([[0.0, 0.0, -1.0],
                          [0.0, 1.0, 0.0],
                          [1.0, 0.0, 0.0]])
MOUNTING_NAMES = ("random", "upright", "clip", "clip-tilted", "upside-down")


def resolve_mounting(spec: object, rng: np.random.Generator) -> np.ndarray:
    """R_pelvis_sensor from a name, {roll_deg, pitch_deg, yaw_deg}, {matrix} or a 3x3 list.

    Names: 'upright' (sensor = pelvis frame), 'random' (uniform over all rotations),
    'clip' (nominal waistband clip), 'clip-tilted' (clip rotated by up to 20 deg about a
    random axis), 'upside-down' (clip flipped: x down).
    Angles: R = Rz(yaw) Ry(pitch) Rx(roll), degrees.
    """
    if isinstance(spec, str):
        if spec == "upright":
            return np.eye(3)
        if spec == "random":
            return random_rotation(rng)
        if spec == "clip":
            return CLIP_MOUNTING.copy()
        if spec == "clip-tilted":
            axis = rng.normal(size=3)
            return axis_angle_matrix(axis, np.radians(rng.uniform(0, 20))) @ CLIP_MOUNTING
        if spec == "upside-down":
            return rot_x(np.pi) @ CLIP_MOUNTING
        raise SettingsError(f"Unknown mounting {spec!r}; use one of {', '.join(MOUNTING_NAMES)}, "
                            "a table {roll_deg, pitch_deg, yaw_deg} or {matrix = [[...]]}.")
    if isinstance(spec, dict):
        if "matrix" in spec:
            return _checked_matrix(spec["matrix"])
        unknown = set(spec) - {"roll_deg", "pitch_deg", "yaw_deg"}
        if unknown:
            raise SettingsError(f"Mounting table has unknown keys {sorted(unknown)}; use "
                                "roll_deg, pitch_deg, yaw_deg (degrees) or matrix.")
        r, p, y = (np.radians(float(spec.get(k, 0.0)))
                   for k in ("roll_deg", "pitch_deg", "yaw_deg"))
        return rot_z(y) @ rot_y(p) @ rot_x(r)
    return _checked_matrix(spec)


def _checked_matrix(value: object) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SettingsError("Mounting matrix must be a 3x3 list of numbers.") from None
    if m.shape != (3, 3):
        raise SettingsError(f"Mounting matrix must be 3x3, got shape {m.shape}.")
    if not np.allclose(m.T @ m, np.eye(3), atol=1e-6) or np.linalg.det(m) < 0:
        raise SettingsError("Mounting matrix must be a rotation (orthonormal, determinant +1).")
    return m


def body_rate(tilt: np.ndarray, obl: np.ndarray, tilt_rate: np.ndarray, obl_rate: np.ndarray,
              heading_rate: np.ndarray) -> np.ndarray:
    """Angular velocity in the pelvis frame for R = Rz(h) Rx(p) Ry(t), p = -obliquity.

    omega = Ry(t)^T Rx(p)^T (0, 0, h') + Ry(t)^T (p', 0, 0) + (0, t', 0).
    """
    p, pd = -obl, -obl_rate
    ct, st = np.cos(tilt), np.sin(tilt)
    cp, sp = np.cos(p), np.sin(p)
    out = np.empty(tilt.shape + (3,))
    out[..., 0] = ct * pd - st * heading_rate * cp
    out[..., 1] = heading_rate * sp + tilt_rate
    out[..., 2] = st * pd + ct * heading_rate * cp
    return out


def _rotate_pelvis_to_earth(tilt: np.ndarray, obl: np.ndarray, heading: np.ndarray,
                            v: np.ndarray) -> np.ndarray:
    """R_earth_pelvis @ v for a constant pelvis-frame vector v, without building matrices."""
    ct, st = np.cos(tilt), np.sin(tilt)
    x = ct * v[0] + st * v[2]
    y = np.full_like(tilt, v[1])
    z = -st * v[0] + ct * v[2]
    p = -obl
    cp, sp = np.cos(p), np.sin(p)
    y, z = cp * y - sp * z, sp * y + cp * z
    ch, sh = np.cos(heading), np.sin(heading)
    x, y = ch * x - sh * y, sh * x + ch * y
    return np.stack([x, y, z], axis=-1)


@dataclass(frozen=True)
class IdealSamples:
    """Noise-free pose and IMU signals at given (true) times."""

    tilt_rad: np.ndarray
    obliquity_rad: np.ndarray
    heading_rad: np.ndarray
    r_earth_pelvis: np.ndarray     # (n, 3, 3)
    acc_mps2: np.ndarray           # specific force, sensor frame
    gyr_rps: np.ndarray            # angular rate, sensor frame
    sensor_pos_m: np.ndarray       # sensor-point position, earth frame


def ideal_imu(motion: Motion, true_time_s: np.ndarray, mounting: np.ndarray,
              lever_arm_m: np.ndarray | None = None) -> IdealSamples:
    """Exact IMU signals at the given times from the fine-grid motion.

    Rates and accelerations are central differences on the fine grid (accurate to
    ~1e-4 relative for the smooth curves), angles are cubic-Hermite interpolated with
    those rates, rates and accelerations linearly interpolated.
    """
    rate = motion.rate_hz
    h = 1.0 / rate
    angles = np.stack([motion.tilt_rad, motion.obliquity_rad, motion.heading_rad], axis=1)
    pos = motion.pos_m
    if lever_arm_m is not None and np.any(lever_arm_m != 0):
        pos = pos + _rotate_pelvis_to_earth(motion.tilt_rad, motion.obliquity_rad,
                                            motion.heading_rad, np.asarray(lever_arm_m, float))
    d_ang = np.gradient(angles, h, axis=0)
    acc_e = np.empty_like(pos)
    acc_e[1:-1] = (pos[2:] - 2.0 * pos[1:-1] + pos[:-2]) / (h * h)
    acc_e[0], acc_e[-1] = acc_e[1], acc_e[-2]

    t = np.asarray(true_time_s, dtype=np.float64)
    x = np.clip(t * rate, 0.0, motion.n - 1 - 1e-9)
    i = np.minimum(np.floor(x).astype(np.int64), motion.n - 2)
    u = (x - i)[:, None]
    # Cubic Hermite for angles (values + slopes), linear for rates and accelerations.
    h00 = 2 * u ** 3 - 3 * u ** 2 + 1
    h10 = u ** 3 - 2 * u ** 2 + u
    h01 = -2 * u ** 3 + 3 * u ** 2
    h11 = u ** 3 - u ** 2
    ang = h00 * angles[i] + h10 * h * d_ang[i] + h01 * angles[i + 1] + h11 * h * d_ang[i + 1]
    rates = (1 - u) * d_ang[i] + u * d_ang[i + 1]
    acc = (1 - u) * acc_e[i] + u * acc_e[i + 1]
    spos = (1 - u) * pos[i] + u * pos[i + 1]
    tilt, obl, head = ang[:, 0], ang[:, 1], ang[:, 2]
    r_ep = pelvis_matrix_from_angles(tilt, obl, head)
    w_b = body_rate(tilt, obl, rates[:, 0], rates[:, 1], rates[:, 2])
    f_e = acc + np.array([0.0, 0.0, GRAVITY_MPS2])
    f_b = np.einsum("nji,nj->ni", r_ep, f_e)
    r_ps = np.asarray(mounting, dtype=np.float64)
    return IdealSamples(tilt, obl, head, r_ep, np.ascontiguousarray(f_b @ r_ps),
                        np.ascontiguousarray(w_b @ r_ps), spos)


@dataclass(frozen=True)
class Synthesis:
    """What the device sent, plus what is needed to build the truth."""

    block: SampleBlock
    true_time_s: np.ndarray        # true time of each delivered sample
    ideal: IdealSamples            # noise-free values at the delivered samples
    mounting: np.ndarray
    drawn: DrawnErrors
    n_taken: int                   # samples the device took (delivered + lost)
    n_clipped: int
    device_time_scale: float       # device time = true time * this


def synthesize(motion: Motion, rate_hz: float, mounting: np.ndarray,
               errors: SensorErrorModel, rng_errors: np.random.Generator,
               rng_link: np.random.Generator, packet_samples: int = 6,
               lever_arm_m: np.ndarray | None = None) -> Synthesis:
    """Sample the motion as a device would: clock, kinematics, errors, lost packets."""
    if rate_hz <= 0:
        raise SettingsError(f"Sample rate must be > 0 Hz, got {rate_hz}.")
    if packet_samples < 1:
        raise SettingsError(f"packet_samples must be >= 1, got {packet_samples}.")
    drawn = draw_errors(errors, rng_errors)
    device_t, true_t = sample_clock(motion.duration_s, rate_hz, drawn.clock_drift_ppm)
    ideal_all = ideal_imu(motion, true_t, mounting, lever_arm_m)
    acc, gyr, clipped = apply_imu_errors(ideal_all.acc_mps2, ideal_all.gyr_rps, errors, drawn,
                                         rng_errors, rate_hz)
    reported = jittered(device_t, errors, rng_link, rate_hz)
    keep = packet_keep_mask(device_t.shape[0], packet_samples, errors, rng_link, device_t)
    idx = np.flatnonzero(keep)
    seq = idx.astype(np.int64)
    gap = np.zeros(idx.shape[0], dtype=bool)
    gap[1:] = np.diff(seq) > 1
    block = SampleBlock(time_s=reported[idx], acc_mps2=acc[idx], gyr_rps=gyr[idx], seq=seq,
                        gap_before=gap)
    ideal = IdealSamples(ideal_all.tilt_rad[idx], ideal_all.obliquity_rad[idx],
                         ideal_all.heading_rad[idx], ideal_all.r_earth_pelvis[idx],
                         ideal_all.acc_mps2[idx], ideal_all.gyr_rps[idx],
                         ideal_all.sensor_pos_m[idx])
    return Synthesis(block, true_t[idx], ideal, np.asarray(mounting, float), drawn,
                     int(device_t.shape[0]), clipped, 1.0 + drawn.clock_drift_ppm * 1e-6)
