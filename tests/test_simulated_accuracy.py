"""The core pipeline against the simulator's ground truth (random mounting, typical MEMS errors).

A regression guard at today's measured accuracy, NOT yet the product target of issue 3
(tilt and obliquity within 1.0 deg RMSE everywhere): steady running still shows about
1.6 deg tilt RMSE, also with a perfect sensor (a fusion effect under running dynamics),
and large postures far from standing (bridges) show up to ~1.6 deg from the uncorrected
accelerometer bias. Measured figures per session are printed by `session_errors`.

Figures are RMSE over every sample that has angles, and over the steady part: without
the seconds around 180-degree turns and after a stop from running, where the sustained
horizontal acceleration cannot be told from tilt by any 6D filter (the accelerometer
sees gravity plus centripetal or braking acceleration).
"""

from __future__ import annotations

import numpy as np
import pytest

from imu.angles import decompose
from imu.pipeline import analyze_samples
from imu.rotation import quat_to_matrix

simulate = pytest.importorskip("imu.simulate.session").simulate

# Turn windows: the pelvis heading changing faster than this, averaged over 1 s.
TURN_RATE_DPS = 25.0
TURN_MARGIN_S = 3.0  # the accelerometer correction's time constant
STOP_MARGIN_S = 5.0


def _steady_mask(result, time_s: np.ndarray) -> np.ndarray:
    truth = result.truth
    r_ps = np.asarray(truth.events["mounting"])  # R_pelvis_sensor
    r_ep = quat_to_matrix(truth.quat_earth_sensor) @ r_ps.T
    heading = np.unwrap(decompose(r_ep)[2])
    rate = np.gradient(np.degrees(heading), time_s)
    k = max(1, int(round(result.rate_hz)))
    smooth = np.convolve(rate, np.ones(k) / k, mode="same")
    bad = np.abs(smooth) > TURN_RATE_DPS
    steady = np.ones(time_s.size, bool)
    idx = np.flatnonzero(bad)
    if idx.size:
        edges = np.flatnonzero(np.diff(idx) > 1)
        starts = np.r_[idx[0], idx[edges + 1]]
        ends = np.r_[idx[edges], idx[-1]]
        for a, b in zip(starts, ends):
            steady &= ~((time_s > time_s[a] - TURN_MARGIN_S) & (time_s < time_s[b] + TURN_MARGIN_S))
    segs = truth.events["segments"]
    for prev, cur in zip(segs[:-1], segs[1:]):
        if prev["type"] == "run" and cur["type"] == "stand":
            steady &= ~((time_s >= cur["start_s"] - 1.0) & (time_s < cur["start_s"] + STOP_MARGIN_S))
    return steady


def _rmse(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a[m] - b[m]) ** 2)))


def session_errors(preset: str, seed: int, duration_scale: float) -> dict:
    """RMSE (deg) of the pipeline against truth for one simulated session."""
    res = simulate(preset, seed=seed, duration_scale=duration_scale, mounting="random")
    an = analyze_samples(res.block, res.rate_hz)
    assert an.alignment is not None, an.message
    t = an.time_s
    has = np.isfinite(an.tilt_deg)
    steady = has & _steady_mask(res, t)
    tr = res.truth
    out = {"calibration": an.alignment.anterior_method, "steady_fraction": steady.sum() / has.sum()}
    for name in ("tilt", "obliquity", "rotation"):
        est, true = getattr(an, f"{name}_deg"), getattr(tr, f"{name}_deg")
        out[f"{name}_all"] = _rmse(est, true, has)
        out[f"{name}_steady"] = _rmse(est, true, steady)
    return out


CASES = [
    ("postpartum-rehab-session", 11, 0.5),
    ("lunges-unstable", 12, 0.5),
    ("walk-basic", 13, 0.6),
    ("run-asymmetric", 14, 0.4),
    ("run-no-calibration", 15, 0.4),
]


@pytest.mark.parametrize("preset,seed,scale", CASES)
def test_pipeline_recovers_angles_of_simulated_sessions(preset, seed, scale):
    e = session_errors(preset, seed, scale)
    assert e["steady_fraction"] > 0.7
    # Measured over 2 seeds each: steady tilt 0.24-1.67, obliquity 0.12-1.21, rotation 0.09-0.67.
    assert e["tilt_steady"] < 2.0 and e["obliquity_steady"] < 1.5, e
    assert e["rotation_steady"] < 1.0, e
    # Whole session including turns and stops: bounded, rotation within target.
    assert e["tilt_all"] < 3.5 and e["obliquity_all"] < 2.0, e
    assert e["rotation_all"] < 2.0, e
    if preset == "run-no-calibration":
        assert e["calibration"] == "gait-running"
