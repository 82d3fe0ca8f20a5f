"""`pelvis-monitor report FILE -o report.html [--csv out.csv]`: the session report."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="session report as self-contained HTML (and CSV)",
                       description="Analyse a recording or IMU CSV and write the session "
                                   "report: per segment and side, strides or reps, CPD and "
                                   "rep metrics (mean and SD), variability, flags. The HTML "
                                   "has its plots inlined and opens offline.")
    p.add_argument("file", help="recording (.pmrec) or generic IMU CSV")
    p.add_argument("-o", "--output", required=True, metavar="REPORT.html", help="HTML file to write")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the summary as CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dashboard.replay import analyse_file
    from dashboard.report import build_report, report_csv, report_html

    path = Path(args.file)
    print(f"analysing {path} ...", flush=True)
    data = analyse_file(path, path.name)
    report = build_report(data)
    Path(args.output).write_text(report_html(report, data), encoding="utf-8")
    print(f"report written to {args.output}")
    if args.csv:
        Path(args.csv).write_text(report_csv(report), encoding="utf-8")
        print(f"summary CSV written to {args.csv}")
    return 0
