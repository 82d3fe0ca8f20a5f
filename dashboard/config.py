"""What a dashboard process is started with: where it serves, what it streams, where files go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from imu.device_calibration import DeviceCalibration
from imu.sources import LiveSource

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
# An uploaded recording of 2 h at 200 Hz is ~23 MB (docs/recording-format.md); 64 MB
# leaves room for a long CSV while keeping a hostile upload from filling memory.
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DeviceChoice:
    """One entry of the connection panel's device list."""

    key: str
    """Stable id the page sends back (e.g. a BLE address, or 'virtual:<preset>')."""
    label: str
    detail: str = ""


SourceFactory = Callable[[str], LiveSource]
"""Opens the live source for a DeviceChoice key."""
Scanner = Callable[[float], Awaitable[list[DeviceChoice]]]
"""Scans for devices for about the given seconds."""


@dataclass(frozen=True)
class DashboardConfig:
    """Everything a dashboard process needs; one value object, documented defaults.

    host/port: where to serve (127.0.0.1 unless asked otherwise; port 0 = any free port).
    token: access token; required (and generated when not given) when serving beyond
        this computer.
    recordings_dir: the folder the recordings picker lists and the recorder writes to.
    open_source: a device key to connect to at start (e.g. the demo's virtual sensor).
    source_factory: opens a LiveSource for a device key (virtual sensor keys are
        handled by dashboard.sources when this is None).
    scanner: BLE scan function for the connection panel; None = no Bluetooth support.
    devices: entries listed before the virtual presets in the device list (e.g. the
        demo's emulated Bluetooth sensor), without a scan.
    connection_note: the connection panel's first message (e.g. which path the demo
        streams through); the scanner's unavailable reason is shown when empty.
    virtual_speed: pacing of the virtual sensor (1.0 = real time; tests go faster).
    replay_file: a file to open in the replay view at start.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    recordings_dir: Path = field(default_factory=lambda: Path("recordings"))
    open_source: str | None = None
    source_factory: SourceFactory | None = None
    scanner: Scanner | None = None
    scanner_unavailable_reason: str = ""
    devices: tuple[DeviceChoice, ...] = ()
    connection_note: str = ""
    virtual_speed: float = 1.0
    replay_file: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    live_interval_ms: int = 20
    """The replay view's pause between self-paced updates: the next one is asked for
    only after the last was handled, so the rate is 1 / (pause + round trip). The live
    view paces itself (dashboard.live_updates)."""
    window_s: float = 15.0
    """Seconds of angles the scrolling chart shows."""
    device_calibration: DeviceCalibration | None = None
    """The sensor's accelerometer calibration (`pelvis-monitor calibrate-device`), applied
    live and saved with each recording."""
