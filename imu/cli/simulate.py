"""`pelvis-monitor simulate`: a virtual sacral IMU session -> recording (+ truth, CSV)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from imu.errors import SettingsError
from imu.samples import SampleBlock

if TYPE_CHECKING:  # the simulator pulls in SciPy: import it only when simulating
    from imu.simulate.session import SimulationResult

# Simulated recordings carry a fixed creation time, so one seed gives the same bytes.
SIMULATED_CREATED_UTC = "2000-01-01T00:00:00+00:00"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a session with a virtual sacral IMU",
        description="Simulate a session (a preset or a TOML/JSON session script) with a "
                    "virtual sacral IMU: writes a recording as a real sensor would, and "
                    "optionally the ground truth (angles, events, reps, per-stance CPD).",
        epilog="Example: pelvis-monitor simulate postpartum-rehab-session -o s.pmrec "
               "--truth truth/")
    p.add_argument("script", nargs="?", metavar="SCRIPT_OR_PRESET",
                   help="preset name (see --list-presets) or a .toml/.json session script")
    p.add_argument("-o", "--output", metavar="RECORDING", help="recording file to write (.pmrec)")
    p.add_argument("--truth", metavar="DIR",
                   help="also write the ground truth here (angles.csv, events.json, ...)")
    p.add_argument("--csv", metavar="FILE", help="also write the samples as a generic IMU CSV")
    p.add_argument("--seed", type=int, help="random seed (default: the script's)")
    p.add_argument("--mounting", metavar="NAME",
                   help="sensor mounting: random, upright, clip, clip-tilted, upside-down, ... "
                        "(see docs/simulator.md; default: the script's)")
    p.add_argument("--errors", metavar="PRESET", help="sensor errors: none, typical or poor")
    p.add_argument("--duration-scale", type=float, default=1.0, metavar="X",
                   help="scale durations, holds and rests (not rep counts; standing keeps "
                        ">= 5 s), e.g. 0.2 for a quick run")
    p.add_argument("--no-annotations", action="store_true",
                   help="do not write segment names as annotations into the recording")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imu.simulate.presets import preset_names, preset_summary
    from imu.simulate.session import simulate
    from imu.simulate.synthesis import MOUNTING_NAMES

    if args.list_presets:
        for name in preset_names():
            print(f"{name:28s} {preset_summary(name)}")
        return 0
    if not args.script:
        raise SettingsError("give a preset name or a session script (or --list-presets).")
    if not (args.output or args.truth or args.csv):
        raise SettingsError("nothing to write: give -o RECORDING and/or --truth DIR / --csv FILE.")
    if args.mounting is not None and args.mounting not in MOUNTING_NAMES:
        raise SettingsError(f"--mounting must be one of {', '.join(MOUNTING_NAMES)}.")
    if not args.duration_scale > 0:
        raise SettingsError(f"--duration-scale must be > 0, got {args.duration_scale}.")
    for path in (args.output, args.csv):
        if path and Path(path).exists() and not args.overwrite:
            raise SettingsError(f"{path} exists; use --overwrite to replace it.")
    result = simulate(args.script, seed=args.seed, mounting=args.mounting,
                      duration_scale=args.duration_scale, errors=args.errors)
    if args.output:
        write_recording(result, args.output, overwrite=args.overwrite,
                        annotations=not args.no_annotations)
    if args.csv:
        from imu.csv_io import write_imu_csv
        write_imu_csv(args.csv, result.block)
    if args.truth:
        result.write_truth(args.truth)
    _summary(result, args)
    return 0


def write_recording(result: SimulationResult, path: str | Path, *, overwrite: bool = False,
                    annotations: bool = True) -> None:
    """Write the delivered samples as a recording; segment names become annotations.

    The writer gets a constant clock (no time-based flushes) and a fixed creation time,
    so the file's bytes depend on the simulation only.
    """
    from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter

    header = RecordingHeader(
        sample_rate_hz=result.rate_hz,
        device=DeviceInfo(name="virtual", profile="virtual", firmware="simulated"),
        has_mag=False, has_seq=True, created_utc=SIMULATED_CREATED_UTC,
        settings=result.recording_settings())
    block = result.block
    marks = []
    if annotations:
        marks = [(s["start_s"], s["name"]) for s in result.truth.events["segments"]
                 if s["type"] not in ("set", "transition")]
    with RecordingWriter(path, header, overwrite=overwrite, clock=lambda: 0.0,
                         flush_interval_s=1e9) as writer:
        start = 0
        for t_mark, text in marks:
            stop = int(block.time_s.searchsorted(t_mark, side="left"))
            if stop > start:
                writer.write_samples(block.slice(start, stop))
                start = stop
            writer.write_annotation(_annotation_time(block, start, t_mark), text)
        if start < len(block):
            writer.write_samples(block.slice(start, len(block)))


def _annotation_time(block: SampleBlock, next_index: int, t_mark: float) -> float:
    # An annotation sits on the sample clock; keep it inside the recorded span.
    if len(block) == 0:
        return 0.0
    return float(max(min(t_mark, block.time_s[-1]), block.time_s[0]))


def _summary(result: SimulationResult, args: argparse.Namespace) -> None:
    info = result.truth.info
    ev = result.truth.events
    lines = [
        f"simulated '{result.script.name}' (seed {result.seed}): {result.motion.duration_s:.1f} s, "
        f"{info['n_samples_delivered']} samples at {result.rate_hz:g} Hz, "
        f"{info['n_samples_lost']} lost in {info['n_gaps']} gap(s)",
        f"  truth: {len(ev['initial_contacts'])} initial contacts, {len(ev['strides'])} stances, "
        f"{len(ev['reps'])} reps, {len(ev['hinges'])} calibration hinges",
    ]
    if args.output:
        lines.append(f"  recording: {args.output}")
    if args.truth:
        lines.append(f"  truth: {args.truth}/ (angles.csv, orientation.csv, sample_times.csv, "
                     "events.json, truth.json)")
    if args.csv:
        lines.append(f"  samples CSV: {args.csv}")
    print("\n".join(lines), file=sys.stdout)

