"""CSV interchange formats (CONVENTIONS, "Interchange formats").

- Generic IMU CSV (import): `time_s, acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z`
  and optionally `mag_x, mag_y, mag_z`; SI units unless other units are declared
  explicitly (`g`, `deg/s`). Declared units are checked against the data and the
  import refuses when they do not fit: units are never guessed.
- Angles CSV and orientation CSV (export), plus an IMU CSV writer for round trips.

Parsing is vectorised. The usual file (known columns only, no blank lines) goes
straight to `np.loadtxt` (C parser), which also checks every row's field count;
otherwise a numpy pass over the raw bytes first finds the lines and counts their
fields. The checks (finite values, time order, units) run on whole arrays. Only
when a value does not parse does a slow per-line scan run, to name the exact line.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from imu import GRAVITY_MPS2
from imu.errors import CsvFormatError, SampleDataError, SettingsError, UnitsError
from imu.plausibility import (MAX_ABS_ACC_MPS2, MAX_ABS_GYR_RPS, acc_units_problem,
                              gyr_units_problem, impossible_samples, mag_scale_note,
                              rate_problem)
from imu.recording import MAGIC as RECORDING_MAGIC
from imu.samples import SampleBlock, detect_gaps, nominal_rate_hz

PathLike = str | os.PathLike

# Accepted spellings, exactly: an alias table would be a silent guess.
ACC_UNITS = ("m/s^2", "g")
GYR_UNITS = ("rad/s", "deg/s")
MAG_UNITS = ("uT",)

TIME_COLUMN = "time_s"
ACC_COLUMNS = ("acc_x", "acc_y", "acc_z")
GYR_COLUMNS = ("gyr_x", "gyr_y", "gyr_z")
MAG_COLUMNS = ("mag_x", "mag_y", "mag_z")
REQUIRED_COLUMNS = (TIME_COLUMN, *ACC_COLUMNS, *GYR_COLUMNS)
ANGLES_COLUMNS = ("time_s", "tilt_deg", "obliquity_deg", "rotation_deg")
ORIENTATION_COLUMNS = ("time_s", "w", "x", "y", "z")

# Microseconds keep 1 kHz exact and stay exact for recordings of many hours;
# 9 significant digits are more than any IMU resolves.
TIME_FORMAT = "%.6f"
VALUE_FORMAT = "%.9g"

# The whole file is read into memory (about 6x its size at the peak while parsing):
# 1 GiB is about 22 h at 200 Hz. A bigger file is refused before it is read.
MAX_CSV_BYTES = 1 << 30
# The start of a file that is checked for binary data or a UTF-16/32 encoding.
_SNIFF_BYTES = 4096
# An explicit rate_hz this far from the median interval is worth a note.
RATE_MISMATCH_FRACTION = 0.05

_WRITE_CHUNK_ROWS = 50_000
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\Z", re.IGNORECASE
)


@dataclass(frozen=True)
class CsvUnits:
    """Units of the columns of a generic IMU CSV (spelled exactly as in *_UNITS)."""

    acc: str = "m/s^2"
    gyr: str = "rad/s"
    mag: str = "uT"


@dataclass(frozen=True)
class CsvImport:
    """A parsed generic IMU CSV.

    Attributes:
        samples: the samples in SI units, `gap_before` marked.
        rate_hz: the nominal rate used for gap detection (explicit or from the data).
        path: the file read.
        rows: number of samples (data rows).
        gaps: number of samples preceded by missing data.
        notes: what the user should know about the file, one sentence each:
            ignored columns, skipped blank lines, gaps, a given rate that does not
            match the data, an implausible magnetometer scale. Empty for a clean file.
    """

    samples: SampleBlock
    rate_hz: float
    path: str
    rows: int
    gaps: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- import


def read_imu_csv(path: PathLike, units: CsvUnits = CsvUnits(), *,
                 rate_hz: float | None = None) -> CsvImport:
    """Read a generic IMU CSV into SI samples with gaps marked.

    Raises:
        CsvFormatError: unreadable or empty file, header without the required
            columns, rows with the wrong number of fields, values that are not
            finite numbers, time not strictly increasing, fewer than 2 samples.
        UnitsError: a unit spelled differently from ACC_UNITS/GYR_UNITS/MAG_UNITS,
            or declared units that do not fit the data.
        SettingsError: `rate_hz` not a plausible IMU rate (plausibility.MIN_RATE_HZ to
            MAX_RATE_HZ).
    """
    name = str(path)
    _check_unit_names(name, units)
    if rate_hz is not None:
        if not isinstance(rate_hz, (int, float)) or isinstance(rate_hz, bool):
            raise SettingsError(f"rate_hz must be a number of Hz, got {rate_hz!r}.")
        if rate_problem(float(rate_hz)):
            raise SettingsError(f"rate_hz {rate_hz!r} is not usable: "
                                f"{rate_problem(float(rate_hz))}.")
    notes: list[str] = []

    data = _read_normalised_bytes(name)
    header_end = data.find(b"\n")
    header = data if header_end < 0 else data[:header_end]
    columns = _parse_header(name, header, notes)
    col_names = _wanted_columns(columns)
    values, row_lines = _parse_rows(name, data, header.count(b",") + 1,
                                    [columns[c] for c in col_names], notes)
    _check_finite(name, values, col_names, row_lines)
    if values.shape[0] < 2:
        raise CsvFormatError(
            name, f"only {values.shape[0]} data row(s); at least 2 samples are needed.",
            hint="the file looks truncated; export the recording again.")
    t = values[:, 0].copy()
    _check_time_order(name, t, row_lines)

    rate = float(rate_hz) if rate_hz is not None else nominal_rate_hz(t)
    _check_data_rate(name, rate)
    acc, gyr = values[:, 1:4], values[:, 4:7]
    mag = values[:, 7:10] if values.shape[1] == 10 else None
    _check_acc_units(name, acc, t, rate, units.acc)
    _check_gyr_units(name, gyr, units.gyr)
    acc_mps2, gyr_rps = _to_si(acc, gyr, units)
    _check_ranges(name, acc_mps2, gyr_rps, col_names, values, row_lines)
    if mag is not None and (note := mag_scale_note(mag)):
        notes.append(note)

    gap = detect_gaps(t, rate)
    n_gaps = int(np.count_nonzero(gap))
    _note_rate_and_gaps(t, rate, rate_hz is not None, gap, notes)
    block = SampleBlock(time_s=t, acc_mps2=acc_mps2, gyr_rps=gyr_rps,
                        mag_uT=None if mag is None else mag.copy(), gap_before=gap)
    return CsvImport(samples=block, rate_hz=rate, path=name, rows=len(block),
                     gaps=n_gaps, notes=notes)


def looks_like_imu_csv(path: PathLike) -> bool:
    """True when the first line names the required generic IMU CSV columns.

    Reads only the start of the file; False for unreadable files.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf")
    first = re.split(rb"\r\n|\r|\n", head, maxsplit=1)[0]
    names = {n.strip() for n in first.decode("utf-8", errors="replace").split(",")}
    return set(REQUIRED_COLUMNS) <= names


def _check_unit_names(path: str, units: CsvUnits) -> None:
    for what, value, allowed in (("acc", units.acc, ACC_UNITS), ("gyr", units.gyr, GYR_UNITS),
                                 ("mag", units.mag, MAG_UNITS)):
        if value not in allowed:
            choices = ", ".join(map(repr, allowed))
            hint = (f"pass --{what}-unit with one of {choices} (spelled exactly so)."
                    if len(allowed) > 1 else
                    f"only {choices} is supported; convert the {what} columns to it.")
            raise UnitsError(path, f"{what} unit {value!r} is not supported.", hint=hint)


def not_text_reason(head: bytes) -> tuple[str, str] | None:
    """(problem, hint) when the start of a file shows it is not CSV text in UTF-8, ASCII
    or Latin-1 (a recording, UTF-16/32 text, binary data); None when it may be."""
    if head.startswith(RECORDING_MAGIC[:6]):
        return ("this is a pelvis-monitor recording, not a CSV.",
                "give the recording to analyze, replay or info directly; it needs no import.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
            len(head) >= 4 and head.count(b"\x00") * 3 >= len(head)):
        return ("the file is UTF-16 or UTF-32 encoded text.",
                "save the CSV as UTF-8 (e.g. 'Save As' -> 'CSV UTF-8' in a spreadsheet, "
                "or iconv -f UTF-16 -t UTF-8).")
    control = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    if b"\x00" in head or control > len(head) // 20:
        return ("the file holds binary data, not CSV text.",
                "check that you chose the right file: a generic IMU CSV is plain text "
                f"starting with the header line {','.join(REQUIRED_COLUMNS)}.")
    return None


def _read_normalised_bytes(path: str) -> bytes:
    """The file's bytes without a UTF-8 BOM and with '\\n' line ends only."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
            if (reason := not_text_reason(head)) is not None:
                raise CsvFormatError(path, reason[0], hint=reason[1])
            size = os.fstat(f.fileno()).st_size
            if size > MAX_CSV_BYTES:
                raise CsvFormatError(
                    path, f"the file is {size / 2**30:.3g} GiB; at most "
                          f"{MAX_CSV_BYTES / 2**30:.3g} GiB (about 22 hours at 200 Hz) is "
                          "read into memory.",
                    hint="split it into parts of a few hours, each starting with the header "
                         "line, and analyse them one by one.")
            f.seek(0)
            data = f.read()
    except OSError as exc:
        raise CsvFormatError(path, f"cannot read the file ({exc.strerror or exc}).",
                             hint="check the path and the file permissions.") from exc
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\r" in data:  # CRLF (Windows) or lone CR (old Mac) line ends
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if not data or data.isspace():
        raise CsvFormatError(path, "the file is empty.",
                             hint="export the recording again; a generic IMU CSV starts "
                                  f"with the header line {','.join(REQUIRED_COLUMNS)}.")
    return data


def _parse_rows(path: str, data: bytes, n_fields: int, wanted: list[int],
                notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The wanted fields of all data rows (rows, len(wanted)) and each row's line index."""
    values = _parse_plain_rows(data, n_fields, wanted)
    if values is not None:
        return values, np.arange(1, values.shape[0] + 1)
    starts, ends, fields = _scan_lines(data)
    row_lines = _data_row_lines(path, data, starts, ends, fields, notes)
    return _parse_numbers(path, data, starts, ends, row_lines, wanted), row_lines


def _parse_plain_rows(data: bytes, n_fields: int, wanted: list[int]) -> np.ndarray | None:
    """Fast path for the usual file: only known columns, no blank lines, all valid.

    Here loadtxt itself checks that every row has as many fields as the first and the
    data row k is line k + 1. Returns None for anything else: the careful path then
    handles blank lines and extra columns and names the line of an error.
    """
    header_end = data.find(b"\n")
    end = len(data)
    while end and data[end - 1] == ord("\n"):  # trailing blank lines are harmless
        end -= 1
    if (n_fields != len(wanted) or header_end < 0 or header_end >= end
            or data.find(b"\n\n", 0, end) >= 0):
        return None
    body = io.BytesIO(data)  # shares the buffer: no copy of a large file
    body.seek(header_end + 1)
    try:
        values = np.loadtxt(body, delimiter=",", comments=None, dtype=np.float64, ndmin=2,
                            encoding="latin1")
    except ValueError:
        return None
    if values.shape != (data.count(b"\n", 0, end), n_fields):
        return None
    return values if wanted == list(range(n_fields)) else values[:, wanted]


def _scan_lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (exclusive, without '\\n') and number of fields of every line."""
    buf = np.frombuffer(data, dtype=np.uint8)
    mask = buf == ord("\n")
    ends = np.flatnonzero(mask)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    np.equal(buf, ord(","), out=mask)  # reuse the buffer: these files are large
    commas_before_end = np.searchsorted(np.flatnonzero(mask), ends)
    fields = np.diff(commas_before_end, prepend=0) + 1
    return starts, ends, fields


def _parse_header(path: str, line: bytes, notes: list[str]) -> dict[str, int]:
    """Map each used column name to its field index; unknown columns go to notes."""
    names = [n.strip() for n in line.decode("utf-8", errors="replace").split(",")]
    index: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in index and (n in REQUIRED_COLUMNS or n in MAG_COLUMNS):
            raise CsvFormatError(
                path, f"column {n!r} appears twice in the header (fields {index[n] + 1} "
                      f"and {i + 1}).", line=1, hint="remove or rename one of them.")
        index.setdefault(n, i)
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        no_header = all(_NUMBER.match(n) for n in names)
        hint = ("the first line must be the header; add the line "
                f"{','.join(REQUIRED_COLUMNS)} (plus mag_x,mag_y,mag_z if present)."
                if no_header else
                f"the header must name {', '.join(REQUIRED_COLUMNS)} (mag_x, mag_y, mag_z "
                "optional, any order); rename the columns.")
        shown = ", ".join(repr(n[:40]) for n in names[:12]) + (
            f" and {len(names) - 12} more" if len(names) > 12 else "")
        raise CsvFormatError(
            path, f"missing column(s) {', '.join(missing)}; the header has: {shown}.",
            line=1, hint=hint)
    mag_found = [c for c in MAG_COLUMNS if c in index]
    if mag_found and len(mag_found) < 3:
        raise CsvFormatError(
            path, f"only {', '.join(mag_found)} of the magnetometer columns is present.",
            line=1, hint="give all three of mag_x, mag_y, mag_z or none of them.")
    known = set(REQUIRED_COLUMNS) | set(MAG_COLUMNS)
    extra = [n if n else f"(unnamed field {i + 1})" for i, n in enumerate(names)
             if n not in known]
    if extra:
        notes.append(f"ignored unknown column(s): {', '.join(extra)}.")
    return {n: i for n, i in index.items() if n in known}


def _wanted_columns(columns: dict[str, int]) -> list[str]:
    """The column names to load, in SampleBlock order."""
    names = list(REQUIRED_COLUMNS)
    if MAG_COLUMNS[0] in columns:
        names += MAG_COLUMNS
    return names


def _data_row_lines(path: str, data: bytes, starts: np.ndarray, ends: np.ndarray,
                    fields: np.ndarray, notes: list[str]) -> np.ndarray:
    """Line indices (0-based) of the data rows; checks each row's number of fields."""
    n_fields = int(fields[0])
    lines = np.arange(1, len(starts))
    wrong = lines[fields[1:] != n_fields]
    # A line without a comma may be blank (allowed, skipped): check those in Python.
    blank = np.array([i for i in wrong[fields[wrong] == 1]
                      if not data[starts[i]:ends[i]].strip()], dtype=np.int64)
    if len(wrong) > len(blank):
        bad = int(np.setdiff1d(wrong, blank, assume_unique=True)[0])
        raise CsvFormatError(
            path, f"this row has {int(fields[bad])} field(s) but the header has {n_fields}.",
            line=bad + 1,
            hint="every row needs one value per header column, separated by commas "
                 "(quoted fields and commas inside values are not supported).")
    if len(blank):
        lines = np.setdiff1d(lines, blank, assume_unique=True)
        inner = int(np.count_nonzero(blank < lines[-1])) if len(lines) else 0
        if inner:  # blank lines at the end are normal and not worth a note
            notes.append(f"skipped {inner} blank line(s) between data rows.")
    return lines


def _parse_numbers(path: str, data: bytes, starts: np.ndarray, ends: np.ndarray,
                   row_lines: np.ndarray, wanted: list[int]) -> np.ndarray:
    """The wanted fields of the data rows as float64 (rows, len(wanted))."""
    if len(row_lines) == 0:
        return np.zeros((0, len(wanted)))
    if len(row_lines) == len(starts) - 1:  # no blank lines: parse in place, no copy
        body = io.BytesIO(data)
        body.seek(int(starts[1]))
    else:
        body = io.BytesIO(b"\n".join(data[starts[i]:ends[i]] for i in row_lines))
    try:
        values = np.loadtxt(body, delimiter=",", comments=None, usecols=wanted,
                            dtype=np.float64, ndmin=2, encoding="latin1")
    except ValueError as exc:
        _raise_first_bad_value(path, data, starts, ends, row_lines, wanted, exc)
        raise  # unreachable: the scan above always raises
    if values.shape[0] != len(row_lines):  # loadtxt skipped something we did not expect
        raise CsvFormatError(path, f"read {values.shape[0]} rows, expected {len(row_lines)}.",
                             hint="remove unusual lines (comments, control characters).")
    return values


def _raise_first_bad_value(path: str, data: bytes, starts: np.ndarray, ends: np.ndarray,
                           row_lines: np.ndarray, wanted: list[int], exc: ValueError) -> None:
    """Slow path: find and report the field that is not a number.

    loadtxt's message names the failing row; those few lines are checked first, so a
    bad value near the end of a long file is named without scanning it all in Python.
    """
    header = [n.strip() for n in data[starts[0]:ends[0]].decode("utf-8", "replace").split(",")]
    hinted = re.search(r"at row (\d+)", str(exc))
    near = (row_lines[max(0, int(hinted[1]) - 2):int(hinted[1]) + 3] if hinted
            else row_lines[:0])
    for i in np.concatenate([near, row_lines]):
        parts = data[starts[i]:ends[i]].decode("utf-8", errors="replace").split(",")
        for c in wanted:
            text = parts[c].strip()
            if not _NUMBER.match(text):
                what = "is empty" if not text else f"is not a number: {text[:40]!r}"
                raise CsvFormatError(
                    path, f"{header[c]} {what}.", line=int(i) + 1,
                    hint="write plain decimal numbers with '.' as the decimal point; "
                         "leave out rows with missing values (the gap is detected from time_s).")
    raise CsvFormatError(path, f"a value could not be read as a number ({exc}).",
                         hint="write plain decimal numbers with '.' as the decimal point.")


def _check_finite(path: str, values: np.ndarray, names: list[str],
                  row_lines: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        col = int(np.argmax(bad[row]))
        raise CsvFormatError(
            path, f"{names[col]} is {float(values[row, col])!r}.", line=int(row_lines[row]) + 1,
            hint="every value must be a finite number; leave out rows with missing values "
                 "(the gap is detected from time_s).")


def _check_time_order(path: str, t: np.ndarray, row_lines: np.ndarray) -> None:
    dt = np.diff(t)
    bad = ~(dt > 0)
    if bad.any():
        i = int(np.argmax(bad))
        kind = "a repeated time" if dt[i] == 0 else "time going back"
        raise CsvFormatError(
            path, f"time_s is {float(t[i + 1])!r} s after {float(t[i])!r} s on line "
                  f"{int(row_lines[i]) + 1} ({kind}); time must increase strictly.",
            line=int(row_lines[i + 1]) + 1,
            hint="sort the rows by time_s and remove duplicated rows.")


# --------------------------------------------------------------------------- plausibility


def _check_data_rate(path: str, rate_hz: float) -> None:
    if (problem := rate_problem(rate_hz)) is not None:
        raise CsvFormatError(
            path, f"{problem} (from the median interval of time_s).",
            hint="time_s must be in seconds (time in milliseconds reads 1000x too slow); "
                 "convert the time column, or pass --rate if the rate is right.")


def _check_ranges(path: str, acc_mps2: np.ndarray, gyr_rps: np.ndarray, names: list[str],
                  values: np.ndarray, row_lines: np.ndarray) -> None:
    """Refuse values no IMU can read (corrupt rows, or a unit far from the declared one)."""
    bad = impossible_samples(acc_mps2, gyr_rps)
    if bad.any():
        row = int(np.argmax(bad))
        over = np.concatenate([np.abs(acc_mps2[row]) > MAX_ABS_ACC_MPS2,
                               np.abs(gyr_rps[row]) > MAX_ABS_GYR_RPS])
        col = 1 + int(np.argmax(over))
        raise CsvFormatError(
            path, f"{names[col]} is {float(values[row, col]):.6g}, beyond what any IMU "
                  f"reads (+-{MAX_ABS_ACC_MPS2:g} m/s^2, +-{MAX_ABS_GYR_RPS:g} rad/s); "
                  f"{int(np.count_nonzero(bad))} row(s) are like this.",
            line=int(row_lines[row]) + 1,
            hint="remove the damaged rows (the gap is detected from time_s), or check the "
                 "column units.")


def _check_acc_units(path: str, acc: np.ndarray, t: np.ndarray, rate_hz: float,
                     declared: str) -> None:
    """Refuse when |acc| at rest is not gravity in the declared unit."""
    found = acc_units_problem(acc, t, rate_hz, declared)
    if found is None:
        return
    seen, other = found
    if other is not None:
        raise UnitsError(path, f"{seen}: the acc columns look like {other}, not {declared}.",
                         hint=f"pass --acc-unit {other} (CsvUnits(acc={other!r})).")
    raise UnitsError(path, f"{seen}, and it is far from gravity in the other unit too.",
                     hint="the acc columns must hold the accelerometer's specific force "
                          "including gravity, in m/s^2 or g; check the export "
                          "(gravity-removed or scaled data cannot be used).")


def _check_gyr_units(path: str, gyr: np.ndarray, declared: str) -> None:
    """Refuse rad/s data whose rates only a deg/s reading explains."""
    if (problem := gyr_units_problem(gyr, declared)) is not None:
        raise UnitsError(path, problem + ".", hint="pass --gyr-unit deg/s (CsvUnits(gyr='deg/s')).")


def _to_si(acc: np.ndarray, gyr: np.ndarray, units: CsvUnits) -> tuple[np.ndarray, np.ndarray]:
    if units.acc == "g":
        acc = acc * GRAVITY_MPS2
    if units.gyr == "deg/s":
        gyr = np.deg2rad(gyr)
    return np.ascontiguousarray(acc), np.ascontiguousarray(gyr)


def _note_rate_and_gaps(t: np.ndarray, rate_hz: float, explicit: bool, gap: np.ndarray,
                        notes: list[str]) -> None:
    measured = nominal_rate_hz(t)
    if explicit and abs(measured - rate_hz) > RATE_MISMATCH_FRACTION * rate_hz:
        notes.append(f"the given rate {rate_hz:.6g} Hz differs from the median sample "
                     f"interval's {measured:.6g} Hz; gaps are judged by the given rate.")
    idx = np.flatnonzero(gap)
    if len(idx):
        lengths = t[idx] - t[idx - 1]
        j = int(np.argmax(lengths))
        notes.append(f"{len(idx)} gap(s) in time_s; the longest interval is {lengths[j]:.4g} s, "
                     f"before {t[idx[j]]:.6g} s.")


# --------------------------------------------------------------------------- export


def write_imu_csv(path: PathLike, block: SampleBlock) -> None:
    """Write samples as a generic IMU CSV in SI units (mag columns only if present).

    `gap_before` and `seq` are not written: a reader re-derives gaps from time_s.
    """
    cols = [block.time_s[:, None], block.acc_mps2, block.gyr_rps]
    names = list(REQUIRED_COLUMNS)
    if block.mag_uT is not None:
        cols.append(block.mag_uT)
        names += MAG_COLUMNS
    table = np.hstack(cols)
    bad = ~np.isfinite(table)
    if bad.any():  # the reader refuses these, so a round trip would fail later
        row = int(np.argmax(bad.any(axis=1)))
        col = int(np.argmax(bad[row]))
        raise SampleDataError(f"{names[col]} of sample {row} is {float(table[row, col])!r}; "
                              "an IMU CSV holds finite values only.")
    _write_table(path, names, table, blank_nan=False)


def write_angles_csv(path: PathLike, time_s: np.ndarray, tilt_deg: np.ndarray,
                     obliquity_deg: np.ndarray, rotation_deg: np.ndarray) -> None:
    """Write pelvic angles in degrees, one row per sample; withheld angles (NaN) as empty fields."""
    table = _columns_table("angles", ANGLES_COLUMNS,
                           [time_s, tilt_deg, obliquity_deg, rotation_deg])
    _write_table(path, ANGLES_COLUMNS, table, blank_nan=True)


def write_orientation_csv(path: PathLike, time_s: np.ndarray, quat_wxyz: np.ndarray) -> None:
    """Write the sensor orientation (sensor to earth, w first); unknown (NaN) as empty fields."""
    q = np.asarray(quat_wxyz, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 4:
        raise SampleDataError(f"quat_wxyz must have shape (N, 4), got {q.shape}.")
    table = _columns_table("orientation", ORIENTATION_COLUMNS, [time_s, *q.T])
    _write_table(path, ORIENTATION_COLUMNS, table, blank_nan=True)


def _columns_table(what: str, names: Sequence[str], columns: list[np.ndarray]) -> np.ndarray:
    """Stack 1-D columns of one length into (N, k); time must be finite, values not inf."""
    arrays = [np.asarray(c, dtype=np.float64).reshape(-1) for c in columns]
    n = arrays[0].shape[0]
    for name, a in zip(names, arrays):
        if a.shape[0] != n:
            raise SampleDataError(f"{what} CSV: {name} has {a.shape[0]} entries, "
                                  f"time_s has {n}.")
    table = np.column_stack(arrays) if n else np.zeros((0, len(arrays)))
    if not np.isfinite(table[:, 0]).all():
        raise SampleDataError(f"{what} CSV: time_s must be finite.")
    if np.isinf(table).any():
        row = int(np.argmax(np.isinf(table).any(axis=1)))
        raise SampleDataError(f"{what} CSV: sample {row} holds an infinite value.")
    return table


def _write_table(path: PathLike, names: Sequence[str], table: np.ndarray,
                 blank_nan: bool) -> None:
    """Write a header and rows: time as TIME_FORMAT, the rest as VALUE_FORMAT.

    One '%' over a whole chunk of rows runs the float formatting in C without a
    Python call per row (about 2x faster than np.savetxt).
    """
    row_fmt = ",".join([TIME_FORMAT] + [VALUE_FORMAT] * (table.shape[1] - 1)) + "\n"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(names) + "\n")
        for s in range(0, table.shape[0], _WRITE_CHUNK_ROWS):
            chunk = table[s:s + _WRITE_CHUNK_ROWS]
            text = (row_fmt * chunk.shape[0]) % tuple(chunk.ravel().tolist())
            if blank_nan:  # '%g' writes NaN as 'nan'; no other output contains 'nan'
                text = text.replace("nan", "")
            f.write(text)
