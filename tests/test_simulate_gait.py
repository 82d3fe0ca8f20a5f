"""Walking and running: truth events, per-stance CPD, cadence, speed, impacts, turns, joins."""

from __future__ import annotations

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.simulate import FINE_RATE_HZ, parse_text, simulate
from imu.simulate.gait import GaitParams, Turn, generate_gait
from imu.simulate.motion import MotionError


def _gait(mode: str, seed: int = 1, **kw):
    p = GaitParams.for_mode(mode, **kw)
    return p, generate_gait(p, np.random.default_rng(seed), FINE_RATE_HZ)


def _session(mode: str, variability: str, seconds: float = 60.0):
    return simulate(parse_text(f"""
name = "cpd"
seed = 3
[sensor]
errors = "none"
mounting = "random"
[[segment]]
type = "stand"
duration_s = 2
[[segment]]
type = "{mode}"
duration_s = {seconds}
cpd_left_deg = 4
cpd_right_deg = 9
variability = "{variability}"
"""))


def _steady(strides, side):
    return np.array([s["contralateral_drop_deg"] for s in strides
                     if s["side"] == side and s["phase"] == "steady"])


@pytest.mark.parametrize("mode", ["walk", "run"])
def test_cpd_truth_equals_the_set_drop_without_variability(mode):
    # Robotic gait: the drop curve peaks at exactly the set value inside each stance, so the
    # truth (max over IC..TO of the obliquity on the fine grid) equals it to rounding.
    strides = _session(mode, "robotic").truth.strides
    left, right = _steady(strides, "left"), _steady(strides, "right")
    assert len(left) > 20 and len(right) > 20
    assert np.allclose(left, 4.0, atol=1e-3)
    assert np.allclose(right, 9.0, atol=1e-3)
    # Obliquity is level at IC: the excursion is the whole drop.
    exc = np.array([s["drop_excursion_deg"] for s in strides if s["phase"] == "steady"])
    cpd = np.array([s["contralateral_drop_deg"] for s in strides if s["phase"] == "steady"])
    assert np.allclose(exc, cpd, atol=1e-3)


@pytest.mark.parametrize("mode", ["walk", "run"])
def test_cpd_truth_matches_the_set_drop_with_healthy_variability(mode):
    # Per stance the drop varies by amplitude_cv (7 %) plus 0.3 deg of smooth noise, whose
    # maximum near the peak biases the truth up by ~0.1-0.2 deg. With > 40 stances per side
    # the mean sits within 0.4 deg of the setting (standard error ~0.1 deg).
    strides = _session(mode, "healthy", seconds=90).truth.strides
    left, right = _steady(strides, "left"), _steady(strides, "right")
    assert len(left) > 40 and len(right) > 40
    assert abs(left.mean() - 4.0) < 0.4
    assert abs(right.mean() - 9.0) < 0.4
    assert 0.2 < right.std() < 1.5   # it does vary, as set


@pytest.mark.parametrize("mode,cadence,speed", [("walk", 108.0, 1.3), ("run", 172.0, 3.4)])
def test_cadence_and_speed_as_set(mode, cadence, speed):
    p, piece = _gait(mode, duration_s=60, cadence_spm=cadence, speed_mps=speed,
                     variability="robotic")
    ic = np.array([e.time_s for e in piece.events if e.kind == "ic"])
    steady = ic[(ic > p.start_s + 2) & (ic < p.duration_s - p.stop_s - 2)]
    assert 60.0 / np.diff(steady).mean() == pytest.approx(cadence, rel=1e-3)
    i0, i1 = int(20 * FINE_RATE_HZ), int(40 * FINE_RATE_HZ)
    dist = np.linalg.norm(piece.pos_m[i1, :2] - piece.pos_m[i0, :2])
    assert dist / 20.0 == pytest.approx(speed, rel=0.01)


def test_default_cadences_are_in_published_ranges():
    for mode, lo, hi in (("walk", 100, 120), ("run", 160, 185)):
        _, piece = _gait(mode, duration_s=40)
        ic = np.array([e.time_s for e in piece.events if e.kind == "ic"])
        cad = 60.0 / np.median(np.diff(ic))
        assert lo <= cad <= hi


@pytest.mark.parametrize("mode", ["walk", "run"])
def test_event_order(mode):
    p, piece = _gait(mode, duration_s=40)
    ics = [e for e in piece.events if e.kind == "ic"]
    sides = [e.side for e in ics]
    assert all(a != b for a, b in zip(sides, sides[1:])), "IC sides must alternate"
    tos = [e for e in piece.events if e.kind == "to"]
    assert all(a.side != b.side for a, b in zip(tos, tos[1:])), "TO sides must alternate"
    for st in piece.stances:
        assert st.ic_time_s < st.to_time_s < st.next_ic_time_s
        stance = st.to_time_s - st.ic_time_s
        stride = st.next_ic_time_s - st.ic_time_s
        assert stance < stride
        if mode == "walk":
            assert stance / stride == pytest.approx(0.6, abs=0.03)   # double support
        else:
            assert stance / stride == pytest.approx(0.36, abs=0.03)  # flight phases
        # Each stance ends with the TO of its own foot, before that foot's next IC.
        to_same = [e.time_s for e in tos if e.side == st.side
                   and st.ic_time_s < e.time_s < st.next_ic_time_s]
        assert to_same == [pytest.approx(st.to_time_s)]


def _vertical_specific_force_g(piece):
    z = piece.pos_m[:, 2]
    az = np.zeros_like(z)
    az[1:-1] = (z[2:] - 2 * z[1:-1] + z[:-2]) * FINE_RATE_HZ ** 2
    return (az + GRAVITY_MPS2) / GRAVITY_MPS2


def test_running_has_impacts_and_flight_walking_does_not():
    p, run = _gait("run", duration_s=30, variability="robotic")
    f = _vertical_specific_force_g(run)
    ic = [e.time_s for e in run.events if e.kind == "ic" and 8 < e.time_s < 22]
    for t in ic:
        i = int(t * FINE_RATE_HZ)
        assert f[i:i + 40].max() > 2.3, "a sharp impact of several g after IC"
    to = [e.time_s for e in run.events if e.kind == "to" and 8 < e.time_s < 22]
    for t in to:
        i = int((t + 0.03) * FINE_RATE_HZ)
        assert abs(f[i]) < 0.3, "near free fall during flight"
    z = run.pos_m[int(10 * FINE_RATE_HZ):int(20 * FINE_RATE_HZ), 2]
    assert 0.05 < np.ptp(z) < 0.11            # running vertical oscillation, m
    _, walk = _gait("walk", duration_s=30, variability="robotic")
    fw = _vertical_specific_force_g(walk)[int(8 * FINE_RATE_HZ):int(22 * FINE_RATE_HZ)]
    assert 1.2 < fw.max() < 2.0 and fw.min() > 0.5
    zw = walk.pos_m[int(10 * FINE_RATE_HZ):int(20 * FINE_RATE_HZ), 2]
    assert 0.03 < np.ptp(zw) < 0.06           # walking vertical excursion, m


def test_published_walking_ranges_by_default():
    _, walk = _gait("walk", duration_s=40, variability="robotic")
    sl = slice(int(10 * FINE_RATE_HZ), int(30 * FINE_RATE_HZ))
    obl = np.degrees(np.ptp(walk.obliquity_rad[sl]))
    tilt = np.degrees(np.ptp(walk.tilt_rad[sl]))
    assert 5.0 <= obl <= 10.0 and 2.0 <= tilt <= 5.0
    rot = np.degrees(walk.heading_rad[sl] - np.mean(walk.heading_rad[sl]))
    assert 6.0 <= np.ptp(rot) <= 12.0


def test_gait_starts_and_ends_at_rest():
    p, piece = _gait("run", duration_s=20)
    v = np.diff(piece.pos_m, axis=0) * FINE_RATE_HZ
    assert np.linalg.norm(v[0]) < 1e-6 and np.linalg.norm(v[-1]) < 1e-6
    # Accelerating from rest over start_s: well below cruising speed half-way through the ramp.
    half = int(p.start_s / 2 * FINE_RATE_HZ)
    assert np.linalg.norm(v[half, :2]) < 0.7 * p.speed_mps
    assert piece.tilt_rad[-1] == pytest.approx(0.0, abs=1e-12)
    assert piece.obliquity_rad[-1] == pytest.approx(0.0, abs=1e-12)


def test_u_turn_and_treadmill():
    _, piece = _gait("walk", duration_s=30, turns=(Turn(at_s=10, angle_deg=180),))
    assert np.degrees(piece.heading_rad[-1]) == pytest.approx(180.0, abs=1e-6)
    assert any(s.phase == "turn" for s in piece.stances)
    _, tm = _gait("run", duration_s=30, treadmill=True)
    assert np.abs(tm.pos_m[:, :2]).max() < 0.3   # the belt carries the runner
    with pytest.raises(MotionError, match="treadmill"):
        _gait("run", duration_s=30, treadmill=True, turn_every_s=10)


def test_bad_gait_settings_are_refused():
    with pytest.raises(MotionError, match="duration_s"):
        _gait("run", duration_s=3)
    with pytest.raises(MotionError, match="duty_factor"):
        _gait("run", duty_factor=0.6)
    with pytest.raises(MotionError, match="mode"):
        GaitParams.for_mode("skip")


def test_segments_join_without_jumps():
    res = simulate(parse_text("""
name = "joins"
[[segment]]
type = "stand"
duration_s = 3
[[segment]]
type = "walk"
duration_s = 12
[[segment]]
type = "run"
duration_s = 12
[[segment]]
type = "bridge"
reps = 2
side = "right"
[[segment]]
type = "hip_hike"
reps = 2
side = "left"
"""), errors="none")
    m = res.motion
    h = 1.0 / m.rate_hz
    acc = (m.pos_m[2:] - 2 * m.pos_m[1:-1] + m.pos_m[:-2]) / h ** 2
    ang = np.stack([m.tilt_rad, m.obliquity_rad, m.heading_rad], axis=1)
    rate = np.diff(ang, axis=0) / h
    for seg in m.segments[1:]:
        i = int(round(seg.start_s * m.rate_hz))
        # Across each join: no step in position, angle, angular rate or acceleration.
        assert np.abs(np.diff(ang[i - 3:i + 3], axis=0)).max() < 1e-4
        assert np.abs(np.diff(rate[i - 3:i + 3], axis=0)).max() < 1e-2
        assert np.abs(np.diff(acc[i - 4:i + 2], axis=0)).max() < 0.05


def test_runner_leans_into_a_turn():
    _, piece = _gait("run", duration_s=30, variability="robotic",
                     turns=(Turn(at_s=10, angle_deg=180),))   # left U-turn
    t = np.arange(piece.n) / FINE_RATE_HZ
    during = (t > 11.0) & (t < 11.5)
    assert np.degrees(piece.obliquity_rad[during]).mean() > 10.0   # left side down
    _, flat = _gait("run", duration_s=30, variability="robotic",
                    turns=(Turn(at_s=10, angle_deg=180),), turn_lean_fraction=0.0)
    assert abs(np.degrees(flat.obliquity_rad[during]).mean()) < 6.0
