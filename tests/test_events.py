"""Gait events, strides, reps and flags against simulated truth and real data.

Simulated sessions use a random mounting and the 'typical' MEMS error preset. Where a
figure is below the issue-4 target, the assertion is today's measured level (a
regression guard) and says so.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from imu.errors import SettingsError
from imu.events.model import Flag, GaitEvent, Rep, Stride, events_document
from imu.events.profile import Profile, baseline_from_reps, baseline_toml, load_profile
from imu.events.reps import sparc
from imu.events.variability import band_of
from imu.pipeline import Pipeline, analyze_samples
from imu.simulate.scoring import score_gait, score_reps

simulate = pytest.importorskip("imu.simulate.session").simulate


def _match(det: np.ndarray, truth: np.ndarray, tol: float = 0.05):
    used = np.zeros(det.size, bool)
    errs = []
    for v in truth:
        if det.size == 0:
            break
        k = int(np.argmin(np.abs(det - v)))
        if abs(det[k] - v) <= tol and not used[k]:
            used[k] = True
            errs.append(det[k] - v)
    tp = len(errs)
    return tp, det.size - tp, truth.size - tp, np.array(errs)


@pytest.fixture(scope="module", params=[("run-asymmetric", 21, 0.5), ("walk-basic", 22, 0.8)])
def gait_session(request):
    preset, seed, scale = request.param
    res = simulate(preset, seed=seed, duration_scale=scale, mounting="random")
    return res, analyze_samples(res.block, res.rate_hz)


def test_initial_contacts_timing_and_side(gait_session):
    res, an = gait_session
    g = score_gait(an.events, res.truth)
    # Target F1 >= 0.99: met pooled over bench/events_accuracy (0.995). In this short
    # run-asymmetric session (a walk->run change, several bout starts) the steps found
    # too late to report within 0.5 s are not reported: F1 0.989 (seed 21).
    assert g.f1 >= 0.985, (g.ic_true, g.ic_found, g.ic_matched)
    assert np.mean(np.abs(g.ic_timing_errors_s)) <= 0.020
    # A missed step no longer swaps the sides after it (parity from step periods).
    assert g.side_fraction >= 0.99
    delays = np.array(g.ic_delays_s)
    assert np.all(delays >= 0)
    # At most 0.5 s, every one: a bout's first steps, found once its rhythm shows, vote
    # for the sides but are not reported when older than that (docs/events.md).
    assert delays.max() <= 0.5


def test_per_stance_contralateral_drop(gait_session):
    res, an = gait_session
    strides = [e for e in an.events if isinstance(e, Stride)]
    truth = res.truth.strides
    tt = np.array([s["ic_time_s"] for s in truth])
    errs = []
    for s in strides:
        k = int(np.argmin(np.abs(tt - s.ic_time_s)))
        if abs(tt[k] - s.ic_time_s) < 0.05 and truth[k]["side"] == s.side:
            errs.append(s.contralateral_drop_deg - truth[k]["contralateral_drop_deg"])
            assert s.to_time_s > s.ic_time_s
            assert s.to_time_s <= s.reported_time_s <= s.to_time_s + 0.5
    assert len(errs) >= 0.95 * len(truth)
    assert np.mean(np.abs(errs)) <= 1.0


def test_running_asymmetry_is_flagged_on_the_right_side():
    res = simulate("run-asymmetric", seed=23, duration_scale=0.5, mounting="random")
    an = analyze_samples(res.block, res.rate_hz)
    flags = [f for f in an.events if isinstance(f, Flag) and f.activity == "running"]
    drop = [f for f in flags if f.rule == "contralateral-drop"]
    # Truth: right stance CPD 9 deg (limit 7), left 4 deg.
    right = [f for f in drop if f.side == "right"]
    # Known issue (issue 4 open): an occasional left flag from strides sided wrongly.
    assert right and len(right) > 2 * (len(drop) - len(right))
    assert any(f.rule == "drop-asymmetry" and f.side == "right" for f in flags)
    assert all(f.message and f.value > f.limit for f in drop)


def test_no_strides_or_reps_while_standing():
    res = simulate("walk-basic", seed=24, duration_scale=0.5, mounting="random")
    an = analyze_samples(res.block, res.rate_hz)
    walk = [s for s in res.truth.events["segments"] if s["type"] == "walk"]
    lo, hi = walk[0]["start_s"], walk[-1]["end_s"]
    for e in an.events:
        if isinstance(e, (GaitEvent, Stride)):
            t = e.time_s if isinstance(e, GaitEvent) else e.ic_time_s
            assert lo <= t <= hi, e
        assert not isinstance(e, Rep), e


def test_real_treadmill_run(shared_data):
    from imu.inputs import load_input

    base = shared_data / "rbds-dev"
    li = load_input(base / "RBDS032_T35.imu.csv")
    truth = json.loads((base / "RBDS032_T35.events.json").read_text())
    a, b = truth["scoring_window_s"]
    an = analyze_samples(li.samples, li.rate_hz)
    ics = [e for e in an.events if isinstance(e, GaitEvent) and e.kind == "ic" and a <= e.time_s <= b]
    tt = np.array([e["time_s"] for e in truth["initial_contacts"] if a <= e["time_s"] <= b])
    tp, fp, fn, errs = _match(np.array([e.time_s for e in ics]), tt)
    assert 2 * tp / (2 * tp + fp + fn) >= 0.98
    # The truth ICs are kinematic (foot marker) events; the sacrum sees them ~20 ms later.
    assert abs(np.mean(errs)) < 0.035
    allt = [e["time_s"] for e in truth["initial_contacts"]]
    ok = [truth["initial_contacts"][int(np.argmin(np.abs(np.array(allt) - e.time_s)))]["side"] == e.side
          for e in ics]
    assert np.mean(ok) == 1.0


def test_lunge_reps_and_flags():
    res = simulate("lunges-unstable", seed=1, mounting="random")
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    # Every rep and every set exact on this seed (76 reps, 8 sets).
    assert r.reps_matched == r.reps_found == r.reps_true
    assert r.sets_exact == r.sets_true
    assert r.side_correct >= 0.95 * r.sides_scored
    assert r.exercise_correct >= 0.95 * r.reps_matched
    assert r.flag_precision >= 0.95 and r.flag_recall >= 0.95
    assert np.mean(np.abs(r.drop_errors_deg)) <= 1.0


@pytest.mark.parametrize("name", ["hip bridge, not level", "kickback, rotation"])
def test_reps_whose_hold_is_longer_than_the_rest(name):
    """Bridges hold at the top and kickbacks barely move: the rest posture must be the
    lying / all-fours one, not the hold, and every rep is counted."""
    from bench.events_accuracy import session_text
    from imu.simulate.script import parse_text

    res = simulate(parse_text(session_text(name), source=name), seed=2)
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true
    assert r.sets_exact == r.sets_true
    assert r.flag_precision == 1.0 and r.flag_recall == 1.0
    # Target: every rep within 1.0 deg. Measured: mean 0.2-0.5 deg, but a bridge's
    # obliquity while rolling up can add up to ~2 deg on a few reps.
    assert np.mean(np.abs(r.drop_errors_deg)) <= 0.5


def test_live_equals_replay_for_any_block_size():
    res = simulate("lunges-unstable", seed=4, duration_scale=0.3, mounting="random")
    whole = analyze_samples(res.block, res.rate_hz).events
    pipe = Pipeline(res.rate_hz)
    live = []
    rng = np.random.default_rng(0)
    i = 0
    while i < len(res.block):
        n = int(rng.integers(1, 40))
        live += pipe.feed(res.block.slice(i, i + n)).events
        i += n
    live += pipe.finish()
    assert live == list(whole)
    assert any(isinstance(e, Rep) for e in live)


def test_events_document_is_the_conventions_json():
    res = simulate("walk-basic", seed=25, duration_scale=0.4, mounting="random")
    doc = events_document(list(analyze_samples(res.block, res.rate_hz).events))
    for key in ("initial_contacts", "toe_offs", "strides", "reps", "flags"):
        assert key in doc
    s = doc["strides"][0]
    assert {"side", "ic_time_s", "contralateral_drop_deg"} <= set(s)
    assert json.loads(json.dumps(doc)) == doc


def test_profile_file_overrides_and_rejects_typos(tmp_path):
    p = tmp_path / "me.toml"
    p.write_text("[running]\ncpd_max_deg = 6.5\n[lunge]\ndrop_max_deg = 4\n")
    prof = load_profile(p)
    assert prof.running.cpd_max_deg == 6.5 and prof.rep_limits("lunge").drop_max_deg == 4.0
    assert prof.rep_limits("bridge") == Profile().rep_limits("bridge")
    p.write_text("[running]\ncpd_max = 6.5\n")
    with pytest.raises(SettingsError, match="unknown limit 'cpd_max'"):
        load_profile(p)
    p.write_text("[runing]\ncpd_max_deg = 6.5\n")
    with pytest.raises(SettingsError, match="unknown section"):
        load_profile(p)


def test_personal_baseline_flags_deviation(tmp_path):
    def rep(i, drop):
        return Rep(i, 1, "lunge", "left", 0, 1, 2, 2, 5, 1, 2, 5, -drop, 2, drop, 0.1, -1.5, 2)
    good = [rep(i, 1.0 + 0.1 * (i % 3)) for i in range(6)]
    base = baseline_from_reps(good)
    p = tmp_path / "b.toml"
    p.write_text(baseline_toml(base))
    prof = load_profile(p)
    from imu.events.flags import FlagRules
    rules = FlagRules(prof)
    assert not [f for f in rules.check(rep(9, 1.1)) if f.rule.startswith("baseline")]
    flagged = [f for f in rules.check(rep(10, 2.9)) if f.rule.startswith("baseline")]
    assert flagged and flagged[0].side == "left"


def test_sparc_prefers_a_smooth_bump():
    t = np.linspace(0, 2, 401)
    smooth = np.sin(np.pi * t / 2) ** 2
    jerky = smooth * (1 + 0.3 * np.sin(2 * np.pi * 4 * t))
    assert sparc(smooth, 200.0) > sparc(jerky, 200.0)
    assert sparc(smooth, 200.0) < 0


def test_variability_band():
    assert band_of(0.1, 0.3, 2.0) == "too little"
    assert band_of(1.0, 0.3, 2.0) == "healthy"
    assert band_of(3.0, 0.3, 2.0) == "too much"


def test_rep_drop_is_scored_on_the_true_working_side():
    from dataclasses import replace

    from imu.simulate.scoring import _found_drop
    rep = Rep(index=1, set_index=1, exercise="lunge", side="left", start_time_s=0.0,
              turn_time_s=1.0, end_time_s=2.0, duration_s=2.0, tilt_rom_deg=6.0,
              obliquity_rom_deg=9.0, rotation_rom_deg=2.0, tilt_peak_dev_deg=6.0,
              obliquity_peak_dev_deg=-8.0, rotation_peak_dev_deg=1.0,
              contralateral_drop_deg=8.0, wobble_deg=0.1, smoothness=-1.5, reported_time_s=2.2)
    # Obliquity went from 0 down to -8 (right side low) and up to +1 (left side low).
    assert _found_drop(rep, "left") == pytest.approx(8.0)   # standing left: right drops
    assert _found_drop(rep, "right") == pytest.approx(1.0)
    up = replace(rep, obliquity_peak_dev_deg=3.0, obliquity_rom_deg=3.0)
    assert _found_drop(up, "left") == 0.0 and _found_drop(up, "right") == pytest.approx(3.0)


def test_level_change_of_a_step_and_of_a_dip():
    from imu.events.signals import displacement_m

    t = np.arange(0, 3.0, 0.005)
    x = np.clip((t - 0.5) / 1.5, 0, 1)
    step = 0.18 * (10 * x**3 - 15 * x**4 + 6 * x**5)          # onto a 0.18 m step
    dip = -0.35 * np.sin(np.pi * x) ** 2                       # a lunge down and back
    for z, net, furthest in ((step, 0.18, 0.18), (dip, 0.0, -0.35)):
        acc = np.gradient(np.gradient(z, t), t) + 0.3          # the offset is removed too
        n, f = displacement_m(t, acc)
        assert n == pytest.approx(net, abs=0.01) and f == pytest.approx(furthest, abs=0.01)


def _battery(name, seed):
    from bench.events_accuracy import session_text
    from imu.simulate.script import parse_text

    return simulate(parse_text(session_text(name), source=name), seed=seed)


def test_stepping_onto_and_off_a_step_is_not_a_rep():
    """The hip-hike sets start by stepping up onto the step and end by stepping down:
    each tilts the pelvis like a small lunge (3 deg) but leaves the body 0.17 m higher or
    lower, which no rep does."""
    res = _battery("hip hike", 1)
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 24


def test_a_fusion_frame_correction_at_rest_is_not_a_rep():
    """Kneeling still between two kickback sets reveals seed 6's accelerometer offset: the
    fusion corrects its vertical there and the angles step by about 2 deg with no
    movement. The rest posture moves with them, so the next set is counted whole (it
    lost its first two reps when the step was taken for a rep's start)."""
    from imu.fusion import OrientationFilter, FusionSettings

    res = _battery("kickback, rotation", 6)
    f = OrientationFilter(FusionSettings(), res.rate_hz)
    f.update(res.block)
    assert f.reframed_at, "the fusion corrected its frame"
    whole = analyze_samples(res.block, res.rate_hz)
    r = score_reps(whole.events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 16
    # Live, block by block, reports the same.
    pipe = Pipeline(res.rate_hz)
    live, i = [], 0
    rng = np.random.default_rng(1)
    while i < len(res.block):
        n = int(rng.integers(1, 400))
        live += pipe.feed(res.block.slice(i, i + n)).events
        i += n
    assert live + list(pipe.finish()) == list(whole.events)


def test_a_free_foot_put_down_after_a_set_is_not_a_rep_and_the_next_set_starts_clean():
    """After the last single-leg squat the free foot goes down: the pelvis levels by
    2 deg with no forward tilt and stays there (a shift of stance, once counted as a
    'lunge'); the next set's first squat is measured from the rest before it, not
    from the stance the foot-down left."""
    res = _battery("single-leg squat, drop", 2)
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 24
    assert r.side_correct == r.sides_scored
    assert max(np.abs(r.drop_errors_deg)) < 1.5  # measured 1.37 at most (seeds 1-3)


def test_single_leg_stance_holds_are_reps_however_long():
    """A 20 s single-leg stance: sway sets new peaks during the hold, which must not
    make the hold itself look like the return (the rep used to end 0.6 s in)."""
    res = simulate("postpartum-rehab-session", seed=1, mounting="random")
    events = analyze_samples(res.block, res.rate_hz).events
    stance = [e for e in events if isinstance(e, Rep) and e.exercise == "single-leg-stance"]
    truth = [x for x in res.truth.events["reps"] if x["exercise"] == "single_leg_stance"]
    assert len(stance) == len(truth) == 2
    for found, x in zip(stance, truth):
        assert found.start_time_s == pytest.approx(x["start_time_s"], abs=1.0)
        # Measured: 23.3 of 23.8 s and 22.2 of 22.6 s (sway used to bring the first
        # back within 0.9 deg of the two-leg rest 6 s early: a 1.4 deg shift is small).
        assert found.duration_s > 0.9 * x["duration_s"]
        assert found.side == x["side"]


STANCE_SESSION = """
name = "single-leg stance, both sides"
[sensor]
rate_hz = 200
mounting = "random"
errors = "typical"
{calibration}
[[segment]]
type = "single_leg_stance"
sets = 1
reps = 1
side = "both"
hold_s = 20
faults = ["drop"]
fault_deg = 5
fault_sides = "left"

[[segment]]
type = "stand"
duration_s = 5
"""


@pytest.mark.parametrize("seed", range(1, 9))
def test_single_leg_stance_whole_hold_and_stance_side(seed):
    """The right leg's hold shifts the pelvis by about as much as sway moves it during
    the hold (1-2 deg): sway once ended it early, or its steady start was taken for
    the rest and the return to two legs swallowed the left leg's hold (seeds 2 and 4
    of eight were missed and 3 of 16 sides wrong). The side comes from the sideways
    shift onto the stance leg."""
    from imu.simulate.script import CALIBRATION_TOML, parse_text

    text = STANCE_SESSION.format(calibration=CALIBRATION_TOML)
    res = simulate(parse_text(text, source="stance"), seed=seed)
    events = analyze_samples(res.block, res.rate_hz).events
    r = score_reps(events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 2
    assert r.side_correct == r.sides_scored == 2
    assert max(np.abs(r.drop_errors_deg)) < 1.0
    stance = [e for e in events if isinstance(e, Rep)]
    for found, x in zip(stance, res.truth.events["reps"]):
        assert found.duration_s > 0.8 * x["duration_s"]


@pytest.mark.parametrize("seed", [8, 10])
def test_rehab_session_reps_whole_and_measured(seed):
    """Seed 10 lies down and bridges 0.5 s later, and the fusion's frame correction since
    moved the rest by 2 deg: the bridge found after the fact used to end mid-descent,
    which read as a change of level (85 of 86 found). Seed 8's hip hike passes through
    the start posture between its drop and its hike, which was taken for a late start
    (drop error 7.1 deg)."""
    res = simulate("postpartum-rehab-session", seed=seed, mounting="random")
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 86
    assert max(np.abs(r.drop_errors_deg)) < 1.0  # measured 0.80 (seed 8), 0.66 (seed 10)


def test_a_lunge_back_at_an_earlier_rest_is_still_a_rep():
    """Seed 7: a lunge ends 1.2 deg from where it began, and the next one ends back at
    that earlier rest. The return to a rest left before a held stance (single-leg
    stance) must not swallow it: only a move no further than back to that rest is one."""
    res = simulate("lunges-unstable", seed=7, mounting="random")
    r = score_reps(analyze_samples(res.block, res.rate_hz).events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 76


def test_bridge_needs_a_posterior_tilt():
    """Lying on the back, a 1.9 deg shift after a set is no bridge (seed 9 counted one)."""
    from imu.events.exercises import POSTURE_SUPINE, classify_rep

    assert classify_rep(POSTURE_SUPINE, 1.1, 1.2, 1.5, 0.4, -1.0) is None
    assert classify_rep(POSTURE_SUPINE, 4.5, 25.0, 2.0, 1.0, -25.0) == "bridge"


def test_a_rep_begun_before_the_first_rest_in_a_new_posture_is_found_after_the_fact():
    """Seed 4 kneels down and kicks back 0.5 s later, before any rest on hands and knees
    could be taken; the top of that kickback was taken for the rest. Once the true rest
    is known, the excursion from it and back is reported (0.4 s after its end)."""
    res = _battery("kickback, rotation", 4)
    events = analyze_samples(res.block, res.rate_hz).events
    r = score_reps(events, res.truth)
    assert r.reps_found == r.reps_matched == r.reps_true == 16
    assert max(r.delays_s) <= 0.5
