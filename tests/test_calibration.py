"""Alignment with the sensor in any orientation, and pelvic angles recovered from it."""

from __future__ import annotations

import numpy as np
import pytest

from imu.calibration import Alignment, AlignmentDetector, alignment_matrix, anterior_from_hinges
from imu.pipeline import analyze_samples
from imu.rotation import random_rotation, rot_y
from imu.simulate.script import CALIBRATION_TOML
from tests.kinematics import imu_from_pelvis, pelvis_script

RATE = 100.0

CALIBRATE = [
    (6.0, "sway", {"amp_deg": 0.3}),
    (9.0, "hinge", {"peak_deg": 45.0, "count": 3}),
    (2.0, "sway", {"amp_deg": 0.3}),
]
POSES = [
    (3.0, "pose", {"tilt_deg": 12.0}),
    (3.0, "pose", {"tilt_deg": -8.0, "obliquity_deg": 6.0}),
    (3.0, "pose", {"obliquity_deg": -9.0, "heading_deg": 25.0}),
    (3.0, "pose", {"tilt_deg": 20.0, "obliquity_deg": 4.0, "heading_deg": -15.0}),
]


def _run(mount: np.ndarray, segments=CALIBRATE + POSES):
    t, tilt, obl, head = pelvis_script(RATE, segments)
    block, _ = imu_from_pelvis(t, tilt, obl, head, mount)
    return t, np.degrees(tilt), np.degrees(obl), analyze_samples(block, RATE)


def test_alignment_matrix_is_a_right_handed_rotation():
    r = alignment_matrix(np.array([0.1, 0.2, 9.0]), np.array([1.0, 0.3, 0.0]))
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_hinge_sign_comes_from_the_direction_up_tips():
    up = np.array([0.0, 0.0, 1.0])
    outer = np.diag([0.0, 5.0, 0.0])  # rotation about sensor y
    # A forward hinge tips the anterior axis down, so up moves towards -x (posterior).
    anterior, conf = anterior_from_hinges(outer, np.array([-3.0, 0.0, -0.5]), up)
    np.testing.assert_allclose(anterior, [1.0, 0.0, 0.0], atol=1e-12)
    assert conf > 0.9


STILL_CALIBRATE = [(6.0, "still", {}), (9.0, "hinge", {"peak_deg": 45.0, "count": 3}), (2.0, "still", {})]


def test_noiseless_poses_recovered_within_0_1_deg_with_sensor_equal_to_pelvis():
    # Perfectly still standing: with sway, the filters' rest-bias estimators take part
    # of the sway for gyro bias (a real ~0.3 deg effect, covered by the 0.5 deg tests).
    t, tilt, obl, res = _run(np.eye(3), STILL_CALIBRATE + POSES)
    assert res.alignment is not None and res.alignment.anterior_method == "hinges"
    ok = np.isfinite(res.tilt_deg) & (t > 20.0)
    assert ok.sum() > 800
    # Pose holds are the last half of each segment.
    np.testing.assert_allclose(res.tilt_deg[ok], tilt[ok], atol=0.1)
    np.testing.assert_allclose(res.obliquity_deg[ok], obl[ok], atol=0.1)


@pytest.mark.parametrize("seed", range(6))
def test_random_mounting_recovered_within_0_5_deg(seed):
    mount = random_rotation(np.random.default_rng(seed))
    t, tilt, obl, res = _run(mount)
    al = res.alignment
    assert al is not None, res.message
    assert al.anterior_method == "hinges" and al.confidence > 0.8
    ok = np.isfinite(res.tilt_deg)
    assert ok[t > 20.0].all()
    assert np.max(np.abs(res.tilt_deg[ok] - tilt[ok])) < 0.5
    assert np.max(np.abs(res.obliquity_deg[ok] - obl[ok])) < 0.5


def test_rotation_follows_heading_changes_relative_to_trailing_mean():
    mount = random_rotation(np.random.default_rng(11))
    segs = CALIBRATE + [(4.0, "pose", {"heading_deg": 20.0}), (4.0, "pose", {"heading_deg": 20.0})]
    t, _, _, res = _run(mount, segs)
    # During the turn the pelvis leads its recent mean heading: positive (turned left).
    turning = (t > 17.5) & (t < 18.5)
    assert np.nanmin(res.rotation_deg[turning]) > 0.0
    # Long after the turn the relative rotation returns to zero.
    assert np.nanmax(np.abs(res.rotation_deg[t > 24.0])) < 0.1


def test_angles_are_withheld_with_a_message_when_there_is_no_standing():
    mount = rot_y(np.radians(30))
    segs = [(10.0, "hinge", {"peak_deg": 40.0, "count": 5})]
    _, _, _, res = _run(mount, segs)
    assert res.alignment is None
    assert np.isnan(res.tilt_deg).all()
    assert np.isfinite(res.quat_wxyz).all()  # the fused orientation is still produced
    assert "stand still" in res.message


def test_standing_without_hinges_or_gait_asks_for_them():
    _, _, _, res = _run(np.eye(3), [(8.0, "sway", {"amp_deg": 0.3})])
    assert res.alignment is None
    assert "hinges" in res.message and "walk" in res.message


def test_alignment_serialises_round_trip():
    _, _, _, res = _run(random_rotation(np.random.default_rng(2)))
    d = res.alignment.to_dict()
    back = Alignment.from_dict(d)
    np.testing.assert_allclose(back.r_sensor_pelvis, res.alignment.r_sensor_pelvis, atol=1e-8)
    assert back.anterior_method == res.alignment.anterior_method


def test_detector_decision_does_not_depend_on_block_size():
    mount = random_rotation(np.random.default_rng(8))
    t, tilt, obl, head = pelvis_script(RATE, CALIBRATE)
    block, q = imu_from_pelvis(t, tilt, obl, head, mount)
    results = []
    for size in (1, 13, 500, len(t)):
        det = AlignmentDetector(RATE)
        found = [det.update(*(a[i:i + size] for a in (block.time_s, block.acc_mps2, block.gyr_rps, q, block.gap_before)))
                 for i in range(0, len(t), size)]
        found = [f for f in found if f is not None]
        assert len(found) == 1
        results.append(found[0])
    for r in results[1:]:
        assert r.valid_from_sample == results[0].valid_from_sample
        np.testing.assert_array_equal(r.r_sensor_pelvis, results[0].r_sensor_pelvis)


def test_hinge_ending_on_the_first_sample_of_a_window_is_handled():
    # Regression: a hinge whose return below the end threshold falls exactly on a
    # window's first sample produced an empty slice and crashed the detector.
    mount = np.eye(3)
    t, tilt, obl, head = pelvis_script(RATE, CALIBRATE)
    block, q = imu_from_pelvis(t, tilt, obl, head, mount)
    incl = np.degrees(np.abs(tilt))
    end_idx = np.flatnonzero((incl[:-1] >= 7.0) & (incl[1:] < 7.0))[0] + 1
    det = AlignmentDetector(RATE)
    # Shift the windows so that one starts exactly where the first hinge ends.
    offset = det.window_n - (end_idx % det.window_n)
    pad = int(offset)
    pre_t = np.arange(-pad, 0) / RATE
    args = (np.r_[pre_t, block.time_s + 0.0], np.r_[np.tile(block.acc_mps2[:1], (pad, 1)), block.acc_mps2],
            np.r_[np.zeros((pad, 3)), block.gyr_rps], np.r_[np.tile(q[:1], (pad, 1)), q],
            np.zeros(pad + len(t), bool))
    assert (end_idx + pad) % det.window_n == 0
    found = det.update(*args)
    assert found is not None and found.anterior_method == "hinges"


def test_standing_cut_short_by_a_link_outage_still_counts():
    """Six seconds of standing, then 0.5 s of lost packets just before the hinges: the
    standing already seen is kept (an outage only stops evidence from being joined
    across it), so the hinges that follow calibrate."""
    from imu.samples import SampleBlock

    t, tilt, obl, head = pelvis_script(RATE, STILL_CALIBRATE + POSES)
    block, _ = imu_from_pelvis(t, tilt, obl, head, random_rotation(np.random.default_rng(4)))
    keep = ~((block.time_s >= 5.5) & (block.time_s < 6.0))
    gap = np.zeros(keep.sum(), dtype=bool)
    gap[np.searchsorted(block.time_s[keep], 6.0)] = True
    cut = SampleBlock(block.time_s[keep], block.acc_mps2[keep], block.gyr_rps[keep], gap_before=gap)
    res = analyze_samples(cut, RATE)
    assert res.alignment is not None and res.alignment.anterior_method == "hinges"
    assert res.alignment.standing_end_s < 5.5


POOR_DEVICE_HINGES = ("""
name = "poor device hinges"
[sensor]
rate_hz = 200
mounting = "random"
errors = "poor"
""" + CALIBRATION_TOML)


@pytest.mark.parametrize("fraction, quiet_bias, calibrated",
                         [(0.25, True, True), (0.25, False, True), (0.0, False, False)])
def test_hinges_on_a_poor_device_do_not_run_together(fraction, quiet_bias, calibrated):
    """A 60 mg / 3 deg/s device whose gyro offset is not learnt standing (the quiet-spell
    estimate off: it refused this device's 5.8 deg/s offset until its limit was raised)
    leaves the fused vertical ~10 deg off standing's between hinges (measured, seed 1):
    with only the fixed 7 deg end level the hinges ran into one and calibration never
    finished; the end level follows the hinge's peak."""
    from dataclasses import replace

    from imu.calibration import CalibrationSettings
    from imu.fusion import FusionSettings
    from imu.pipeline import PipelineSettings
    from imu.simulate.script import parse_text
    from imu.simulate.session import simulate
    res = simulate(parse_text(POOR_DEVICE_HINGES, source="test"), seed=1)
    settings = PipelineSettings(calibration=replace(CalibrationSettings(),
                                                    hinge_end_fraction=fraction),
                                fusion=FusionSettings(vqf_quiet_bias=quiet_bias))
    an = analyze_samples(res.block, res.rate_hz, settings)
    assert an.calibrated is calibrated, an.message
    if calibrated:
        assert an.alignment.anterior_method == "hinges"
