"""IMU synthesis is exact rigid-body kinematics: gyro, specific force, mounting, signs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu import GRAVITY_MPS2
from imu.angles import pelvis_matrix_from_angles
from imu.simulate import Motion, SensorSettings, parse_text, simulate, simulate_motion
from imu.simulate.sensor_errors import SensorErrorModel
from imu.simulate.synthesis import body_rate, ideal_imu, resolve_mounting

IDEAL = SensorErrorModel.preset("none")

WALK_AND_EXERCISE = """
name = "kinematics"
seed = 5
[sensor]
rate_hz = 200
mounting = "random"
errors = "none"
[[segment]]
type = "stand"
duration_s = 2
[[segment]]
type = "walk"
duration_s = 36
turns = [{at_s = 12, angle_deg = 180, duration_s = 2.5}]
[[segment]]
type = "single_leg_squat"
reps = 3
side = "right"
faults = ["wobble", "drop"]
[[segment]]
type = "hinges"
count = 1
"""


@pytest.fixture(scope="module")
def walk_exercise():
    return simulate(parse_text(WALK_AND_EXERCISE))


def _integrate_gyro(r0: np.ndarray, gyr: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Strapdown attitude from body rates: 2-sample coning-corrected rotation vectors."""
    out = np.empty((gyr.shape[0], 3, 3))
    out[0] = r0
    dt = np.diff(t)[:, None]
    phi = 0.5 * (gyr[1:] + gyr[:-1]) * dt + np.cross(gyr[:-1], gyr[1:]) * dt * dt / 12.0
    steps = Rotation.from_rotvec(phi).as_matrix()
    r = r0
    for k in range(steps.shape[0]):
        r = r @ steps[k]
        out[k + 1] = r
    return out


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    rel = np.einsum("nji,njk->nik", a, b)
    return np.degrees(np.linalg.norm(Rotation.from_matrix(rel).as_rotvec(), axis=1))


def test_integrated_gyro_reproduces_true_orientation(walk_exercise):
    res = walk_exercise
    assert res.motion.duration_s >= 60.0
    r_es = res.synthesis.ideal.r_earth_pelvis @ res.synthesis.mounting
    r_int = _integrate_gyro(r_es[0], res.block.gyr_rps, res.synthesis.true_time_s)
    err = _angle_deg(r_es, r_int)
    assert err.max() < 0.05, f"gyro integration drifts {err.max():.4f} deg from the truth"


def test_specific_force_matches_finite_differences_of_the_trajectory(walk_exercise):
    res = walk_exercise
    motion, mount = res.motion, res.synthesis.mounting
    # Sensor times on the fine grid (ideal device: no drift), +-1 ms central differences.
    t = np.arange(2000, motion.n - 2000, 37) / motion.rate_hz
    h = 1.0 / motion.rate_hz
    mid = ideal_imu(motion, t, mount)
    p_minus = ideal_imu(motion, t - h, mount).sensor_pos_m
    p_plus = ideal_imu(motion, t + h, mount).sensor_pos_m
    a_fd = (p_plus - 2 * mid.sensor_pos_m + p_minus) / (h * h)
    r_es = mid.r_earth_pelvis @ mount
    a_from_imu = np.einsum("nij,nj->ni", r_es, mid.acc_mps2) - np.array([0, 0, GRAVITY_MPS2])
    assert np.abs(a_from_imu - a_fd).max() < 1e-6


def test_analytic_trajectory_gives_exact_rates_and_specific_force():
    rate = 1000.0
    t = np.arange(0, 20001) / rate
    w, amp, r = 2 * np.pi * 0.5, np.radians(20.0), 0.5
    tilt = amp * np.sin(w * t)
    heading = 0.3 * t
    pos = np.stack([r * np.cos(w * t), r * np.sin(w * t), 0.9 + 0.05 * np.sin(2 * w * t)], axis=1)
    motion = Motion.from_arrays(rate, tilt, 0.0, heading, pos)
    ts = np.arange(1000, 19000, 7) / 1000.0 + 0.0004   # off-grid times
    mount = resolve_mounting("random", np.random.default_rng(3))
    out = ideal_imu(motion, ts, mount)
    a = np.stack([-r * w * w * np.cos(w * ts), -r * w * w * np.sin(w * ts),
                  -0.05 * 4 * w * w * np.sin(2 * w * ts)], axis=1)
    r_ep = pelvis_matrix_from_angles(amp * np.sin(w * ts), 0.0, 0.3 * ts)
    f_expected = np.einsum("nji,nj->ni", r_ep @ mount, a + np.array([0, 0, GRAVITY_MPS2]))
    assert np.abs(out.acc_mps2 - f_expected).max() < 2e-3
    # Rates: pitch about pelvis y at tilt', yaw about earth z at 0.3 rad/s.
    w_b = body_rate(amp * np.sin(w * ts), np.zeros_like(ts), amp * w * np.cos(w * ts),
                    np.zeros_like(ts), np.full_like(ts, 0.3))
    assert np.abs(out.gyr_rps - w_b @ mount).max() < 1e-5


def test_body_rate_matches_rotation_derivative():
    rng = np.random.default_rng(0)
    ang = rng.uniform(-1.2, 1.2, size=(50, 3))
    rates = rng.normal(size=(50, 3))
    h = 1e-6
    r0 = pelvis_matrix_from_angles(ang[:, 0], ang[:, 1], ang[:, 2])
    r1 = pelvis_matrix_from_angles(*(ang + h * rates).T)
    r_1 = pelvis_matrix_from_angles(*(ang - h * rates).T)
    skew = np.einsum("nji,njk->nik", r0, (r1 - r_1) / (2 * h))
    w_num = np.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], axis=1)
    w = body_rate(ang[:, 0], ang[:, 1], rates[:, 0], rates[:, 1], rates[:, 2])
    assert np.allclose(w, w_num, atol=1e-7)


def _still(tilt_deg=0.0, obl_deg=0.0, heading_deg=0.0, seconds=2.0) -> Motion:
    n = int(seconds * 1000) + 1
    return Motion.from_arrays(1000.0, np.full(n, np.radians(tilt_deg)), np.radians(obl_deg),
                              np.radians(heading_deg))


def test_accelerometer_at_rest_reads_one_g_up():
    res = simulate_motion(_still(), SensorSettings(mounting="upright", errors=IDEAL))
    assert np.allclose(res.block.acc_mps2, [0.0, 0.0, GRAVITY_MPS2], atol=1e-9)
    assert np.allclose(res.block.gyr_rps, 0.0, atol=1e-12)
    # Any mounting: the reading is 1 g along the sensor-frame direction of earth-up.
    res = simulate_motion(_still(10, -5, 30), SensorSettings(mounting="random", errors=IDEAL))
    r_es = res.synthesis.ideal.r_earth_pelvis @ res.synthesis.mounting
    up_in_sensor = r_es[:, 2, :]
    assert np.allclose(res.block.acc_mps2, GRAVITY_MPS2 * up_in_sensor, atol=1e-9)
    assert np.allclose(np.linalg.norm(res.block.acc_mps2, axis=1), GRAVITY_MPS2)


def test_check_vector_right_side_raised_five_degrees():
    res = simulate_motion(_still(obl_deg=5.0), SensorSettings(mounting="upright", errors=IDEAL))
    tr = res.truth
    assert np.allclose(tr.obliquity_deg, 5.0, atol=1e-9)
    assert np.allclose(tr.tilt_deg, 0.0, atol=1e-9)
    assert np.allclose(tr.rotation_deg, 0.0, atol=1e-9)
    # Right side up: "up" leans towards the right (-y) side of the pelvis.
    acc = res.block.acc_mps2[0]
    assert acc[1] == pytest.approx(-GRAVITY_MPS2 * np.sin(np.radians(5)), abs=1e-9)
    assert acc[2] == pytest.approx(GRAVITY_MPS2 * np.cos(np.radians(5)), abs=1e-9)


def test_anterior_tilt_sign():
    res = simulate_motion(_still(tilt_deg=10.0), SensorSettings(mounting="upright", errors=IDEAL))
    assert np.allclose(res.truth.tilt_deg, 10.0, atol=1e-9)
    # Front of the pelvis down: the anterior (+x) axis points below the horizon, so
    # earth-up has a negative x component in the pelvis frame.
    assert res.block.acc_mps2[0, 0] == pytest.approx(-GRAVITY_MPS2 * np.sin(np.radians(10)))


def test_mounting_rotation_is_applied_to_both_sensors(walk_exercise):
    motion = walk_exercise.motion
    upright = simulate_motion(motion, SensorSettings(mounting="upright", errors=IDEAL), seed=1)
    mounted = simulate_motion(motion, SensorSettings(mounting="random", errors=IDEAL), seed=1)
    r_ps = mounted.synthesis.mounting
    assert not np.allclose(r_ps, np.eye(3))
    assert np.allclose(mounted.block.acc_mps2, upright.block.acc_mps2 @ r_ps, atol=1e-9)
    assert np.allclose(mounted.block.gyr_rps, upright.block.gyr_rps @ r_ps, atol=1e-12)
    # The truth angles do not depend on how the sensor sits.
    assert np.allclose(mounted.truth.tilt_deg, upright.truth.tilt_deg)
    assert np.allclose(mounted.truth.events["mounting"], r_ps, atol=1e-8)


@pytest.mark.parametrize("spec", ["upright", "random", "clip", "clip-tilted", "upside-down",
                                  {"roll_deg": 10, "pitch_deg": -20, "yaw_deg": 90}])
def test_mountings_are_rotations(spec):
    r = resolve_mounting(spec, np.random.default_rng(7))
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_lever_arm_adds_rotational_acceleration():
    rate = 1000.0
    t = np.arange(0, 5001) / rate
    heading = 2.0 * t   # spinning at 2 rad/s about the vertical
    motion = Motion.from_arrays(rate, np.zeros_like(t), 0.0, heading)
    arm = (0.1, 0.0, 0.0)
    res = simulate_motion(motion, SensorSettings(mounting="upright", errors=IDEAL,
                                                 lever_arm_m=arm))
    mid = res.block.acc_mps2[200:-200]
    # Centripetal acceleration w^2 r towards the axis: -x in the pelvis frame.
    assert np.allclose(mid[:, 0], -4.0 * 0.1, atol=1e-4)
    assert np.allclose(mid[:, 2], GRAVITY_MPS2, atol=1e-6)
