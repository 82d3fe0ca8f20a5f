"""`pelvis-monitor scan` and `record` as a user runs them, against the emulated BlueZ."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from imu.recording import read_recording
from tests.ble_fixtures import ALL, CLI

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="bleak's BlueZ backend runs on Linux only")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The CLI imports the whole pipeline (~2 s on a loaded machine) before it scans.
START_TIMEOUT_S = 30.0


def cli(emu, *args):
    env = {**os.environ, **emu.env, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-m", "imu.cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_scan_lists_the_sensors(emu):
    out, err = cli(emu, "scan", "--timeout", "1").communicate(timeout=START_TIMEOUT_S)
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "PROFILE", "RSSI", "NOTE"]
    for spec in ALL:
        row = next(line for line in lines if spec.address in line)
        assert row.startswith(spec.name) and f" {spec.profile} " in row
    assert "pelvis-monitor record --device" in out


def record_until_signal(emu, path, sig, *extra):
    proc = cli(emu, "record", "--device", CLI.name, "-o", str(path), *extra)
    deadline = time.monotonic() + START_TIMEOUT_S
    for line in proc.stderr:                 # the first status line: streaming has begun
        if line.startswith("streaming") or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=START_TIMEOUT_S)
    return proc.returncode, out, err


def test_record_stops_cleanly_on_sigint_and_continues_the_file_after_sigterm(emu, tmp_path):
    path = tmp_path / "cli.pmrec"
    code, out, err = record_until_signal(emu, path, signal.SIGINT)
    assert code == 0, err
    first = read_recording(path, strict=True)
    assert out.startswith(f"Saved {len(first.samples):,} samples") and len(first.samples) > 50
    assert first.header.device.name == CLI.name

    code, out, err = record_until_signal(emu, path, signal.SIGTERM, "--append")
    assert code == 0, err
    both = read_recording(path, strict=True)
    s = both.samples
    assert len(s) > len(first.samples) + 50
    assert np.all(np.diff(s.time_s) > 0)
    boundary = len(first.samples)
    assert s.gap_before[boundary]
    assert [e.data["state"] for e in both.events].count("stopped") == 2


def test_record_says_what_it_saw_when_the_device_is_missing(emu, tmp_path):
    out, err = cli(emu, "record", "--device", "NoSuchSensor", "--timeout", "1", "-o",
                   str(tmp_path / "x.pmrec")).communicate(timeout=START_TIMEOUT_S)
    assert "pelvis-monitor record: error:" in err and "Seen:" in err and "PelvisIMU-0001" in err
    assert not (tmp_path / "x.pmrec").exists()
