"""`pelvis-monitor info`: what a recording holds."""

from __future__ import annotations

import argparse

from imu.recording import read_recording


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show what a recording holds",
                       description="Show a recording's device, rate, duration, gaps, "
                                   "annotations, calibrations and any damage found.")
    p.add_argument("recording", help="recording file (.pmrec)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rec = read_recording(args.recording)
    h, s = rec.header, rec.samples
    n = len(s)
    dur = s.duration_s
    print(f"{rec.path}: pelvis-monitor recording, format {h.format_version}, "
          f"{rec.file_size_bytes / 1e6:.2f} MB")
    print(f"  created {h.created_utc or '?'} by pelvis-monitor {h.software_version or '?'}")
    dev = h.device
    print(f"  device: {dev.name} ({dev.profile}){' ' + dev.address if dev.address else ''}"
          f"{', firmware ' + dev.firmware if dev.firmware else ''}")
    print(f"  {n} samples, {dur:.1f} s at {h.sample_rate_hz:g} Hz nominal"
          f"{', with magnetometer' if h.has_mag else ''}{', with sequence numbers' if h.has_seq else ''}")
    gaps = s.gaps()
    if gaps:
        lost = sum(g.duration_s for g in gaps if g.duration_s == g.duration_s)
        print(f"  {len(gaps)} gap(s), {lost:.2f} s without data in all")
    else:
        print("  no gaps")
    for a in rec.annotations:
        print(f"  annotation at {a.time_s:.1f} s: {a.text}")
    for c in rec.calibrations:
        method = c.data.get("anterior_method", "?")
        print(f"  calibration at {c.time_s:.1f} s: anterior from {method}, "
              f"confidence {c.data.get('confidence', '?')}")
    if rec.events:
        kinds: dict[str, int] = {}
        for e in rec.events:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        print("  events: " + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))
    for p in rec.problems:
        print(f"  PROBLEM: {p}")
    return 1 if rec.problems else 0
