"""Size and speed of the recording format on a simulated 2 h, 200 Hz session.

Run: python -m bench.recording_size [--minutes 120] [--rate 200] [--no-csv]

The signals are what a sacral IMU sees while walking: gravity plus gait-frequency motion
and its harmonics, slow posture drift, white noise at MEMS levels, quantised to the int16
steps of a +-16 g / +-2000 dps sensor, timestamps from a device clock in microseconds with
20 ppm drift, and a few link outages (gaps). Samples reach the writer in blocks of 10, as
from a BLE link, and the writer's clock follows the sample clock, so chunks hold 0.5 s as
in a live session.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from imu import GRAVITY_MPS2
from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter, read_recording
from imu.samples import SampleBlock, detect_gaps

TARGET_MB_2H = 60.0
ACC_STEP_MPS2 = 16 * GRAVITY_MPS2 / 32768  # +-16 g on int16
GYR_STEP_RPS = np.radians(2000.0 / 32768)  # +-2000 dps on int16
ACC_NOISE_MPS2 = 0.025  # ~250 ug/sqrt(Hz) over 100 Hz bandwidth
GYR_NOISE_RPS = 0.0017  # ~0.01 dps/sqrt(Hz) over 100 Hz bandwidth
BLOCK = 10


def simulate(minutes: float, rate_hz: float, seed: int = 1) -> SampleBlock:
    """A realistic raw sample stream (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * rate_hz)
    t = np.round((np.arange(n) / rate_hz * (1 + 20e-6) + 12.5) * 1e6) / 1e6
    keep = np.ones(n, dtype=bool)
    for start in rng.integers(0, n, size=5):  # link outages of 0.1-3 s
        keep[start:start + int(rng.uniform(0.1, 3.0) * rate_hz)] = False
    t = t[keep]
    stride_hz = 0.9 + 0.05 * np.sin(2 * np.pi * t / 600)
    ph = 2 * np.pi * np.cumsum(stride_hz) / rate_hz
    drift = 0.2 * np.sin(2 * np.pi * t / 90)
    acc = np.stack([1.2 * np.sin(2 * ph + 0.3) + 0.4 * np.sin(4 * ph) + drift,
                    0.8 * np.sin(ph + 1.0) + 0.2 * np.sin(3 * ph),
                    GRAVITY_MPS2 + 2.0 * np.sin(2 * ph) + 0.6 * np.sin(4 * ph + 0.5)], axis=1)
    gyr = np.stack([0.35 * np.sin(ph), 0.25 * np.sin(2 * ph + 0.5), 0.45 * np.sin(ph + 2.0)],
                   axis=1)
    acc += rng.normal(0, ACC_NOISE_MPS2, acc.shape)
    gyr += rng.normal(0, GYR_NOISE_RPS, gyr.shape)
    acc = np.round(acc / ACC_STEP_MPS2) * ACC_STEP_MPS2
    gyr = np.round(gyr / GYR_STEP_RPS) * GYR_STEP_RPS
    return SampleBlock(t, acc, gyr, gap_before=detect_gaps(t, rate_hz))


def write(path: str, samples: SampleBlock, rate_hz: float) -> float:
    """Write as a live session would; returns the seconds spent."""
    now = [0.0]
    header = RecordingHeader(rate_hz, DeviceInfo(name="bench", profile="simulated"))
    t0 = time.perf_counter()
    with RecordingWriter(path, header, clock=lambda: now[0]) as writer:
        for block in samples.split(BLOCK):
            now[0] = float(block.time_s[-1])
            writer.write_samples(block)
    return time.perf_counter() - t0


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def csv_reference(path: str, samples: SampleBlock) -> tuple[float, float]:
    """Size (MB) and np.loadtxt time of the same samples as a generic IMU CSV."""
    data = np.column_stack([samples.time_s, samples.acc_mps2, samples.gyr_rps])
    np.savetxt(path, data, delimiter=",", fmt=["%.6f"] + ["%.6g"] * 6,
               header="time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    seconds = best_of(lambda: np.loadtxt(path, delimiter=",", skiprows=1), repeats=1)
    return os.path.getsize(path) / 1e6, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--no-csv", action="store_true", help="skip the CSV reference")
    args = parser.parse_args()

    samples = simulate(args.minutes, args.rate)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "session.pmrec")
        write_s = write(path, samples, args.rate)
        size_mb = os.path.getsize(path) / 1e6
        load_s = best_of(lambda: read_recording(path))
        rec = read_recording(path)
        assert len(rec.samples) == len(samples) and not rec.problems
        target = TARGET_MB_2H * args.minutes / 120.0
        raw_mb = len(samples) * (8 + 6 * 8) / 1e6
        print(f"session      : {args.minutes:g} min at {args.rate:g} Hz, {len(samples):,} samples, "
              "acc + gyr, no mag")
        print(f"file size    : {size_mb:.1f} MB (target <= {target:.1f} MB; "
              f"{size_mb * 1e6 / len(samples):.1f} bytes/sample; "
              f"float64 in memory: {raw_mb:.0f} MB)")
        print(f"write time   : {write_s:.2f} s ({len(samples) / BLOCK:,.0f} blocks of {BLOCK})")
        print(f"load time    : {load_s:.3f} s (read_recording, best of 3)")
        if not args.no_csv:
            csv_mb, csv_s = csv_reference(os.path.join(tmp, "session.csv"), samples)
            print(f"CSV reference: {csv_mb:.1f} MB, np.loadtxt {csv_s:.2f} s "
                  f"({csv_s / load_s:.1f}x the recording's load time)")
        print("RESULT:", "OK" if size_mb <= target else "OVER TARGET")


if __name__ == "__main__":
    main()
