"""`pelvis-monitor demo`: which path it streams through (Bluetooth via the emulated BlueZ,
or in-process), that the Bluetooth path reaches the dashboard's pipeline, and that
stopping it leaves no process behind.

The Bluetooth tests start their own emulator (a private dbus-daemon) with a short
calibration script, so the pipeline has angles after ~7 s of real-time streaming.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dashboard import ids
from dashboard.layout_live import live_layout
from dashboard.panel_data import link_text
from dashboard.sources import open_source, panel_choices
from dashboard.stream import LiveStream
from imu.ble import demo as ble_demo
from imu.ble.demo import BLUETOOTH, IN_PROCESS, TRANSPORTS, demo_transport
from imu.cli import demo as demo_cli
from imu.cli.main import build_parser, main
from imu.errors import SettingsError

ROOT = Path(__file__).resolve().parents[1]
EMULATION = ble_demo.emulation_unavailable_reason()
needs_emulation = pytest.mark.skipif(EMULATION is not None,
                                     reason=f"emulated Bluetooth unavailable: {EMULATION}")
# Stand 2.5 s, two quick hinges, then lunges: the calibration completes ~7 s into the
# stream (the demo preset's takes ~21 s, too long for a test at real time).
QUICK_SCRIPT = """
name = "quick-calibration"
description = "Short standing and two quick hinges, then lunges (tests)."
seed = 7
[sensor]
rate_hz = 200
mounting = "random"
errors = "typical"
[[segment]]
type = "stand"
duration_s = 2.5
[[segment]]
type = "hinges"
count = 2
down_s = 0.8
hold_s = 0.3
up_s = 0.8
rest_s = 0.6
lead_s = 0.3
[[segment]]
type = "lunge"
sets = 1
reps = 4
side = "both"
"""
# Importing the pipeline and dash (~2-3 s) plus the emulator start (~1-2 s), on a loaded
# 2-core machine.
CLI_START_TIMEOUT_S = 45.0


def demo_args(tmp_path: Path, *argv: str):
    return build_parser().parse_args(["demo", "--recordings", str(tmp_path), *argv])


def wait_for(check, timeout_s: float, what: str):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")


def connection_message(config) -> str:
    """The text the connection panel's message line starts with."""
    layout = live_layout(config, panel_choices(config))
    found = []

    def walk(node):
        if getattr(node, "id", None) == ids.LIVE_CONNECT_MSG:
            found.append(node.children)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, (list, tuple)) else [children]:
            if hasattr(child, "children"):
                walk(child)

    walk(layout)
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------- choosing the path

@pytest.fixture
def no_emulator(monkeypatch):
    """Fail the test if anything tries to start the emulator."""
    def refuse(*_a, **_k):
        raise AssertionError("the emulator was started")
    monkeypatch.setattr(ble_demo, "demo_bluetooth", refuse)


def test_the_cli_offers_the_transports_of_the_demo_module():
    assert demo_cli.TRANSPORT_CHOICES == TRANSPORTS
    assert build_parser().parse_args(["demo"]).transport == "auto"


def test_in_process_when_asked_starts_no_emulator(no_emulator, tmp_path):
    with demo_transport("in-process", "lunges-unstable") as chosen:
        assert chosen.transport == IN_PROCESS and chosen.device is None
        assert chosen.fallback_reason == ""
        assert "in-process" in chosen.announcement and "as asked" in chosen.announcement
        config = demo_cli.demo_config(demo_args(tmp_path, "--transport", "in-process"), chosen)
    assert config.open_source == "virtual:lunges-unstable"
    assert config.scanner is None and config.source_factory is None


def test_auto_falls_back_to_in_process_with_the_reason(no_emulator, monkeypatch, tmp_path):
    monkeypatch.setattr(ble_demo, "emulation_unavailable_reason",
                        lambda: "dbus-daemon is not installed (test)")
    with demo_transport("auto", "lunges-unstable") as chosen:
        assert chosen.transport == IN_PROCESS
        assert chosen.fallback_reason == "dbus-daemon is not installed (test)"
        config = demo_cli.demo_config(demo_args(tmp_path, "--speed", "3"), chosen)
    assert "not through Bluetooth, because dbus-daemon is not installed (test)" in \
        chosen.announcement
    assert config.open_source == "virtual:lunges-unstable" and config.virtual_speed == 3.0
    assert connection_message(config) == chosen.announcement   # said on the page too


def test_bluetooth_when_forced_but_unavailable_is_an_error(no_emulator, monkeypatch):
    monkeypatch.setattr(ble_demo, "emulation_unavailable_reason", lambda: "not Linux (test)")
    with pytest.raises(SettingsError, match="not Linux \\(test\\).*--transport auto"):
        with demo_transport("bluetooth", "lunges-unstable"):
            pass


def test_other_speeds_stream_in_process(no_emulator, monkeypatch):
    monkeypatch.setattr(ble_demo, "emulation_unavailable_reason", lambda: None)
    with demo_transport("auto", "lunges-unstable", speed=2.0) as chosen:
        assert chosen.transport == IN_PROCESS and "--speed 2" in chosen.fallback_reason
    with pytest.raises(SettingsError, match="--speed 2"):
        with demo_transport("bluetooth", "lunges-unstable", speed=2.0):
            pass


def test_unknown_transport_and_preset_are_refused(tmp_path, capsys):
    with pytest.raises(SettingsError, match="unknown demo transport 'radio'"):
        with demo_transport("radio", "lunges-unstable"):
            pass
    assert main(["demo", "--preset", "no-such-preset", "--recordings", str(tmp_path)]) == 1
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err


@needs_emulation
def test_auto_falls_back_when_the_emulator_does_not_start(monkeypatch):
    from imu.ble.emulator import EmulatorError

    @contextlib.contextmanager
    def broken(*_a, **_k):
        raise EmulatorError("dbus-daemon did not start: no output (test)")
        yield  # pragma: no cover - makes this a generator

    monkeypatch.setattr(ble_demo, "demo_bluetooth", broken)
    with demo_transport("auto", "lunges-unstable") as chosen:
        assert chosen.transport == IN_PROCESS
        assert "did not start" in chosen.fallback_reason and "(test)" in chosen.fallback_reason
    with pytest.raises(EmulatorError):
        with demo_transport("bluetooth", "lunges-unstable"):
            pass


# --------------------------------------------------------------------------- the Bluetooth path

@pytest.fixture(scope="module")
def bluetooth_demo(tmp_path_factory):
    """demo_transport('auto') with the quick-calibration script: the emulator runs for the
    module's tests."""
    if EMULATION is not None:
        pytest.skip(f"emulated Bluetooth unavailable: {EMULATION}")
    script = tmp_path_factory.mktemp("demo") / "quick.toml"
    script.write_text(QUICK_SCRIPT)
    with demo_transport("auto", str(script)) as chosen:
        yield chosen


def test_auto_picks_bluetooth_where_the_emulator_runs(bluetooth_demo, tmp_path):
    assert bluetooth_demo.transport == BLUETOOTH and bluetooth_demo.fallback_reason == ""
    device = bluetooth_demo.device
    assert "Demo over Bluetooth" in bluetooth_demo.announcement
    assert device.address in bluetooth_demo.announcement
    # bleak in this process talks to the private bus, not the machine's system bus
    assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == device.emulator.bus_address
    config = demo_cli.demo_config(demo_args(tmp_path), bluetooth_demo)
    assert config.open_source == device.address
    assert [c.key for c in panel_choices(config)][0] == device.address
    assert connection_message(config) == bluetooth_demo.announcement


def test_the_dashboard_stream_gets_angles_through_the_emulated_bluez(bluetooth_demo, tmp_path):
    config = demo_cli.demo_config(demo_args(tmp_path), bluetooth_demo)
    stream = LiveStream(tmp_path, window_s=5.0)
    source = open_source(config.open_source, config)
    assert type(source).__name__ == "BleSource" and source.rate_hz == 200.0
    stream.connect(source)
    try:
        wait_for(lambda: (stream.snapshot().status.samples_received or stream.snapshot().error),
                 10.0, "the first samples through bleak")
        assert stream.snapshot().error == ""
        angles = wait_for(stream.latest_angles, 20.0, "calibrated angles from the pipeline")
        snap = stream.snapshot()
    finally:
        stream.disconnect()
    assert snap.alignment is not None and snap.error == ""
    assert np.all(np.isfinite(angles)) and max(abs(a) for a in angles) < 90.0
    status = snap.status
    assert (status.device_name, status.profile) == (bluetooth_demo.device.name, "open")
    assert status.samples_received > 1000 and status.battery_percent == 87
    line = link_text(status, running=True)
    assert line.startswith(f"streaming · {bluetooth_demo.device.name}")
    assert "Hz measured" in line and "battery 87 %" in line and "packet loss" in line


def test_scan_finds_the_emulated_sensor_and_keeps_it_listed_while_connected(bluetooth_demo,
                                                                          tmp_path):
    import asyncio

    config = demo_cli.demo_config(demo_args(tmp_path), bluetooth_demo)
    address = bluetooth_demo.device.address
    advertising = {c.key: c for c in asyncio.run(config.scanner(1.5))}
    assert advertising[address].label == f"Bluetooth: {bluetooth_demo.device.name}"
    assert advertising[address].detail.startswith("open, ")

    stream = LiveStream(tmp_path, window_s=5.0)
    stream.connect(open_source(address, config))
    try:
        wait_for(lambda: stream.snapshot().status.link_state == "streaming", 10.0, "streaming")
        listed = {c.key: c for c in asyncio.run(config.scanner(1.0))}
    finally:
        stream.disconnect()
    # A connected sensor stops advertising; the pinned entry stays, saying so.
    assert "not advertising" in listed[address].detail


# --------------------------------------------------------------------------- the command

def process_children(pid: int) -> list[int]:
    """Live (non-zombie) child processes of pid, from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(stat[1]) == pid and stat[0] != "Z":
            kids.append(int(entry))
    return kids


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return f"{pid} (ended)"


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_emulation
def test_demo_command_streams_over_bluetooth_and_ctrl_c_leaves_no_process(tmp_path):
    # Its own session: Ctrl-C in a terminal signals the whole foreground group, as here.
    proc = subprocess.Popen([sys.executable, "-u", "-m", "imu.cli.main", "demo", "--port", "0",
                             "--recordings", str(tmp_path)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines, deadline = [], time.monotonic() + CLI_START_TIMEOUT_S
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Dashboard:")):
            lines.append(proc.stdout.readline())
            if not lines[-1]:
                break  # the command ended
        assert lines[0].startswith("Demo over Bluetooth:"), lines
        url = lines[-1].split()[1]
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and b"Pelvis monitor" in page.read()
        # dbus-daemon and the emulated BlueZ; bleak also runs `bluetoothctl --version`
        # once as it connects (the emulator's fake one), which can be caught alive here.
        end = time.monotonic() + 10.0
        children = process_children(proc.pid)
        while len(children) != 2 and time.monotonic() < end:
            time.sleep(0.1)
            children = process_children(proc.pid)
        assert len(children) == 2, [command_line(c) for c in children]
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out
    assert "Stopped the dashboard, the Bluetooth stream and the emulated BlueZ." in out
    assert not [c for c in children if alive(c)]
