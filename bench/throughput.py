"""End-to-end `analyze` throughput on a 1-hour, 200 Hz session.

Prints samples per second and peak memory of `pelvis-monitor analyze` (a fresh
process, as a user runs it) on a recording and on the same data as CSV, and the
ratio against a plain per-sample `ahrs` Madgwick loop over the same samples.
Target: the whole analysis of the hour in under 2 s.

    python -m bench.throughput [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from imu.simulate.script import CALIBRATION_TOML

RATE_HZ = 200.0


SESSION_TOML = ("""
name = "throughput-hour"
description = "Calibration, then walking and running for the rest of the hour."
seed = 1

[sensor]
rate_hz = 200
mounting = "random"
errors = "typical"
""" + CALIBRATION_TOML + """
[[segment]]
type = "walk"
duration_s = {walk_s}
speed_mps = 1.4

[[segment]]
type = "run"
duration_s = {run_s}
speed_mps = 3.2
cpd_left_deg = 5
cpd_right_deg = 8
turn_every_s = 120
""")


def make_session(minutes: float, path_rec: Path, path_csv: Path) -> int:
    """Simulate a long walk-and-run session with the project's virtual sensor."""
    total = minutes * 60.0
    walk = max(30.0, 0.1 * total)
    script = path_rec.with_suffix(".toml")
    script.write_text(SESSION_TOML.format(walk_s=f"{walk:.0f}", run_s=f"{max(30.0, total - walk - 35.0):.0f}"))
    from imu.cli.main import main as cli
    rc = cli(["simulate", str(script), "-o", str(path_rec), "--csv", str(path_csv), "--overwrite"])
    if rc:
        raise SystemExit(f"simulate failed with exit code {rc}")
    from imu.recording import read_recording
    return len(read_recording(path_rec).samples)


def timed_analyze(path: Path) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of `pelvis-monitor analyze` in a fresh process."""
    # Peak RSS from VmHWM: ru_maxrss would carry over the parent's peak across fork+exec.
    code = (
        "import sys, time; t0 = time.perf_counter(); from imu.cli.main import main; "
        f"rc = main(['analyze', {str(path)!r}]); dt = time.perf_counter() - t0; "
        "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
        "print('__T__', dt, hwm); sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("__T__")][0].split()
    return float(line[1]), float(line[2]) / 1024.0


def madgwick_loop_s(path: Path) -> float:
    """The reference: a plain per-sample ahrs Madgwick loop over the same samples."""
    from ahrs.filters import Madgwick
    from imu.recording import read_recording
    s = read_recording(path).samples
    f = Madgwick(frequency=RATE_HZ)
    q = np.array([1.0, 0.0, 0.0, 0.0])
    t0 = time.perf_counter()
    for g, a in zip(s.gyr_rps, s.acc_mps2):
        q = f.updateIMU(q, gyr=g, acc=a)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rec, csv = Path(tmp) / "hour.pmrec", Path(tmp) / "hour.csv"
        t0 = time.perf_counter()
        n = make_session(args.minutes, rec, csv)
        print(f"simulated {n} samples ({args.minutes:g} min at {RATE_HZ:g} Hz) in {time.perf_counter() - t0:.1f} s; "
              f"recording {rec.stat().st_size / 1e6:.1f} MB, CSV {csv.stat().st_size / 1e6:.1f} MB")
        rows = []
        for label, path in (("analyze recording", rec), ("analyze CSV", csv)):
            wall, rss = timed_analyze(path)
            rows.append((label, wall, n / wall, rss))
        ref = madgwick_loop_s(rec)
        rows.append(("ahrs Madgwick per-sample loop (reference, fusion only)", ref, n / ref, float("nan")))
        print(f"\n{'run':<56} {'time s':>8} {'samples/s':>12} {'peak MB':>8} {'ratio vs ref':>12}")
        for label, wall, sps, rss in rows:
            print(f"{label:<56} {wall:8.2f} {sps:12.0f} {rss:8.0f} {ref / wall:11.1f}x")
        best = rows[0][1]
        verdict = "meets" if best < 2.0 * args.minutes / 60.0 else "MISSES"
        print(f"\nrecording analysis {verdict} the target of < 2 s per hour "
              f"({best:.2f} s for {args.minutes:g} min); {ref / best:.0f}x faster than the reference loop")
        print(json.dumps({"samples": n, "analyze_recording_s": rows[0][1], "analyze_csv_s": rows[1][1],
                          "peak_rss_mb": rows[0][3], "reference_s": ref}))


if __name__ == "__main__":
    main()
