"""`pelvis-monitor demo`: analyse a shipped example session (no hardware needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu.inputs import load_input
from imu.pipeline import analyze_samples
from imu.report_text import analysis_summary

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "recordings"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="analyse the shipped example sessions (no sensor needed)",
                       description="Analyse the simulated example sessions shipped in recordings/ "
                                   "and print their reports.")
    p.add_argument("--recordings", default=str(EXAMPLES_DIR), help="folder of example recordings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    files = sorted(Path(args.recordings).glob("*.pmrec"))
    if not files:
        print(f"No example recordings (*.pmrec) in {args.recordings}.")
        return 1
    for f in files:
        loaded = load_input(f)
        print(analysis_summary(loaded, analyze_samples(loaded.samples, loaded.rate_hz)))
        print()
    return 0
