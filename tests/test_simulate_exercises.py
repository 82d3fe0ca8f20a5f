"""Repetition exercises: reps as scripted, faults where asked, truth per rep, postures."""

from __future__ import annotations

import numpy as np
import pytest

from imu.simulate import FINE_RATE_HZ, parse_text, simulate
from imu.simulate.exercises import EXERCISES, ExerciseParams, generate_exercise
from imu.simulate.motion import MotionError


def _run(body: str, seed: int = 2):
    return simulate(parse_text(f'name = "ex"\nseed = {seed}\n[sensor]\nerrors = "none"\n' + body))


def test_reps_counted_as_scripted_with_sides_and_sets():
    res = _run("""
[[segment]]
type = "lunge"
sets = 3
reps = 10
side = "both"
rest_between_sets_s = 5
""")
    reps = res.truth.reps
    assert len(reps) == 60
    for s in (1, 2, 3):
        for side in ("right", "left"):
            sel = [r for r in reps if r["set"] == s and r["side"] == side]
            assert [r["rep"] for r in sel] == list(range(1, 11))
    for a, b in zip(reps, reps[1:]):
        assert a["start_time_s"] < a["turn_time_s"] < a["end_time_s"] <= b["start_time_s"]
    assert all(r["fault"] is None for r in reps)


def test_alternating_sides():
    res = _run('[[segment]]\ntype = "kickback"\nreps = 6\nside = "alternate"\n')
    assert [r["side"] for r in res.truth.reps] == ["right", "left"] * 3


def test_faults_follow_side_and_fatigue_settings_and_show_in_the_truth():
    res = _run("""
[[segment]]
type = "single_leg_squat"
sets = 1
reps = 8
side = "both"
faults = ["drop"]
fault_deg = 8
fault_sides = "left"
fault_from_rep = 5
""")
    reps = res.truth.reps
    for r in reps:
        faulty = r["side"] == "left" and r["rep"] >= 5
        assert (r["fault"] == "drop") == faulty
        if r["side"] == "left":
            # Left working leg: the right side drops -> obliquity goes negative.
            if faulty:
                assert r["obliquity_peak_dev_deg"] < -7.0
            else:
                assert abs(r["obliquity_peak_dev_deg"]) < 3.5
        else:
            assert abs(r["obliquity_peak_dev_deg"]) < 3.5


@pytest.mark.parametrize("fault,channel,sign", [("hike", "obliquity", -1),
                                                ("rotate", "rotation", -1),
                                                ("arch", "tilt", +1), ("tuck", "tilt", -1)])
def test_each_fault_moves_the_expected_angle(fault, channel, sign):
    body = f"""
[[segment]]
type = "kickback"
reps = 2
side = "right"
faults = ["{fault}"]
fault_deg = 10
"""
    good = _run(body.replace(f'faults = ["{fault}"]', "faults = []")).truth.reps
    bad = _run(body).truth.reps
    diff = np.mean([b[f"{channel}_peak_dev_deg"] - g[f"{channel}_peak_dev_deg"]
                    for b, g in zip(bad, good)])
    assert sign * diff > 7.0


def test_wobble_shakes_the_pelvis():
    body = '[[segment]]\ntype = "single_leg_squat"\nreps = 4\nside = "right"\n'
    good = _run(body).truth.reps
    bad = _run(body + 'faults = ["wobble"]\nfault_deg = 8\n').truth.reps
    assert np.mean([r["obliquity_rom_deg"] for r in bad]) > \
        np.mean([r["obliquity_rom_deg"] for r in good]) + 4.0


def test_bridge_is_done_lying_on_the_back():
    res = _run('[[segment]]\ntype = "bridge"\nreps = 3\nside = "right"\ndepth_m = 0.25\n')
    seg = {s["type"]: s for s in res.truth.events["segments"]}
    assert "transition" in seg
    rep = res.truth.reps[0]
    t = res.truth.time_s
    tilt = res.truth.tilt_deg
    at_start = tilt[np.searchsorted(t, rep["start_time_s"])]
    at_turn = tilt[np.searchsorted(t, rep["turn_time_s"])]
    assert at_start == pytest.approx(-90.0, abs=2.0)        # supine
    assert at_turn == pytest.approx(-115.0, abs=4.0)        # hips up
    assert rep["tilt_peak_dev_deg"] == pytest.approx(-25.0, abs=4.0)


def test_kickback_on_hands_and_knees_and_hike_on_a_step():
    res = _run('[[segment]]\ntype = "kickback"\nreps = 2\nside = "right"\n'
               '[[segment]]\ntype = "hip_hike"\nreps = 2\nside = "right"\ndepth_deg = 10\n')
    kick, hike = res.truth.reps[0], res.truth.reps[2]
    t = res.truth.time_s
    assert res.truth.tilt_deg[np.searchsorted(t, kick["start_time_s"])] == pytest.approx(90, abs=2)
    # Hip hike, right leg on the step: the free (left) side drops by ~depth, then hikes.
    assert hike["obliquity_peak_dev_deg"] == pytest.approx(10.0, abs=2.0)
    assert hike["obliquity_rom_deg"] > 15.0
    z = res.motion.pos_m[:, 2]
    i = int(np.searchsorted(np.arange(res.motion.n) / FINE_RATE_HZ,
                            hike["start_time_s"] / res.synthesis.device_time_scale))
    assert z[i] > 1.05   # standing on the step


def test_single_leg_stance_trendelenburg():
    res = _run("""
[[segment]]
type = "single_leg_stance"
reps = 1
side = "both"
hold_s = 10
faults = ["drop"]
fault_deg = 6
fault_sides = "left"
""")
    right, left = res.truth.reps
    assert right["fault"] is None and left["fault"] == "drop"
    assert right["obliquity_peak_dev_deg"] == pytest.approx(-1.5, abs=1.0)   # slight hike
    assert left["obliquity_peak_dev_deg"] < -4.5   # right side drops when standing on the left (6 deg fault)
    assert right["duration_s"] == pytest.approx(12.0, rel=0.2)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_every_exercise_generates_and_returns_to_its_posture(name):
    hold = 2.0 if name == "single_leg_stance" else None
    p = ExerciseParams(exercise=name, reps=2, side="right", hold_s=hold)
    piece = generate_exercise(p, np.random.default_rng(0), FINE_RATE_HZ)
    assert piece.start_posture == piece.end_posture == EXERCISES[name].base_posture
    assert len(piece.reps) == 2
    assert piece.tilt_rad[0] == pytest.approx(piece.tilt_rad[-1], abs=1e-12)
    assert piece.obliquity_rad[-1] == pytest.approx(0.0, abs=1e-12)


def test_bad_exercise_settings_are_refused():
    with pytest.raises(MotionError, match="alternate"):
        generate_exercise(ExerciseParams("single_leg_squat", side="alternate"),
                          np.random.default_rng(0), FINE_RATE_HZ)
    with pytest.raises(MotionError, match="unknown fault"):
        generate_exercise(ExerciseParams("lunge", faults=("sag",)), np.random.default_rng(0),
                          FINE_RATE_HZ)
