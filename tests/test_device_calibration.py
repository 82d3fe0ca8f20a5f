"""The one-time accelerometer calibration of a device (imu.device_calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.cli.main import main
from imu.device_calibration import DeviceCalibration, fit_device_calibration, still_poses
from imu.errors import SettingsError
from imu.pipeline import PipelineSettings, analyze_samples
from imu.samples import SampleBlock

G = GRAVITY_MPS2
MG = G / 1000.0
FACES = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], float)


def test_six_faces_give_the_offsets_and_scales_exactly() -> None:
    b = np.array([30.0, -42.0, 12.0]) * MG
    s = np.array([1.006, 0.993, 1.002])
    cal = fit_device_calibration(s * G * FACES + b)
    assert cal.acc_offset_mps2 == pytest.approx(b, abs=1e-9)
    assert cal.acc_scale == pytest.approx(s, abs=1e-12)
    assert cal.apply(s * G * FACES + b) == pytest.approx(G * FACES, abs=1e-9)


def test_more_poses_are_fitted_in_the_least_squares_sense_with_their_residual() -> None:
    rng = np.random.default_rng(1)
    dirs = np.vstack((FACES, rng.normal(size=(6, 3))))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    b = np.array([-20.0, 15.0, 25.0]) * MG
    noise = rng.normal(scale=0.5 * MG, size=dirs.shape)
    cal = fit_device_calibration(G * dirs + b + noise)
    assert cal.poses == 12
    assert np.asarray(cal.acc_offset_mps2) == pytest.approx(b, abs=1.0 * MG)
    assert 0.1 < cal.residual_mg < 1.5


@pytest.mark.parametrize("poses, says", [
    (G * FACES[:5], "needs at least 6"),
    (G * np.vstack((FACES[:4], FACES[:2] * 0.9 + [0.3, 0.3, 0])), "+y"),
])
def test_poses_that_cannot_determine_the_calibration_are_refused(poses, says) -> None:
    with pytest.raises(SettingsError, match=r"(?s)" + says.replace("+", r"\+") + ".*faces"):
        fit_device_calibration(poses)


def test_implausible_values_are_refused_when_loading(tmp_path) -> None:
    f = tmp_path / "device.toml"
    f.write_text("acc_offset_mps2 = [5.0, 0, 0]\nacc_scale = [1, 1, 1]\n")
    with pytest.raises(SettingsError, match="300 mg"):
        DeviceCalibration.load(f)
    f.write_text("acc_offset = [0, 0, 0]\n")
    with pytest.raises(SettingsError, match="acc_offset_mps2"):
        DeviceCalibration.load(f)
    with pytest.raises(SettingsError, match="Cannot read"):
        DeviceCalibration.load(tmp_path / "missing.toml")


def test_the_calibration_round_trips_through_its_file_and_the_pipeline_settings(tmp_path) -> None:
    cal = DeviceCalibration((0.1, -0.2, 0.3), (1.01, 0.99, 1.0), 6, 0.0)
    f = tmp_path / "device.toml"
    f.write_text(cal.to_toml())
    assert DeviceCalibration.load(f) == cal
    settings = PipelineSettings(device=cal)
    assert PipelineSettings.from_dict(settings.to_dict()) == settings
    assert PipelineSettings.from_dict(PipelineSettings().to_dict()).device is None


def test_still_poses_survive_lost_packets_and_ignore_the_turns() -> None:
    faces = pytest.importorskip("imu.simulate.device_faces")
    res = faces.simulate_device_faces(27)  # a device with a 64 mg offset; packets lost
    assert res.block.gap_before.any()
    poses = still_poses(res.block, res.rate_hz)
    assert len(poses) == 6
    cal = fit_device_calibration(poses)
    true_b = np.asarray(res.truth.info["device_errors"]["acc_bias_mps2"])
    # Measured: within 0.5 mg (cross-axis errors, which the axis-aligned fit leaves).
    assert np.asarray(cal.acc_offset_mps2) == pytest.approx(true_b, abs=2.0 * MG)


def test_a_calibrated_device_reads_true_lying_down(tmp_path, capsys) -> None:
    """The user's path: record the six faces, calibrate-device, analyze with the file.
    Seed 3's device has a -38 mg medio-lateral offset, which no posture of the rehab
    session reveals: 1.45 deg obliquity RMSE uncalibrated."""
    faces = pytest.importorskip("imu.simulate.device_faces")
    from imu.cli.simulate import write_recording

    rec = tmp_path / "faces.pmrec"
    write_recording(faces.simulate_device_faces(3), rec)
    out = tmp_path / "device.toml"
    assert main(["calibrate-device", str(rec), "-o", str(out)]) == 0
    assert "6 still poses" in capsys.readouterr().out
    cal = DeviceCalibration.load(out)

    from bench.simulated_accuracy import score
    from imu.simulate.session import simulate
    res = simulate("postpartum-rehab-session", seed=3, mounting="random", duration_scale=0.5)
    plain = score(res, analyze_samples(res.block, res.rate_hz))
    calibrated = score(res, analyze_samples(res.block, res.rate_hz, PipelineSettings(device=cal)))
    assert plain.all_deg["obliquity"] > 1.0
    assert calibrated.all_deg["obliquity"] < 0.5 * plain.all_deg["obliquity"], (plain, calibrated)
    assert calibrated.all_deg["tilt"] < 1.0


def test_a_still_recording_is_refused_with_what_to_do(tmp_path) -> None:
    n = 2000
    block = SampleBlock(np.arange(n) / 200.0, np.tile([0.0, 0.0, G], (n, 1)), np.zeros((n, 3)))
    with pytest.raises(SettingsError, match="Found 1 still poses"):
        fit_device_calibration(still_poses(block, 200.0))
