"""`pelvis-monitor calibrate-device`: the sensor's accelerometer offsets and scales from a
recording of it lying still on each of its six faces (once per device)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu import GRAVITY_MPS2
from imu.cli.common import add_csv_unit_options, csv_units_from_args
from imu.device_calibration import fit_device_calibration, still_poses
from imu.errors import SettingsError
from imu.inputs import load_input


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate-device", help="fit the sensor's accelerometer offsets from six still faces",
        description="Once per sensor: record it (pelvis-monitor record) lying still on a table "
                    "on each of its six faces in turn, about 4 s each, then run this on the "
                    "recording. The file it writes is given to analyze, live and dashboard "
                    "with --device-calibration; lying-down exercises (bridges) then read "
                    "about 2 deg truer on a typical sensor (docs/calibration.md).")
    p.add_argument("input", help="recording (.pmrec) or IMU CSV of the six still faces")
    p.add_argument("-o", "--output", required=True, metavar="DEVICE.toml",
                   help="where to write the device calibration")
    add_csv_unit_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and out.is_dir():
        raise SettingsError(f"{out} is a folder; give a file name such as device.toml.")
    loaded = load_input(args.input, csv_units_from_args(args), rate_hz=args.rate)
    poses = still_poses(loaded.samples, loaded.rate_hz)
    cal = fit_device_calibration(poses)
    mg = 1000.0 / GRAVITY_MPS2
    print(f"{len(poses)} still poses found.")
    print("accelerometer offset (mg):  " + "  ".join(
        f"{ax} {v * mg:+6.1f}" for ax, v in zip("xyz", cal.acc_offset_mps2)))
    print("accelerometer scale (%):    " + "  ".join(
        f"{ax} {(s - 1) * 100:+6.2f}" for ax, s in zip("xyz", cal.acc_scale)))
    if cal.poses > 6:
        print(f"poses agree after the fit to {cal.residual_mg:.1f} mg (RMS)")
    out.write_text(cal.to_toml(), encoding="utf-8")
    print(f"device calibration written to {out}; use it with --device-calibration {out}")
    return 0
