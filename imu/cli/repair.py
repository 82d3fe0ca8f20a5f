"""`pelvis-monitor repair`: cut the damage out of a recording (e.g. after a crash)."""

from __future__ import annotations

import argparse

from imu.recording import repair_recording


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("repair", help="cut a damaged tail or chunk out of a recording",
                       description="Make a damaged recording (a truncated tail after a crash "
                                   "or power loss, a corrupt chunk) intact again, so it can be "
                                   "read strictly and continued with `record --append`. The "
                                   "original is kept next to it as FILE.bak.")
    p.add_argument("recording", help="recording file (.pmrec)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = repair_recording(args.recording)
    if report.backup_path is None:
        print(f"{args.recording}: intact, nothing to repair.")
        return 0
    for problem in report.problems:
        print(f"  found: {problem}")
    print(f"{args.recording}: repaired; kept {report.kept_bytes:,} bytes, left out "
          f"{report.dropped_bytes:,} damaged bytes. The original is saved as "
          f"{report.backup_path}.")
    return 0
