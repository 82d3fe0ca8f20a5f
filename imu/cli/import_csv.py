"""`pelvis-monitor import`: turn a generic IMU CSV into a recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu.cli.common import add_csv_unit_options, csv_units_from_args
from imu.csv_io import read_imu_csv
from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="convert a generic IMU CSV into a recording",
                       description="Convert a generic IMU CSV (see docs/csv-formats.md) into a "
                                   "pelvis-monitor recording. Units are never guessed.")
    p.add_argument("csv", help="generic IMU CSV file")
    p.add_argument("-o", "--output", required=True, metavar="RECORDING", help="recording to write (.pmrec)")
    p.add_argument("--device", default="csv import", help="device name to store (default: 'csv import')")
    p.add_argument("--annotate", action="append", default=[], metavar="TIME_S:TEXT",
                   help="add an annotation, e.g. '12.5:set 2 left leg' (repeatable)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_csv_unit_options(p)
    p.set_defaults(func=run)


def _parse_annotation(text: str) -> tuple[float, str]:
    time_part, sep, note = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(time_part), note.strip()
    except ValueError:
        raise SystemExit(f"pelvis-monitor import: error: --annotate needs TIME_S:TEXT, got {text!r}")


def run(args: argparse.Namespace) -> int:
    notes = [_parse_annotation(a) for a in args.annotate]
    imp = read_imu_csv(args.csv, csv_units_from_args(args), rate_hz=args.rate)
    header = RecordingHeader(
        sample_rate_hz=imp.rate_hz,
        device=DeviceInfo(name=args.device, profile="csv",
                          extra={"source_file": Path(args.csv).name,
                                 "units": {"acc": args.acc_unit, "gyr": args.gyr_unit}}),
        has_mag=imp.samples.mag_uT is not None,
        has_seq=imp.samples.seq is not None,
    )
    with RecordingWriter(args.output, header, overwrite=args.force) as w:
        w.write_samples(imp.samples)
        for t, text in sorted(notes):
            w.write_annotation(t, text)
    print(f"{imp.rows} samples at {imp.rate_hz:.1f} Hz ({imp.gaps} gap(s)) written to {args.output}")
    for n in imp.notes:
        print(f"note: {n}")
    return 0
