"""Rotation math: quaternions (w, x, y, z order) and rotation matrices, vectorised.

A quaternion q_ab rotates vectors from frame b into frame a: v_a = q_ab * v_b * conj(q_ab),
and the matching matrix R_ab has the axes of b, expressed in a, as its columns.
The `ahrs` package is w-first too; SciPy is x, y, z, w (convert at its boundary only).
"""

from __future__ import annotations

import numpy as np


def quat_normalize(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_conj(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product p*q for (..., 4) arrays."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], axis=-1)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (normalised here) to (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # 2 / |q|^2 scales every product: the normalisation without dividing q itself
    # (fewer array passes; this runs on every block of the live path).
    s = 2.0 / (w * w + x * x + y * y + z * z)
    xs, ys, zs = x * s, y * s, z * s
    wx, wy, wz = w * xs, w * ys, w * zs
    xx, xy, xz = x * xs, x * ys, x * zs
    yy, yz, zz = y * ys, y * zs, z * zs
    r = np.empty(q.shape[:-1] + (3, 3))
    r[..., 0, 0] = 1.0 - (yy + zz)
    r[..., 0, 1] = xy - wz
    r[..., 0, 2] = xz + wy
    r[..., 1, 0] = xy + wz
    r[..., 1, 1] = 1.0 - (xx + zz)
    r[..., 1, 2] = yz - wx
    r[..., 2, 0] = xz - wy
    r[..., 2, 1] = yz + wx
    r[..., 2, 2] = 1.0 - (xx + yy)
    return r


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices to (..., 4) quaternions with w >= 0."""
    r = np.asarray(r, dtype=np.float64)
    # Shepperd's method, branch per element on the largest diagonal term for stability.
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    tr = m00 + m11 + m22
    cand = np.stack([tr, m00, m11, m22], axis=-1)
    k = np.argmax(cand, axis=-1)
    q = np.empty(r.shape[:-2] + (4,))
    s0 = np.sqrt(np.maximum(1.0 + tr, 1e-300)) * 2
    s1 = np.sqrt(np.maximum(1.0 + m00 - m11 - m22, 1e-300)) * 2
    s2 = np.sqrt(np.maximum(1.0 + m11 - m00 - m22, 1e-300)) * 2
    s3 = np.sqrt(np.maximum(1.0 + m22 - m00 - m11, 1e-300)) * 2
    r21_12 = r[..., 2, 1] - r[..., 1, 2]
    r02_20 = r[..., 0, 2] - r[..., 2, 0]
    r10_01 = r[..., 1, 0] - r[..., 0, 1]
    r01p10 = r[..., 0, 1] + r[..., 1, 0]
    r02p20 = r[..., 0, 2] + r[..., 2, 0]
    r12p21 = r[..., 1, 2] + r[..., 2, 1]
    opts = [
        np.stack([s0 / 4, r21_12 / s0, r02_20 / s0, r10_01 / s0], axis=-1),
        np.stack([r21_12 / s1, s1 / 4, r01p10 / s1, r02p20 / s1], axis=-1),
        np.stack([r02_20 / s2, r01p10 / s2, s2 / 4, r12p21 / s2], axis=-1),
        np.stack([r10_01 / s3, r02p20 / s3, r12p21 / s3, s3 / 4], axis=-1),
    ]
    for i, o in enumerate(opts):
        sel = k == i
        q[sel] = o[sel]
    q = np.where(q[..., :1] < 0, -q, q)
    return quat_normalize(q)


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by quaternions q (..., 4)."""
    return np.einsum("...ij,...j->...i", quat_to_matrix(q), np.asarray(v, dtype=np.float64))


def axis_angle_matrix(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotation matrix for a rotation of angle_rad about a unit axis (Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * (k @ k)


def rot_x(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed random rotation matrix."""
    q = rng.normal(size=4)
    return quat_to_matrix(q / np.linalg.norm(q))
