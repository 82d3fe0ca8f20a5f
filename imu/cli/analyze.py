"""`pelvis-monitor analyze`: run a recording or CSV through the pipeline and report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from imu.cli.common import (add_csv_unit_options, add_device_calibration_option,
                            csv_units_from_args, device_calibration_from_args)
from imu.cli.progress import progress_printer
from imu.csv_io import write_angles_csv, write_orientation_csv
from imu.fusion import DEFAULT_FILTER, FILTER_NAMES, FusionSettings
from imu.inputs import load_input
from imu.pipeline import Analysis, PipelineSettings, analyze_samples
from imu.report_text import analysis_summary
from imu.calibration import CalibrationSettings
from imu.events.model import EXERCISES
from imu.events.model import events_document as conventions_events
from imu.events.profile import baseline_from_reps, baseline_toml, load_profile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="analyse a recording or IMU CSV into pelvic angles",
        description="Run a recording (.pmrec) or a generic IMU CSV (auto-detected) through "
                    "fusion, calibration and pelvic angles; print a summary and export.")
    p.add_argument("input", help="recording (.pmrec) or generic IMU CSV")
    p.add_argument("--filter", choices=FILTER_NAMES, default=DEFAULT_FILTER,
                   help=f"orientation filter (default: {DEFAULT_FILTER}, the most accurate "
                        "on the BROAD benchmark)")
    p.add_argument("--mag", action="store_true", help="use the magnetometer (9D fusion)")
    p.add_argument("--angles", metavar="OUT.csv", help="write tilt/obliquity/rotation per sample")
    p.add_argument("--orientation", metavar="OUT.csv", help="write the fused orientation per sample")
    p.add_argument("--events", metavar="OUT.json", help="write calibration, events and flags as JSON")
    p.add_argument("--exercise", choices=("auto",) + EXERCISES, default="auto",
                   help="what the session is (default auto: found from the movement)")
    p.add_argument("--profile", metavar="PROFILE.toml",
                   help="your limits for the flags (and personal baseline); see docs/events.md")
    p.add_argument("--save-baseline", metavar="OUT.toml",
                   help="write this session's reps as your personal baseline (use a session "
                        "of good reps)")
    p.add_argument("--no-hinges", action="store_true",
                   help="ignore hip hinges; take the anterior axis from gait only")
    add_device_calibration_option(p)
    add_csv_unit_options(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    return PipelineSettings(
        fusion=FusionSettings(filter_name=args.filter, use_mag=args.mag),
        calibration=CalibrationSettings(use_hinges=not args.no_hinges),
        exercise=args.exercise,
        device=device_calibration_from_args(args),
    )


def events_document(analysis: Analysis) -> dict:
    """The events JSON of CONVENTIONS, plus calibration, segments, variability and gaps."""
    gaps = [
        {"start_s": float(analysis.time_s[i - 1]), "end_s": float(analysis.time_s[i])}
        for i in np.flatnonzero(analysis.gap_before) if i > 0
    ]
    doc = {
        "calibration": analysis.alignment.to_dict() if analysis.alignment else None,
        "calibration_message": analysis.message,
        "exercise_mode": analysis.settings.exercise,
    }
    doc.update(conventions_events(list(analysis.events)))
    doc["gaps"] = gaps
    return doc


def run(args: argparse.Namespace) -> int:
    loaded = load_input(args.input, csv_units_from_args(args), rate_hz=args.rate)
    settings = settings_from_args(args)
    profile = load_profile(args.profile) if args.profile else None
    analysis = analyze_samples(loaded.samples, loaded.rate_hz, settings,
                               progress=progress_printer("analysing"), profile=profile)
    print(analysis_summary(loaded, analysis))
    if args.angles:
        write_angles_csv(args.angles, analysis.time_s, analysis.tilt_deg,
                         analysis.obliquity_deg, analysis.rotation_deg)
        print(f"angles written to {args.angles}")
    if args.orientation:
        write_orientation_csv(args.orientation, analysis.time_s, analysis.quat_wxyz)
        print(f"orientation written to {args.orientation}")
    if args.events:
        Path(args.events).write_text(json.dumps(events_document(analysis), indent=1))
        print(f"events written to {args.events}")
    if args.save_baseline:
        from imu.events.model import Rep
        base = baseline_from_reps([e for e in analysis.events if isinstance(e, Rep)])
        if not base:
            print("No baseline written: it needs at least 3 reps of an exercise per side.")
            return 1
        Path(args.save_baseline).write_text(baseline_toml(base), encoding="utf-8")
        print(f"personal baseline written to {args.save_baseline}")
    return 0
