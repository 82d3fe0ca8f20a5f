"""MEMS and link errors: noise, bias, saturation, quantisation, clock, jitter, lost packets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.samples import detect_gaps
from imu.simulate import Motion, SensorSettings, simulate_motion
from imu.simulate.sensor_errors import SensorErrorModel, packet_keep_mask

NONE = SensorErrorModel.preset("none")
TYPICAL = SensorErrorModel.preset("typical")


def _still(seconds: float = 60.0) -> Motion:
    n = int(seconds * 1000) + 1
    return Motion.from_arrays(1000.0, np.zeros(n), 0.0, 0.0)


def _sim(motion: Motion, errors: SensorErrorModel, seed: int = 0, **kw):
    return simulate_motion(motion, SensorSettings(mounting="upright", errors=errors, **kw), seed)


def test_white_noise_level_follows_the_density():
    model = replace(NONE, acc_noise_ug_per_rthz=160.0, gyr_noise_mdps_per_rthz=7.0)
    res = _sim(_still(), model)
    sd_acc = res.block.acc_mps2.std(axis=0)
    sd_gyr = np.degrees(res.block.gyr_rps.std(axis=0))
    bw = np.sqrt(200.0 / 2)
    assert np.allclose(sd_acc, 160e-6 * GRAVITY_MPS2 * bw, rtol=0.05)
    assert np.allclose(sd_gyr, 7e-3 * bw, rtol=0.05)


def test_bias_scale_and_cross_axis_are_drawn_per_device_and_reported():
    model = replace(NONE, acc_bias_mg=20, gyr_bias_dps=0.5, acc_scale_error_pct=0.5,
                    acc_cross_axis_pct=0.5)
    res = _sim(_still(5.0), model, seed=4)
    d = res.synthesis.drawn
    assert np.allclose(res.block.gyr_rps.mean(axis=0), d.gyr_bias_rps, atol=1e-12)
    expected = d.acc_matrix @ np.array([0.0, 0.0, GRAVITY_MPS2]) + d.acc_bias_mps2
    assert np.allclose(res.block.acc_mps2.mean(axis=0), expected, atol=1e-9)
    assert res.truth.info["device_errors"]["acc_bias_mps2"] == pytest.approx(
        d.acc_bias_mps2.tolist(), abs=1e-8)
    other = _sim(_still(5.0), model, seed=5).synthesis.drawn
    assert not np.allclose(other.gyr_bias_rps, d.gyr_bias_rps)


def test_saturation_at_the_range():
    n = 3001
    t = np.arange(n) / 1000.0
    heading = 0.5 * 80.0 * np.clip(t - 0.5, 0, None) ** 2   # spins up past 2000 deg/s
    z = 0.95 + 0.5 * 300.0 * np.clip(t - 1.0, 0, None) ** 2  # ~30 g upwards
    pos = np.stack([np.zeros(n), np.zeros(n), z], axis=1)
    motion = Motion.from_arrays(1000.0, np.zeros(n), 0.0, heading, pos)
    model = replace(NONE, quantize=True)
    res = _sim(motion, model)
    acc_max = model.acc_lsb_mps2 * 32767
    gyr_max = model.gyr_lsb_rps * 32767
    assert res.block.acc_mps2[:, 2].max() == pytest.approx(acc_max)
    assert res.block.gyr_rps[:, 2].max() == pytest.approx(gyr_max)
    assert np.degrees(gyr_max) == pytest.approx(2000.0, rel=1e-3)
    assert acc_max / GRAVITY_MPS2 == pytest.approx(16.0, rel=1e-3)
    assert res.truth.info["n_samples_clipped"] > 0


def test_quantisation_to_int16_counts():
    model = replace(NONE, quantize=True, acc_noise_ug_per_rthz=160.0, gyr_noise_mdps_per_rthz=7.0)
    res = _sim(_still(2.0), model)
    for x, lsb in ((res.block.acc_mps2, model.acc_lsb_mps2),
                   (res.block.gyr_rps, model.gyr_lsb_rps)):
        counts = x / lsb
        assert np.allclose(counts, np.round(counts), atol=1e-6)
        assert np.abs(counts).max() <= 32768


def test_lost_packets_leave_visible_gaps():
    model = replace(NONE, packet_loss_fraction=0.02, loss_burst_packets=3.0)
    res = _sim(_still(120.0), model, seed=9, packet_samples=6)
    b = res.block
    assert np.all(np.diff(b.seq) >= 1)
    jumps = np.flatnonzero(np.diff(b.seq) > 1) + 1
    assert np.array_equal(np.flatnonzero(b.gap_before), jumps)
    assert len(jumps) > 10
    # Whole packets are lost: every gap starts and ends on a packet boundary.
    assert np.all(b.seq[jumps] % 6 == 0)
    assert np.all((b.seq[jumps - 1] + 1) % 6 == 0)
    lost = 1 - len(b) / res.synthesis.n_taken
    assert 0.01 < lost < 0.035
    # The product's own gap detection finds exactly these gaps.
    assert np.array_equal(detect_gaps(b.time_s, 200.0, b.seq), b.gap_before)
    # And the truth follows the delivered samples.
    assert len(res.truth.tilt_deg) == len(b)


def test_outage_removes_the_given_span():
    model = replace(NONE, outages=((10.0, 2.0),))
    b = _sim(_still(20.0), model).block
    gaps = b.gaps()
    assert len(gaps) == 1
    assert gaps[0].start_s == pytest.approx(10.0 - 0.005, abs=1e-9)
    assert gaps[0].end_s == pytest.approx(12.0, abs=1e-9)


def test_clock_drift_and_jitter_in_the_reported_times():
    model = replace(NONE, clock_drift_ppm=80.0, timestamp_jitter_us=100.0)
    res = _sim(_still(100.0), model)
    t, true_t = res.block.time_s, res.synthesis.true_time_s
    assert np.all(np.diff(t) > 0)
    slope = np.polyfit(true_t, t, 1)[0]
    assert slope == pytest.approx(1 + 80e-6, abs=2e-6)
    resid = t - true_t * (1 + 80e-6)
    assert resid.std() == pytest.approx(100e-6, rel=0.1)
    # The device takes more samples than nominal in the same true time (its clock is fast).
    assert res.synthesis.n_taken == int(np.floor(100.0 * (1 + 80e-6) * 200.0 + 1e-9)) + 1


def test_first_packet_is_never_lost():
    keep = packet_keep_mask(600, 6, replace(NONE, packet_loss_fraction=0.4,
                                           loss_burst_packets=50.0),
                            np.random.default_rng(1), np.arange(600) / 200.0)
    assert keep[:6].all()


def test_typical_preset_matches_datasheet_class_figures():
    assert TYPICAL.acc_range_g == 16 and TYPICAL.gyr_range_dps == 2000
    assert 70 <= TYPICAL.acc_noise_ug_per_rthz <= 200
    assert 2.8 <= TYPICAL.gyr_noise_mdps_per_rthz <= 10
    with pytest.raises(Exception, match="Unknown sensor error preset"):
        SensorErrorModel.preset("perfect")
