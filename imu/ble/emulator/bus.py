"""A private D-Bus broker configured as a system bus, for the emulated BlueZ.

Started as a child process (`--nofork`: a forked daemon was left defunct in the
feasibility run) listening on a socket in a temporary folder, with a policy that lets
any local user own names and send and receive messages. Nothing on the machine's real
system bus is touched.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
from pathlib import Path

from imu.errors import PelvisMonitorError

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# What bleak runs to learn the BlueZ version (it refuses versions < 5.55).
FAKE_BLUETOOTHCTL = "#!/bin/sh\necho 'bluetoothctl: 5.72 (emulated by pelvis-monitor)'\n"
# The daemon prints its address within milliseconds; a loaded CI machine may need longer.
START_TIMEOUT_S = 10.0


class EmulatorError(PelvisMonitorError):
    """The emulated Bluetooth stack could not be started."""


def dbus_daemon_path() -> str:
    """The dbus-daemon program, or an EmulatorError saying how to install it."""
    path = shutil.which("dbus-daemon")
    if path is None:
        raise EmulatorError("dbus-daemon is not installed, so the emulated Bluetooth stack "
                            "cannot start. Install it (Debian/Ubuntu: `apt-get install dbus`; "
                            "`make test` does this for you).")
    return path


class PrivateBus:
    """A running dbus-daemon on a socket in `folder`. Use as a context manager."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.socket = self.folder / "system_bus_socket"
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> "PrivateBus":
        config = self.folder / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.socket))
        self.process = subprocess.Popen(
            [dbus_daemon_path(), "--nofork", f"--config-file={config}", "--print-address=1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = read_first_line(self.process, START_TIMEOUT_S)
        if not line.startswith("unix:"):
            err = self.process.stderr.read() if self.process.poll() is not None else ""
            self.stop()
            raise EmulatorError(f"dbus-daemon did not start: {line or err or 'no output'}")
        self.address = line.strip()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        self.process = None

    def __enter__(self) -> "PrivateBus":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_fake_bluetoothctl(folder: str | os.PathLike) -> Path:
    """A `bluetoothctl` that reports a recent BlueZ; put its folder first on PATH."""
    bin_dir = Path(folder) / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "bluetoothctl"
    script.write_text(FAKE_BLUETOOTHCTL)
    script.chmod(0o755)
    return bin_dir


def read_first_line(process: subprocess.Popen, timeout_s: float) -> str:
    """First stdout line of a child, or "" if it prints none within the timeout."""
    assert process.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(process.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout_s):
            return ""
        return process.stdout.readline()
    finally:
        sel.close()
