"""Options shared by several subcommands."""

from __future__ import annotations

import argparse

from imu.csv_io import ACC_UNITS, GYR_UNITS, CsvUnits


def add_csv_unit_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CSV input units (never guessed: the import refuses units that do not fit)")
    g.add_argument("--acc-unit", choices=ACC_UNITS, default=ACC_UNITS[0],
                   help="accelerometer unit of a CSV input (default m/s^2)")
    g.add_argument("--gyr-unit", choices=GYR_UNITS, default=GYR_UNITS[0],
                   help="gyroscope unit of a CSV input (default rad/s)")
    g.add_argument("--rate", type=float, metavar="HZ",
                   help="nominal sample rate (default: from the file)")


def csv_units_from_args(args: argparse.Namespace) -> CsvUnits:
    return CsvUnits(acc=args.acc_unit, gyr=args.gyr_unit)
