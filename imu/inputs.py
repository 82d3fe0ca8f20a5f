"""Open an input file for analysis: a recording or a generic IMU CSV, auto-detected."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imu.csv_io import CsvUnits, looks_like_imu_csv, not_text_reason, read_imu_csv
from imu.errors import InputFileError, RecordingError, SettingsError, UnitsError
from imu.plausibility import (acc_units_problem, gyr_units_problem, impossible_samples,
                              rate_problem)
from imu.recording import MAGIC as RECORDING_MAGIC
from imu.recording import Annotation, Recording, read_recording
from imu.samples import SampleBlock

# A recording is loaded whole for analysis (about 4x its size as float64 samples, more
# for the pipeline's outputs): 256 MiB is about 23 hours at 200 Hz
# (docs/recording-format.md: 16.2 bytes per sample). A bigger file is refused unread.
MAX_RECORDING_BYTES = 256 << 20
_RECORDING_UNITS_HINT = ("recordings hold SI units (m/s^2, rad/s), so the device profile "
                         "that wrote this one converted its values wrongly; report it as a "
                         "bug, with the file.")


@dataclass(frozen=True)
class LoadedInput:
    """Samples and what is known about where they came from."""

    path: str
    kind: str
    """"recording" or "csv"."""
    samples: SampleBlock
    rate_hz: float
    device: str = ""
    annotations: list[Annotation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the reader noticed: damage in a recording (the readable part is still
    loaded), samples left out, ignored columns or gaps in a CSV."""
    settings: dict = field(default_factory=dict)
    """Pipeline settings stored with a recording (empty for CSV)."""


def load_input(path: str | Path, csv_units: CsvUnits = CsvUnits(),
               rate_hz: float | None = None) -> LoadedInput:
    """Load a recording (.pmrec) or a generic IMU CSV, whichever the file is (by its
    content, not its suffix).

    Raises InputFileError (or a subclass) for a file that cannot be analysed: missing,
    empty, too big, neither format, unreadable, units that do not fit, fewer than two
    usable samples; SettingsError for a `rate_hz` no IMU has.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(str(p), "no such file.", hint="check the path.")
    if p.is_dir():
        raise InputFileError(str(p), "is a folder, not a file.",
                             hint="pass a recording (.pmrec) or an IMU CSV file.")
    if rate_hz is not None and (problem := rate_problem(float(rate_hz))) is not None:
        raise SettingsError(f"the given rate (--rate) cannot be right: {problem}.")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(4096)
    except OSError as exc:
        raise InputFileError(str(p), f"cannot read the file ({exc.strerror or exc}).",
                             hint="check the file permissions.") from None
    if size == 0:
        raise InputFileError(str(p), "the file is empty.",
                             hint="nothing was recorded or exported into it; choose another file.")
    if head.startswith(RECORDING_MAGIC):
        return _load_recording(p, size, rate_hz)
    if looks_like_imu_csv(p):
        imp = read_imu_csv(p, csv_units, rate_hz=rate_hz)
        return LoadedInput(str(p), "csv", imp.samples, imp.rate_hz, "", [], list(imp.notes))
    reason = not_text_reason(head)
    raise InputFileError(
        str(p), "is neither a pelvis-monitor recording nor a generic IMU CSV"
                + (f": {reason[0]}" if reason else " (no IMU CSV header line)."),
        hint=reason[1] if reason else
        "a CSV needs the header time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z "
        "(see docs/csv-formats.md).")


def _load_recording(p: Path, size: int, rate_hz: float | None) -> LoadedInput:
    if size > MAX_RECORDING_BYTES:
        raise RecordingError(
            str(p), f"the recording is {size / 2**20:.0f} MiB; at most "
                    f"{MAX_RECORDING_BYTES >> 20} MiB (about 23 hours at 200 Hz) is analysed "
                    "in memory.", hint="record long sessions as several files.")
    rec = read_recording(p)
    rate = float(rate_hz or rec.header.sample_rate_hz)
    if (problem := rate_problem(rate)) is not None:
        raise RecordingError(str(p), f"{problem} (from its header).",
                             hint="pass --rate with the sensor's real sample rate.")
    samples, notes = _usable_samples(rec)
    if len(samples) < 2:
        raise InputFileError(str(p), "the recording holds fewer than two usable samples.",
                             hint="record for longer.")
    _check_recording_units(str(p), samples, rate)
    device = rec.header.device.name or rec.header.device.profile
    return LoadedInput(str(p), "recording", samples, rate, device, list(rec.annotations),
                       notes, dict(rec.header.settings))


def _usable_samples(rec: Recording) -> tuple[SampleBlock, list[str]]:
    """The samples without those no sensor can produce (NaN, inf, absurd values), which a
    damaged device or file may hold; the sample after each left-out run starts a gap."""
    s, notes = rec.samples, list(rec.problems)
    bad = impossible_samples(s.acc_mps2, s.gyr_rps)
    if not bad.any():
        return s, notes
    keep = ~bad
    gap = s.gap_before.copy()
    gap[1:] |= bad[:-1]  # the sample after a left-out one follows missing data
    first = float(s.time_s[int(np.argmax(bad))])
    notes.append(f"left out {int(bad.sum())} sample(s) with NaN, infinite or impossible "
                 f"values (the first at {first:.3f} s); they count as gaps.")
    return SampleBlock(s.time_s[keep], s.acc_mps2[keep], s.gyr_rps[keep],
                       None if s.mag_uT is None else s.mag_uT[keep],
                       None if s.seq is None else s.seq[keep], gap[keep]), notes


def _check_recording_units(path: str, s: SampleBlock, rate_hz: float) -> None:
    found = acc_units_problem(s.acc_mps2, s.time_s, rate_hz, "m/s^2")
    if found is not None:
        seen, other = found
        looks = f": the values look like {other}" if other else ""
        raise UnitsError(path, f"{seen}{looks}.", hint=_RECORDING_UNITS_HINT)
    if (problem := gyr_units_problem(s.gyr_rps, "rad/s")) is not None:
        raise UnitsError(path, problem + ".", hint=_RECORDING_UNITS_HINT)
