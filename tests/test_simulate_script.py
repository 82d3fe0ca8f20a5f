"""Session scripts and presets: parsing, clear errors, duration scaling."""

from __future__ import annotations

import json

import pytest

from imu.simulate import ScriptError, load_preset, parse_text, preset_names, simulate
from imu.simulate.gait import GaitParams
from imu.simulate.script import load_script

GOOD = """name = "demo"
seed = 3

[sensor]
rate_hz = 100
mounting = "clip"
errors = { preset = "typical", packet_loss_fraction = 0.01 }

[[segment]]
type = "stand"
duration_s = 10

[[segment]]
type = "calibrate"

[[segment]]
type = "run"
duration_s = 300
speed_mps = 3.2
cpd_left_deg = 4
cpd_right_deg = 9
turns = [{at_s = 100, angle_deg = 180}]

[[segment]]
type = "lunge"
sets = 3
reps = 10
depth_m = 0.3
faults = ["drop", "wobble"]
"""


def test_a_good_script_parses():
    sc = parse_text(GOOD, "demo.toml")
    assert sc.name == "demo" and sc.seed == 3
    assert sc.sensor.rate_hz == 100 and sc.sensor.mounting == "clip"
    assert sc.sensor.errors.packet_loss_fraction == 0.01
    assert [s.type for s in sc.segments] == ["stand", "hinges", "run", "lunge"]
    run = sc.segments[2].params
    assert isinstance(run, GaitParams) and run.mode == "run"
    assert (run.cpd_left_deg, run.cpd_right_deg, run.speed_mps) == (4, 9, 3.2)
    assert run.turns[0].angle_deg == 180
    lunge = sc.segments[3].params
    assert lunge.depth_scale == pytest.approx(0.3 / 0.35)
    assert lunge.faults == ("drop", "wobble")


def test_json_scripts_work_too(tmp_path):
    doc = {"name": "j", "segments": [{"type": "stand", "duration_s": 5},
                                     {"type": "walk", "duration_s": 20}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    sc = load_script(path)
    assert [s.type for s in sc.segments] == ["stand", "walk"]


def _error(text: str) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        parse_text(text, "bad.toml")
    return info.value


def test_unknown_segment_type_names_segment_and_line():
    err = _error('[[segment]]\ntype = "stand"\nduration_s = 5\n\n[[segment]]\ntype = "jog"\n'
                 'duration_s = 5\n')
    assert err.line == 6
    assert "segment 2" in str(err) and "'jog'" in str(err)
    assert "walk" in str(err) and "run" in str(err)   # lists what is allowed


def test_units_written_into_the_value_are_refused_with_a_fix():
    err = _error('[[segment]]\ntype = "walk"\nduration_s = 60\nspeed_mps = "5 km/h"\n')
    assert err.line == 4
    assert "speed_mps" in str(err) and "m/s" in str(err) and "number" in str(err)


def test_a_field_with_the_wrong_unit_suggests_the_right_one():
    err = _error('[[segment]]\ntype = "walk"\nduration_min = 2\n')
    assert err.line == 3
    assert "duration_min" in str(err) and "duration_s" in str(err) and "seconds" in str(err)


def test_negative_duration_is_refused_with_its_line():
    err = _error('[[segment]]\ntype = "stand"\nduration_s = 5\n[[segment]]\ntype = "stand"\n'
                 'duration_s = -3\n')
    assert err.line == 6
    assert "segment 2 (stand)" in str(err) and ">= 0" in str(err)


def test_zero_duration_and_other_model_errors_name_the_segment():
    assert "> 0" in str(_error('[[segment]]\ntype = "stand"\nduration_s = 0\n'))
    err = _error('[[segment]]\ntype = "run"\nduration_s = 2\n')
    assert "segment 1 (run)" in str(err) and "at least" in str(err)
    err = _error('[[segment]]\ntype = "bridge"\ndepth_deg = 10\n')
    assert "depth_m" in str(err)
    err = _error('[[segment]]\ntype = "lunge"\nfaults = ["sag"]\n')
    assert "unknown fault" in str(err)


def test_structural_errors():
    assert "no segments" in str(_error('name = "x"\n'))
    assert "no 'type'" in str(_error('[[segment]]\nduration_s = 5\n'))
    err = _error('[[segment]]\ntype = "stand"\nduration_s = 5\n[sensor]\nrate = 100\n')
    assert "rate_hz" in str(err)
    err = _error('[[segment]\ntype = "stand"\n')
    assert err.line == 1 and "TOML" in str(err)
    with pytest.raises(ScriptError) as info:
        parse_text('{"segments": [1, 2', "bad.json", "json")
    assert "JSON" in str(info.value)
    err = _error('seed = -1\n[[segment]]\ntype = "stand"\n')
    assert "seed" in str(err)


def test_presets_exist_and_parse():
    names = preset_names()
    for required in ("run-asymmetric", "lunges-unstable", "postpartum-rehab-session",
                     "walk-basic"):
        assert required in names
    for name in names:
        load_preset(name)


@pytest.mark.parametrize("name", preset_names())
def test_presets_start_with_quiet_standing_then_hinges(name):
    sc = load_preset(name)
    first = sc.segments[0]
    assert first.type == "stand" and first.params.duration_s >= 5.0
    if "no-calibration" in name:
        assert all(s.type != "hinges" for s in sc.segments)
    else:
        assert sc.segments[1].type == "hinges"


def test_postpartum_preset_has_the_planned_parts():
    sc = load_preset("postpartum-rehab-session")
    kinds = [s.type for s in sc.segments]
    for k in ("stand", "hinges", "bridge", "single_leg_stance", "hip_hike", "lunge", "walk"):
        assert k in kinds


def test_duration_scale_shortens_time_but_keeps_reps_and_calibration():
    full = simulate("lunges-unstable", errors="none")
    short = simulate("lunges-unstable", errors="none", duration_scale=0.2)
    assert len(short.truth.reps) == len(full.truth.reps)
    assert short.motion.duration_s < full.motion.duration_s
    walk = simulate("walk-basic", errors="none")
    quick = simulate("walk-basic", errors="none", duration_scale=0.2)
    assert quick.motion.duration_s < 0.5 * walk.motion.duration_s
    first = quick.truth.events["segments"][0]
    assert first["type"] == "stand" and first["end_s"] - first["start_s"] >= 4.99
    with pytest.raises(Exception, match="duration_scale"):
        simulate("walk-basic", duration_scale=0)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ScriptError, match="walk-basic"):
        simulate("no-such-preset")
