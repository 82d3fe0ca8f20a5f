"""`pelvis-monitor simulate`: outputs, determinism (same seed, same bytes), errors."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from imu.cli import simulate as sim_cli
from imu.errors import PelvisMonitorError

recording = pytest.importorskip("imu.recording")
csv_io = pytest.importorskip("imu.csv_io")

OUTPUTS = ("s.pmrec", "s.csv", "truth/angles.csv", "truth/orientation.csv",
           "truth/sample_times.csv", "truth/events.json", "truth/truth.json")


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pelvis-monitor")
    sim_cli.register(parser.add_subparsers())
    args = parser.parse_args(["simulate", *argv])
    return args.func(args)


def _make(d, seed: str, preset: str = "walk-basic") -> None:
    assert run_cli(preset, "-o", str(d / "s.pmrec"), "--truth", str(d / "truth"),
                   "--csv", str(d / "s.csv"), "--seed", seed, "--duration-scale", "0.15") == 0


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (a, b, c):
        d.mkdir()
    _make(a, "11")
    _make(b, "11")
    _make(c, "12")
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"
    assert (a / "s.pmrec").read_bytes() != (c / "s.pmrec").read_bytes()


def test_recording_csv_and_truth_agree(tmp_path, capsys):
    _make(tmp_path, "3", preset="lunges-unstable")
    out = capsys.readouterr().out
    assert "simulated 'lunges-unstable'" in out and "reps" in out
    rec = recording.read_recording(tmp_path / "s.pmrec")
    assert rec.header.device.profile == "virtual" and rec.header.has_seq
    assert rec.header.settings["simulated"] is True
    assert "mounting" not in rec.header.settings   # no truth leaks into the recording
    assert [a.text for a in rec.annotations][:2] == ["stand", "hinges"]
    imp = csv_io.read_imu_csv(tmp_path / "s.csv")
    block = imp.samples
    angles = np.genfromtxt(tmp_path / "truth" / "angles.csv", delimiter=",", names=True)
    assert len(rec.samples) == len(block) == len(angles)
    assert np.allclose(rec.samples.time_s, angles["time_s"], atol=1e-6)
    assert np.array_equal(np.flatnonzero(rec.samples.gap_before),
                          np.flatnonzero(np.diff(rec.samples.seq, prepend=-1) > 1))


def test_list_presets(capsys):
    assert run_cli("--list-presets") == 0
    out = capsys.readouterr().out
    for name in ("run-asymmetric", "lunges-unstable", "postpartum-rehab-session", "walk-basic"):
        assert name in out


def test_errors_are_clear(tmp_path):
    with pytest.raises(PelvisMonitorError, match="nothing to write"):
        run_cli("walk-basic")
    with pytest.raises(PelvisMonitorError, match="presets"):
        run_cli("no-such-thing", "-o", str(tmp_path / "x.pmrec"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[[segment]]\ntype = "stand"\nduration_s = -1\n')
    with pytest.raises(PelvisMonitorError, match="line 3"):
        run_cli(str(bad), "-o", str(tmp_path / "x.pmrec"))
    (tmp_path / "exists.pmrec").write_bytes(b"x")
    with pytest.raises(PelvisMonitorError, match="overwrite"):
        run_cli("walk-basic", "-o", str(tmp_path / "exists.pmrec"))
    with pytest.raises(PelvisMonitorError, match="mounting"):
        run_cli("walk-basic", "-o", str(tmp_path / "y.pmrec"), "--mounting", "sideways")
