"""The accelerometer offset learnt from quiet postures (imu.fusion.acc_offset)."""

from __future__ import annotations

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.fusion import FusionSettings
from imu.fusion.acc_offset import AccOffsetEstimator, frame_correction_quat
from imu.fusion.filter import OrientationFilter
from imu.fusion.quiet_bias import MAGNITUDE_NOISE_MG, OFFSET_PRIOR_MG, BiasEstimate
from imu.pipeline import PipelineSettings, analyze_samples
from imu.rotation import quat_to_matrix

G = GRAVITY_MPS2
MG = G / 1000.0
SHRINK = OFFSET_PRIOR_MG ** 2 / (OFFSET_PRIOR_MG ** 2 + MAGNITUDE_NOISE_MG ** 2)


def _spell(acc: np.ndarray, spell_s: float = 3.0) -> BiasEstimate:
    return BiasEstimate(np.zeros(3), 0.01, spell_s, np.asarray(acc, dtype=float))


def test_lying_reveals_the_offset_across_standing_gravity() -> None:
    b = np.array([30.0, -20.0, 10.0]) * MG  # sensor frame; standing up = +z, supine up = +x
    est = AccOffsetEstimator()
    standing = np.array([0.0, 0.0, G]) + b
    assert not est.update(_spell(standing))
    # |acc| - g along the measured up: b_z, plus (b_x^2 + b_y^2) / 2g.
    along = SHRINK * (np.linalg.norm(standing) - G)
    assert est.offset_mps2 == pytest.approx(along * standing / np.linalg.norm(standing), abs=1e-9)
    assert est.frame_quat() is None
    assert est.update(_spell([G, 0.0, 0.0] + b))
    # Only the share along the supine gravity (x) is seen; y stays at the prior's 0.
    expected = SHRINK * (np.linalg.norm([G, 0, 0] + b) - G)
    # (Perpendicular to the measured standing up, which b tilts by 3 mrad.)
    assert est.perp_mps2 == pytest.approx([expected, 0.0, 0.0], abs=1.0 * MG)
    assert est.along_mps2 == along
    first = est.perp_mps2.copy()
    # Later windows of the same spell replace its observation instead of adding to it.
    for s in (3.5, 4.0, 4.5):
        est.update(_spell([G, 0.0, 0.0] + b, s))
    assert np.array_equal(est.perp_mps2, first)
    # A second spell in the posture adds its evidence: the estimate moves towards b_x.
    est.update(_spell([G, 0.0, 0.0] + b, 3.0))
    assert first[0] + 0.5 * MG < est.perp_mps2[0] < b[0]


def test_postures_near_the_reference_do_not_measure_across_it() -> None:
    est = AccOffsetEstimator()
    est.update(_spell([0.0, 0.0, G]))
    tilted = G * np.array([np.sin(np.radians(20)), 0.0, np.cos(np.radians(20))])
    assert not est.update(_spell(tilted + [0.5, 0.0, 0.0]))  # 20 deg: a lunge held still
    assert not est.perp_mps2.any()
    assert not est.update(_spell(G * np.array([1.0, 0.0, 0.0]), 3.0), perpendicular=False)


def test_frame_correction_turns_the_measured_up_into_the_corrected_one() -> None:
    ref = np.array([0.3, -0.2, G])
    perp = np.array([0.25, 0.1, 0.0])
    r = quat_to_matrix(frame_correction_quat(ref, perp))
    u_meas = ref / np.linalg.norm(ref)
    u_true = (ref - perp) / np.linalg.norm(ref - perp)
    assert r @ u_meas == pytest.approx(u_true, abs=1e-12)
    assert frame_correction_quat(ref, np.zeros(3)) == pytest.approx([1, 0, 0, 0])


BRIDGES = """
[[segment]]
type = "bridge"
sets = 2
reps = 3
rest_between_sets_s = 8

[[segment]]
type = "stand"
duration_s = 5
"""


@pytest.fixture(scope="module")
def bridges():
    """Seed 27's device has a -54 mg offset along the pelvis's antero-posterior axis:
    lying supine, that is along gravity, a tilt error of about 3 deg if left in."""
    sim = pytest.importorskip("imu.simulate.session")
    script_module = pytest.importorskip("imu.simulate.script")
    script = script_module.parse_text(script_module.CALIBRATION_TOML + BRIDGES, source="test")
    res = sim.simulate(script, seed=27)
    offset = np.asarray(res.truth.events["mounting"]) @ np.asarray(
        res.truth.info["device_errors"]["acc_bias_mps2"]) / MG
    assert offset[0] < -40.0, "the test needs a device with a large antero-posterior offset"
    return res


def test_the_supine_tilt_error_goes_once_lying_still_revealed_the_offset(bridges) -> None:
    res = bridges
    truth = res.truth
    sets = [s for s in truth.events["segments"] if s["type"] == "set"]
    in_last_set = (truth.time_s > sets[-1]["start_s"]) & (truth.time_s < sets[-1]["end_s"])
    before = truth.time_s < sets[0]["start_s"]
    standing_after = truth.time_s > truth.time_s[-1] - 3.0
    an = {on: analyze_samples(res.block, res.rate_hz, PipelineSettings(
        fusion=FusionSettings(vqf_posture_acc_offset=on))) for on in (True, False)}
    err = {on: a.tilt_deg - truth.tilt_deg for on, a in an.items()}
    # Nothing changes until a quiet spell lying down: the calibration is the same.
    assert np.array_equal(an[True].tilt_deg[before], an[False].tilt_deg[before], equal_nan=True)
    assert np.array_equal(an[True].alignment.r_sensor_pelvis, an[False].alignment.r_sensor_pelvis)
    # Measured: -4.4 deg without, -0.9 with (the rest is the accelerometer's scale error,
    # which |acc| cannot tell from an offset); standing afterwards still agrees with
    # the calibration.
    mean = {on: float(np.nanmean(e[in_last_set])) for on, e in err.items()}
    assert mean[False] < -3.0 and abs(mean[True]) < 0.35 * abs(mean[False]), mean
    assert abs(np.nanmean(err[True][standing_after])) < 0.5, np.nanmean(err[True][standing_after])


def test_the_offset_update_does_not_depend_on_the_block_split(bridges) -> None:
    block, rate = bridges.block, bridges.rate_hz
    f = OrientationFilter(FusionSettings(), rate)
    batch = f.update(block)
    assert f._adapter._frame_quat is not None, "the supine rest revealed the offset"
    rng = np.random.default_rng(4)
    bounds = [0, *sorted(set(rng.integers(1, len(block), size=80).tolist())), len(block)]
    g = OrientationFilter(FusionSettings(), rate)
    streamed = np.concatenate([g.update(block.slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])])
    assert np.array_equal(streamed, batch)
