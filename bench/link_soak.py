"""Link fault soak: a long recording through the emulated BlueZ under random link faults.

Runs the real path (virtual sensor in the emulated BlueZ -> bleak's BlueZ backend ->
BleSource -> Recorder -> .pmrec file) faster than real time, with random disconnects,
adapter power cycles, bluetoothd restarts, lost bursts, duplicated, reordered and late
notifications, clock drift changes and jumps, and stalls (imu.ble.emulator.soak), then
compares the file with what the virtual sensor really sent (imu.ble.emulator.truth).

Must hold: recorded samples == samples delivered (each once, none invented); gaps marked
== outages (each exactly once, none spurious). Reported: faults per kind with their
outages and recovery times, timing error, memory and CPU. Reference in the same run:
the samples the sensor delivered (the ratio recorded / delivered must be 1.000000).

    python -m bench.link_soak [--minutes 30] [--speed 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time

import numpy as np

from imu.ble.demo import emulation_unavailable_reason
from imu.ble.emulator.soak import FAULT_KINDS, TIMED, SoakReport, SoakSettings, run_soak


def fault_table(report: SoakReport) -> list[str]:
    """Per kind: count, outages it caused, marked gaps there, recovery time after its end."""
    speed = report.settings.speed
    outages = report.comparison.outages
    lines = ["| fault | count | outages | samples lost | recovery after end p50 / max (sim s) "
             "| same in host s |", "|---|---|---|---|---|---|"]
    for kind in FAULT_KINDS:
        records = [f for f in report.faults if f.kind == kind]
        if not records:
            continue
        caused = [o for o in outages if any(_overlaps(o, f, report) for f in records)]
        rec = np.array([f.recovered_s - f.end_s for f in records if f.recovered_s is not None])
        not_recovered = sum(f.recovered_s is None for f in records)
        timed = kind in TIMED and kind != "late"
        rec_sim = (f"{np.median(rec) * speed:.2f} / {rec.max() * speed:.2f}"
                   if timed and rec.size else "-")
        rec_host = f"{np.median(rec):.3f} / {rec.max():.3f}" if timed and rec.size else "-"
        if not_recovered:
            rec_sim += f" ({not_recovered} not recovered)"
        lines.append(f"| {kind} | {len(records)} | {len(caused)} | "
                     f"{sum(o.samples for o in caused):,} | {rec_sim} | {rec_host} |")
    unplanned = [o for o in outages if not any(_overlaps(o, f, report) for f in report.faults)]
    lines.append(f"| (no fault) | - | {len(unplanned)} | {sum(o.samples for o in unplanned):,} "
                 "| - | - |")
    return lines


def _overlaps(outage, fault, report: SoakReport) -> bool:
    """The outage lies in the fault's window: from its start to the client's recovery."""
    end = fault.recovered_s if fault.recovered_s is not None else fault.end_s + 1e9
    return outage.after_s <= end + 0.05 and outage.until_s >= fault.start_s - 0.05


def problem_lines(report: SoakReport) -> list[str]:
    """Each mismatch with the fault that was active (or last began) when its sample was sent."""
    lines = []
    for what, at_s in report.comparison.problems:
        before = [f for f in report.faults if f.start_s <= at_s + 0.05]
        near = f"{before[-1].kind} {at_s - before[-1].start_s:+.3f} host s after its start" \
            if before else "before any fault"
        lines.append(f"  {what}: {near}")
    return lines


def summary_table(report: SoakReport) -> list[str]:
    c = report.comparison
    ratio = c.samples_recorded / c.samples_delivered if c.samples_delivered else float("nan")
    res = report.resources
    minutes = max(1e-9, (res[-1].sim_s - res[0].sim_s) / 60.0)
    rows = [
        ("samples delivered by the sensor (reference)", f"{c.samples_delivered:,}"),
        ("samples recorded", f"{c.samples_recorded:,} (ratio {ratio:.6f})"),
        ("recorded twice / missing / invented", f"{c.recorded_twice} / {c.missing} / {c.invented}"),
        ("outages (runs of samples never delivered)", f"{len(c.outages)}"),
        ("gaps marked / missed / spurious",
         f"{c.gaps_marked} / {c.gaps_missed} / {c.gaps_spurious}"),
        ("samples lost reported by BleSource", f"{report.samples_lost_reported:,} "
         f"(truth: {sum(o.samples for o in c.outages):,})"),
        ("reconnects", f"{report.reconnects}"),
        ("delivered after the recording stopped", f"{c.delivered_after_end}"),
        ("time error vs time taken p50 / p99 / max (ms)",
         f"{c.time_error_p50_ms:.2f} / {c.time_error_p99_ms:.2f} / {c.time_error_max_ms:.2f}"),
        ("timeline counters", ", ".join(f"{k} {v}" for k, v in report.timeline_counts.items())),
        ("RSS start / end (MB)", f"{res[0].rss_mb:.1f} / {res[-1].rss_mb:.1f}"),
        ("client CPU s per simulated minute",
         f"{(res[-1].cpu_s - res[0].cpu_s) / minutes:.2f}"),
        ("emulator + dbus-daemon CPU s per simulated minute",
         f"{(res[-1].emulator_cpu_s - res[0].emulator_cpu_s) / minutes:.2f}"),
        ("simulated / wall time", f"{report.sim_s / 60:.1f} min / {report.wall_s:.0f} s "
         f"(x{report.sim_s / report.wall_s:.1f})"),
    ]
    return ["| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0, help="simulated minutes (default 30)")
    p.add_argument("--speed", type=float, default=20.0,
                   help="simulated seconds per wall second (default 20)")
    p.add_argument("--seed", type=int, default=1, help="fault schedule seed (default 1)")
    p.add_argument("--interval", type=float, default=20.0,
                   help="mean simulated seconds between faults (default 20)")
    p.add_argument("--quiet", action="store_true", help="do not print each fault")
    args = p.parse_args(argv)
    reason = emulation_unavailable_reason()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    settings = SoakSettings(minutes=args.minutes, speed=args.speed, seed=args.seed,
                            mean_interval_s=args.interval)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-soak-") as folder:
        report = asyncio.run(run_soak(settings, folder,
                                      progress=None if args.quiet else print))
    print(f"\nLink fault soak: {args.minutes:g} simulated min at x{args.speed:g}, seed {args.seed} "
          f"({time.monotonic() - started:.0f} s wall)\n")
    print("\n".join(fault_table(report)))
    print()
    print("\n".join(summary_table(report)))
    ok = report.comparison.exact and all(f.recovered_s is not None for f in report.faults)
    print("\nPASS" if ok else "\nFAIL: see the table" + "".join(
        "\n" + line for line in problem_lines(report)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
