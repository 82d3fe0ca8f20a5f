"""The one pipeline: streaming equals batch, and accuracy on real recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imu.calibration import CalibrationSettings
from imu.csv_io import read_imu_csv
from imu.pipeline import Pipeline, PipelineSettings, analyze_samples
from imu.rotation import random_rotation
from tests.kinematics import imu_from_pelvis, pelvis_script
from tests.test_calibration import CALIBRATE, POSES


def _stream(block, rate, sizes, settings=PipelineSettings()):
    pipe = Pipeline(rate, settings)
    outs, i, k = [], 0, 0
    while i < len(block):
        size = sizes[k % len(sizes)]
        outs.append(pipe.feed(block.slice(i, i + size)))
        i += size
        k += 1
    cat = lambda name: np.concatenate([getattr(o, name) for o in outs])
    return cat("quat_wxyz"), cat("tilt_deg"), cat("obliquity_deg"), cat("rotation_deg"), pipe


@pytest.mark.parametrize("sizes", [[1], [7, 1, 300], [4096]])
def test_streaming_equals_batch_bit_for_bit(sizes):
    t, tilt, obl, head = pelvis_script(100.0, CALIBRATE + POSES)
    block, _ = imu_from_pelvis(t, tilt, obl, head, random_rotation(np.random.default_rng(1)))
    batch = analyze_samples(block, 100.0)
    q, ti, ob, ro, pipe = _stream(block, 100.0, sizes)
    assert np.array_equal(q, batch.quat_wxyz)
    assert np.array_equal(ti, batch.tilt_deg, equal_nan=True)
    assert np.array_equal(ob, batch.obliquity_deg, equal_nan=True)
    assert np.array_equal(ro, batch.rotation_deg, equal_nan=True)
    assert pipe.alignment.valid_from_sample == batch.alignment.valid_from_sample


def test_angles_start_exactly_where_the_alignment_applies():
    t, tilt, obl, head = pelvis_script(100.0, CALIBRATE + POSES)
    block, _ = imu_from_pelvis(t, tilt, obl, head, np.eye(3))
    res = analyze_samples(block, 100.0)
    k = res.alignment.valid_from_sample
    assert np.isnan(res.tilt_deg[:k]).all() and np.isfinite(res.tilt_deg[k:]).all()


def _rbds(shared_data):
    d = shared_data / "rbds-dev"
    imp = read_imu_csv(d / "RBDS032_T35.imu.csv")
    truth = np.genfromtxt(d / "RBDS032_T35.truth.csv", delimiter=",", names=True)
    events = json.loads((d / "RBDS032_T35.events.json").read_text())
    return imp, truth, events


@pytest.mark.parametrize("use_hinges", [True, False])
def test_real_treadmill_run_angles_within_1_deg_rmse(shared_data, use_hinges):
    imp, truth, events = _rbds(shared_data)
    settings = PipelineSettings(calibration=CalibrationSettings(use_hinges=use_hinges))
    res = analyze_samples(imp.samples, imp.rate_hz, settings)
    assert res.alignment.anterior_method == ("hinges" if use_hinges else "gait-running")
    a, b = events["scoring_window_s"]
    if not use_hinges:  # from gait, the angles start after the first strides
        assert res.alignment.decided_at_s < a + 4.0
        a = res.alignment.decided_at_s
    m = (res.time_s > a) & (res.time_s <= b)
    assert np.isfinite(res.tilt_deg[m]).all()
    for name in ("tilt", "obliquity", "rotation"):
        err = getattr(res, f"{name}_deg")[m] - truth[f"{name}_deg"][m]
        assert np.sqrt(np.mean(err ** 2)) < 1.0, name


IPOL_TRIALS = ["1-1", "1-2", "1-3", "1-4", "1-5", "1-6", "3-1", "3-2", "3-3", "3-4", "3-5", "3-6"]


def test_real_walking_calibrates_from_gait_in_every_trial(shared_data):
    """Lower-back walking with radio gaps: the forward axis must come from the first strides
    and point where the walker went (checked by the start-up velocity after standing)."""
    from imu.rotation import quat_to_matrix
    for trial in IPOL_TRIALS:
        d = shared_data / "ipol-dev" / trial
        imp = read_imu_csv(d / "imu.csv")
        truth = json.loads((d / "truth.json").read_text())
        res = analyze_samples(imp.samples, imp.rate_hz)
        al = res.alignment
        assert al is not None and al.anterior_method == "gait-walking", trial
        first_walk = truth["evaluation_windows"][0]
        assert al.decided_at_s < first_walk[1], trial  # within the first straight walk
        # Start-up velocity: horizontal acceleration integrated from standing into walking.
        t = res.time_s
        r = quat_to_matrix(res.quat_wxyz)
        acc_e = np.einsum("nij,nj->ni", r, imp.samples.acc_mps2)
        m = (t >= first_walk[0] - 1.5) & (t < first_walk[0] + 2.0)
        vel_e = np.cumsum(acc_e[m, :2], axis=0).mean(axis=0) / imp.rate_hz
        vel_s = np.einsum("nji,j->ni", r[m], np.r_[vel_e, 0.0]).mean(axis=0)
        cos = vel_s @ al.r_sensor_pelvis[:, 0] / np.linalg.norm(vel_s)
        assert cos > 0.8, (trial, cos)


def test_gaps_do_not_break_the_pipeline_and_are_kept(shared_data):
    imp = read_imu_csv(shared_data / "ipol-dev" / "3-3" / "imu.csv")
    assert imp.samples.gap_before.sum() > 100
    res = analyze_samples(imp.samples, imp.rate_hz)
    assert np.array_equal(res.gap_before, imp.samples.gap_before)
    assert np.isfinite(res.quat_wxyz).all()
