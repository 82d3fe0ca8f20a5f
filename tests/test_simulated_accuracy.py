"""The core pipeline against the simulator's ground truth: issue 3's accuracy target.

Target: tilt and obliquity within 1.0 deg RMSE and rotation within 2.0 deg RMSE of the
truth, over every sample that has angles, with a random sensor mounting and the
"typical" MEMS and BLE-link errors (imu.simulate.sensor_errors). Checked here on every
preset at full length for two devices (seeds); `python -m bench.simulated_accuracy`
runs more seeds and prints the figures (docs/fusion.md, "Accuracy on simulated
sessions").

What the target does not cover, measured and explained in docs/fusion.md: a device whose
accelerometer offset along the pelvis' medio-lateral axis is large (about 2 sigma of
the 20 mg typical, 1 device in 5 exceeds 25 mg) shows it as obliquity error of offset / g
while lying supine, since no posture of these sessions turns that axis out of the
horizontal; `test_supine_obliquity_error_is_the_accelerometer_offset` pins that down.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.simulated_accuracy import TARGET_DEG, score, session_errors
from imu import GRAVITY_MPS2
from imu.pipeline import analyze_samples

simulate = pytest.importorskip("imu.simulate.session").simulate

PRESETS = ["walk-basic", "run-asymmetric", "lunges-unstable", "postpartum-rehab-session",
           "run-no-calibration"]
SEEDS = [11, 14]


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("seed", SEEDS)
def test_pipeline_meets_the_issue_target_on_simulated_sessions(preset, seed):
    e = session_errors(preset, seed)
    # Measured (seeds 11, 14): tilt 0.26-0.77, obliquity 0.23-0.64, rotation 0.05-0.22 deg.
    for angle in ("tilt", "obliquity", "rotation"):
        assert e.all_deg[angle] < TARGET_DEG[angle], (angle, e)
        assert e.steady_deg[angle] <= e.all_deg[angle] + 0.05, (angle, e)
    assert e.steady_fraction > 0.75
    if preset == "run-no-calibration":
        assert e.calibration == "gait-running"


def test_supine_obliquity_error_is_the_accelerometer_offset():
    """Seed 3's device has a -38.5 mg offset along the medio-lateral axis. Standing, it is
    taken in by the calibration; supine, it reads as obliquity of about -offset / g, and
    nowhere else. Without that offset the same session meets the target."""
    res = simulate("postpartum-rehab-session", seed=3, mounting="random")
    offset = np.asarray(res.truth.events["mounting"]) @ np.asarray(
        res.truth.info["device_errors"]["acc_bias_mps2"])  # pelvis frame
    expected_deg = -np.degrees(offset[1] / GRAVITY_MPS2)
    assert expected_deg > 2.0, "the test needs a device with a large medio-lateral offset"
    an = analyze_samples(res.block, res.rate_hz)
    err = an.obliquity_deg - res.truth.obliquity_deg
    supine = res.truth.tilt_deg < -60.0
    ok = np.isfinite(err)
    # Measured: 2.8 deg supine for 2.2 expected (the bridge tilts the pelvis past 90 deg).
    assert 0.8 * expected_deg < np.mean(err[supine & ok]) < 1.5 * expected_deg
    assert abs(np.mean(err[~supine & ok])) < 0.3

    no_offset = replace(res.errors, acc_bias_mg=0.0)  # the same device otherwise
    clean = simulate("postpartum-rehab-session", seed=3, mounting="random", errors=no_offset)
    e = score(clean, analyze_samples(clean.block, clean.rate_hz))
    assert all(e.all_deg[a] < TARGET_DEG[a] for a in TARGET_DEG), e
