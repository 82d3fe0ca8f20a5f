"""Open an input file for analysis: a recording or a generic IMU CSV, auto-detected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from imu.csv_io import CsvUnits, looks_like_imu_csv, read_imu_csv
from imu.errors import InputFileError
from imu.recording import Annotation, read_recording, is_recording
from imu.samples import SampleBlock


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
    loaded), ignored columns or gaps in a CSV."""
    settings: dict = field(default_factory=dict)
    """Pipeline settings stored with a recording (empty for CSV)."""


def load_input(path: str | Path, csv_units: CsvUnits = CsvUnits(),
               rate_hz: float | None = None) -> LoadedInput:
    """Load a recording (.pmrec) or a generic IMU CSV, whichever the file is."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(str(p), "no such file.", hint="check the path.")
    if p.is_dir():
        raise InputFileError(str(p), "is a folder, not a file.",
                             hint="pass a recording (.pmrec) or an IMU CSV file.")
    if is_recording(p):
        rec = read_recording(p)
        if len(rec.samples) < 2:
            raise InputFileError(str(p), "the recording holds fewer than two samples.",
                                 hint="record for longer.")
        device = rec.header.device.name or rec.header.device.profile
        return LoadedInput(str(p), "recording", rec.samples,
                           float(rate_hz or rec.header.sample_rate_hz), device,
                           list(rec.annotations), list(rec.problems),
                           dict(rec.header.settings))
    if looks_like_imu_csv(p):
        imp = read_imu_csv(p, csv_units, rate_hz=rate_hz)
        return LoadedInput(str(p), "csv", imp.samples, imp.rate_hz, "", [], list(imp.notes))
    raise InputFileError(
        str(p), "is neither a pelvis-monitor recording nor a generic IMU CSV.",
        hint="a CSV needs the header time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z "
             "(see docs/csv-formats.md).")

