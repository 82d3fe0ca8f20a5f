"""Tiny exact IMU synthesis for known-answer tests of the core (no motion models, no noise).

Rotation about the sensor point only, so the accelerometer reads gravity alone:
acc_s = R_es^T (0, 0, g). The gyro comes from the exact relative rotation between
consecutive orientations, so integrating it reproduces the orientation.
"""

from __future__ import annotations

import numpy as np

from imu import GRAVITY_MPS2
from imu.angles import pelvis_matrix_from_angles
from imu.rotation import matrix_to_quat, quat_conj, quat_multiply
from imu.samples import SampleBlock


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def pelvis_script(rate_hz: float, segments: list[tuple[float, str, dict]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Time, tilt, obliquity, heading (radians) from simple segments.

    Segments: (duration_s, kind, params); kinds: "still", "hinge" (peak_deg, count),
    "pose" (tilt_deg, obliquity_deg, heading_deg reached smoothly and held).
    """
    t_all, tilt, obl, head = [], [], [], []
    t0 = 0.0
    cur = np.zeros(3)
    for dur, kind, prm in segments:
        n = int(round(dur * rate_hz))
        t = t0 + np.arange(n) / rate_hz
        x = (t - t0) / dur
        a = np.tile(cur, (n, 1))
        if kind == "hinge":
            k = prm.get("count", 3)
            phase = (x * k) % 1.0
            bump = np.sin(np.pi * phase) ** 2
            a[:, 0] = cur[0] + np.radians(prm["peak_deg"]) * bump
        elif kind == "pose":
            target = np.radians([prm.get("tilt_deg", 0), prm.get("obliquity_deg", 0), prm.get("heading_deg", 0)])
            a = cur + smoothstep(x * 2)[:, None] * (target - cur)
            cur = target
        elif kind == "sway":
            f = prm.get("freq_hz", 0.3)
            amp = np.radians(prm.get("amp_deg", 1.0))
            a[:, 0] += amp * np.sin(2 * np.pi * f * (t - t0))
            a[:, 1] += amp * np.sin(2 * np.pi * 0.7 * f * (t - t0) + 1.0)
            a[:, 2] += amp * np.sin(2 * np.pi * 1.3 * f * (t - t0) + 2.0)
        t_all.append(t), tilt.append(a[:, 0]), obl.append(a[:, 1]), head.append(a[:, 2])
        t0 += n / rate_hz
    return np.concatenate(t_all), np.concatenate(tilt), np.concatenate(obl), np.concatenate(head)


def imu_from_pelvis(time_s: np.ndarray, tilt: np.ndarray, obliquity: np.ndarray,
                    heading: np.ndarray, r_pelvis_sensor: np.ndarray,
                    heading_offset_rad: float = 0.3) -> tuple[SampleBlock, np.ndarray]:
    """Exact gyro/acc of a sensor mounted with r_pelvis_sensor; returns samples and q_es."""
    r_ep = pelvis_matrix_from_angles(tilt, obliquity, heading + heading_offset_rad)
    r_es = r_ep @ r_pelvis_sensor
    q = matrix_to_quat(r_es)
    acc = np.einsum("nji,j->ni", r_es, np.array([0.0, 0.0, GRAVITY_MPS2]))
    # Body rate from q_k^-1 q_{k+1}: the rotation vector over one step, divided by dt.
    dq = quat_multiply(quat_conj(q[:-1]), q[1:])
    dq = np.where(dq[:, :1] < 0, -dq, dq)
    angle = 2 * np.arctan2(np.linalg.norm(dq[:, 1:], axis=1), dq[:, 0])
    axis = dq[:, 1:] / np.maximum(np.linalg.norm(dq[:, 1:], axis=1, keepdims=True), 1e-300)
    dt = np.diff(time_s)
    w = axis * (angle / dt)[:, None]
    # gyr[k] is the rate applied from sample k-1 to k (how filters integrate).
    gyr = np.vstack([w[:1] * 0, w])
    return SampleBlock(time_s, acc, gyr), q
