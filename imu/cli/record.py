"""`pelvis-monitor record`: stream a Bluetooth sensor into a recording, headless."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from typing import Callable, TextIO

from imu.ble.recorder import Recorder
from imu.ble.stream import BleSettings, BleSource
from imu.devices import PROFILES
from imu.errors import SettingsError
from imu.record_target import check_record_target
from imu.sources import SourceStatus

# Without a terminal (logs, CI) a status line every 10 s keeps logs readable.
LOG_STATUS_INTERVAL_S = 10.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="record a Bluetooth sensor into a .pmrec file",
                       description="Connect to a sensor, stream it into a recording and show a "
                                   "one-line status. Reconnects by itself when the link drops "
                                   "(the gap is marked in the same file). Ctrl-C stops and "
                                   "saves.")
    p.add_argument("--device", required=True, metavar="NAME_OR_ADDRESS",
                   help="the sensor's advertised name or its Bluetooth address "
                        "(see `pelvis-monitor scan`)")
    p.add_argument("--profile", choices=("auto", *PROFILES), default="auto",
                   help="device profile (default: recognised from the advertisement)")
    p.add_argument("--rate", type=float, metavar="HZ",
                   help="sample rate (default: the profile's, about 200 Hz)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="recording to write")
    p.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    p.add_argument("--pair", action="store_true",
                   help="pair (bond) before streaming (some hosts need it for Polar sensors)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true",
                      help="continue FILE if it exists (same sensor), marking the gap")
    mode.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds to look for the sensor (default 10)")
    p.add_argument("--notes", action="store_true",
                   help="read notes from standard input, one per line (type and press "
                        "Enter); each is stored in the recording at the latest sample time")
    p.set_defaults(func=run)


def status_line(s: SourceStatus, elapsed_s: float) -> str:
    """One line: state, rate, loss, battery, reconnects, elapsed, samples."""
    rate = f"{s.measured_rate_hz:6.1f} Hz" if s.measured_rate_hz else "     - Hz"
    battery = f"{s.battery_percent:3d} %" if s.battery_percent is not None else "  - %"
    minutes, seconds = divmod(int(elapsed_s), 60)
    line = (f"{s.link_state:<12} {rate} | lost {s.loss_percent:5.2f} % ({s.samples_lost}) | "
            f"battery {battery} | reconnects {s.reconnects} | {minutes:d}:{seconds:02d} | "
            f"{s.samples_received:,} samples")
    return line + (f" | {s.message}" if s.message else "")


class StatusPrinter:
    """Rewrites one terminal line; without a terminal, prints a line now and then."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self._last_log = -LOG_STATUS_INTERVAL_S

    def show(self, status: SourceStatus) -> None:
        elapsed = time.monotonic() - self.start
        line = status_line(status, elapsed)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        elif elapsed - self._last_log >= LOG_STATUS_INTERVAL_S or status.link_state == "stopped":
            self._last_log = elapsed
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (on a terminal: above the status line, redrawn next tick)."""
        self.stream.write(("\r\x1b[2K" if self.tty else "") + text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def read_lines(fd: int, on_line: Callable[[str], None]) -> None:
    """Call `on_line` with each line read from file descriptor `fd` until end of file.

    Reads the raw descriptor, not sys.stdin: a daemon thread blocked inside sys.stdin's
    buffered reader can abort the interpreter's shutdown."""
    pending = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            break
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace"))
    if pending:
        on_line(pending.decode("utf-8", "replace"))


def note_taker(recorder: Recorder, loop: asyncio.AbstractEventLoop,
               say: Callable[[str], None]) -> Callable[[str], None]:
    """A line handler (for any thread) that stores each non-empty line as a note."""
    def store(text: str) -> None:  # on the loop: the writer is used from one thread only
        try:
            t = recorder.annotate(text)
        except SettingsError as exc:
            say(f"Note not stored: {exc}")
            return
        say(f"Note stored at {t:.1f} s: {text.strip()}")

    def on_line(line: str) -> None:
        if line.strip():
            loop.call_soon_threadsafe(store, line)
    return on_line


async def record(args: argparse.Namespace) -> int:
    # Before looking for the sensor: a read-only folder or a full disk is said at once.
    target = check_record_target(args.output, overwrite=args.overwrite, append=args.append)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    recorder = Recorder(args.output, append=args.append, overwrite=args.overwrite)
    settings = BleSettings(profile=args.profile, rate_hz=args.rate, pair=args.pair,
                           find_timeout_s=args.timeout)
    source = BleSource(args.device, settings, on_event=recorder.on_link_event)
    printer = StatusPrinter(sys.stderr)
    print(f"Recording to {target.path} ({target.free_bytes / 1e6:,.0f} MB free: about "
          f"{target.hours_left():,.1f} h at 200 Hz).", file=sys.stderr)
    if args.notes:
        notes = note_taker(recorder, loop, printer.message)
        threading.Thread(target=read_lines, args=(sys.stdin.fileno(), notes), name="notes",
                         daemon=True).start()
        print("Type a note and press Enter to store it in the recording.", file=sys.stderr)
    print(f"Looking for {args.device} ...", file=sys.stderr, flush=True)
    try:
        summary = await recorder.run(source, stop, on_status=printer.show,
                                     duration_s=args.duration)
    finally:
        printer.done()
    if summary.samples_written == 0 and stop.is_set() and not summary.stopped_by:
        print("Stopped before streaming began; nothing was recorded.", file=sys.stderr)
        return 1
    print(summary.describe())
    return 1 if summary.stopped_by else 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(record(args))
