"""Known-answer tests of the pelvic angle definitions (CONVENTIONS)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu.angles import decompose, pelvis_matrix_from_angles, relative_heading, RelativeHeading
from imu.rotation import (matrix_to_quat, quat_multiply, quat_to_matrix, random_rotation,
                          rot_x, rot_y, rot_z, rotate)


def deg(*r):
    return tuple(float(np.degrees(x)) for x in r)


def test_check_vector_right_side_raised_5_deg_is_obliquity_plus_5():
    # Sensor frame = pelvis frame, right side raised by 5 deg: the left (+y) side goes down.
    r = rot_x(np.radians(-5.0))
    assert (r @ [0, -1, 0])[2] > 0  # right side is higher
    tilt, obl, head = deg(*decompose(r))
    assert obl == pytest.approx(5.0, abs=1e-9)
    assert tilt == pytest.approx(0.0, abs=1e-9)
    assert head == pytest.approx(0.0, abs=1e-9)


def test_sign_anterior_tilt_is_positive():
    # Front of the pelvis down: the anterior axis (+x) points below the horizon.
    r = rot_y(np.radians(10.0))
    assert (r @ [1, 0, 0])[2] < 0
    assert deg(*decompose(r))[0] == pytest.approx(10.0)


def test_sign_rotation_to_the_left_is_positive():
    # Counter-clockwise seen from above: the right side (-y) moves forward (+x).
    r = rot_z(np.radians(8.0))
    assert (r @ [0, -1, 0])[0] > 0
    assert deg(*decompose(r))[2] == pytest.approx(8.0)


def test_random_angles_round_trip_within_0_1_deg():
    rng = np.random.default_rng(3)
    tilt = np.radians(rng.uniform(-80, 80, 2000))
    obl = np.radians(rng.uniform(-60, 60, 2000))
    head = np.radians(rng.uniform(-179, 179, 2000))
    t2, o2, h2 = decompose(pelvis_matrix_from_angles(tilt, obl, head))
    assert np.max(np.abs(np.degrees(t2 - tilt))) < 0.1
    assert np.max(np.abs(np.degrees(o2 - obl))) < 0.1
    assert np.max(np.abs(np.degrees(h2 - head))) < 0.1


def test_baker_sequence_matches_scipy_intrinsic_zxy():
    # Rotation about vertical, then the rotated anterior axis, then the twice-rotated
    # medio-lateral axis is SciPy's intrinsic "ZXY"; obliquity is minus the x angle.
    rng = np.random.default_rng(4)
    angles = rng.uniform(-0.8, 0.8, size=(500, 3))
    r = Rotation.from_euler("ZXY", angles).as_matrix()
    tilt, obl, head = decompose(r)
    np.testing.assert_allclose(head, angles[:, 0], atol=1e-12)
    np.testing.assert_allclose(-obl, angles[:, 1], atol=1e-12)
    np.testing.assert_allclose(tilt, angles[:, 2], atol=1e-12)


def test_quaternion_helpers_agree_with_scipy():
    rng = np.random.default_rng(5)
    for _ in range(200):
        r = random_rotation(rng)
        q = matrix_to_quat(r)
        sp = Rotation.from_quat(np.r_[q[1:], q[0]])  # SciPy is x, y, z, w
        np.testing.assert_allclose(sp.as_matrix(), r, atol=1e-12)
        np.testing.assert_allclose(quat_to_matrix(q), r, atol=1e-12)
        v = rng.normal(size=3)
        np.testing.assert_allclose(rotate(q, v), r @ v, atol=1e-12)
    a, b = random_rotation(rng), random_rotation(rng)
    np.testing.assert_allclose(quat_to_matrix(quat_multiply(matrix_to_quat(a), matrix_to_quat(b))),
                               a @ b, atol=1e-12)


def test_relative_heading_is_heading_minus_trailing_two_second_mean():
    rng = np.random.default_rng(6)
    t = np.arange(3000) / 100.0
    h = np.cumsum(rng.normal(0, 0.05, t.size))  # wanders through several turns
    wrapped = np.angle(np.exp(1j * h))
    rel = relative_heading(t, wrapped)
    for i in (0, 50, 199, 200, 1234, 2999):
        window = (t > t[i] - 2.0) & (t <= t[i])
        assert rel[i] == pytest.approx(h[i] - h[window].mean(), abs=1e-9)


def test_relative_heading_removes_a_slow_turn():
    t = np.arange(6000) / 200.0
    turn = np.radians(30.0) * t  # steady 30 deg/s turn
    osc = np.radians(5.0) * np.sin(2 * np.pi * 1.4 * t)
    rel = np.degrees(relative_heading(t, turn + osc))
    steady = t > 3.0
    # A steady turn leaves a constant offset of half the window times the rate (30 deg)
    # instead of growing without bound; the pelvic oscillation stays visible on top of it.
    assert np.mean(rel[steady]) == pytest.approx(30.0, abs=1.0)
    assert 9.0 < np.ptp(rel[steady]) < 12.0


def test_relative_heading_is_block_split_invariant_and_restarts_at_gaps():
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.004, 0.006, 4000))
    h = np.angle(np.exp(1j * np.cumsum(rng.normal(0, 0.03, t.size))))
    gap = np.zeros(t.size, bool)
    gap[[1000, 2500]] = True
    whole = relative_heading(t, h, gap)
    stream = RelativeHeading()
    cuts = np.sort(rng.choice(np.arange(1, t.size), 60, replace=False))
    parts = [stream.update(t[a:b], h[a:b], gap[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, t.size])]
    assert np.array_equal(np.concatenate(parts), whole)
    assert whole[1000] == pytest.approx(0.0, abs=1e-12)  # a new window starts after the gap
