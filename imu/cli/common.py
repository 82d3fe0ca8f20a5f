"""Options shared by several subcommands."""

from __future__ import annotations

import argparse

from imu.csv_io import ACC_UNITS, GYR_UNITS, CsvUnits
from imu.device_calibration import DeviceCalibration


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


def add_device_calibration_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device-calibration", metavar="DEVICE.toml",
                   help="the sensor's accelerometer calibration from `pelvis-monitor "
                        "calibrate-device` (once per sensor; truer angles lying down)")


def device_calibration_from_args(args: argparse.Namespace) -> DeviceCalibration | None:
    path = getattr(args, "device_calibration", None)
    return DeviceCalibration.load(path) if path else None
