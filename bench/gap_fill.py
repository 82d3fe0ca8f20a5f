"""How well each `gap_fill` method guesses the rotation across lost samples in gait.

Run from the repository root:  python -m bench.gap_fill [--gaps 60] [--seed 1] [--data DIR]

Stretches of samples are cut out at random places of gait with no real gap nearby:
simulated walking and running (random mounting, "typical" MEMS errors, no packet loss)
and, when ../shared/data is there, real recordings (RBDS treadmill run, sacral; IPOL
walking, lower back). Each method of `imu.fusion.gap_fill` estimates the rotation across
the gap from the samples before it and the one after; the score is the angle between
that and the rotation integrated from the samples that were cut (deg), median and 90th
percentile per gap length.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.fusion_accuracy import shared_data_dir
from imu.fusion.gap_fill import GAP_FILL_METHODS, HISTORY_S, compose_rotvecs, fill_gap
from imu.samples import SampleBlock
from imu.simulate.sensor_errors import SensorErrorModel

GAP_MS = (30, 90, 150, 240, 360)


@dataclass(frozen=True)
class Trial:
    """Samples and the stretches of steady gait in them (s)."""

    block: SampleBlock
    rate_hz: float
    windows: list[tuple[float, float]]


@dataclass(frozen=True)
class Gait:
    """One kind of gait from one source: one or more trials."""

    name: str
    trials: list[Trial]


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (deg) between the rotations of two rotation vectors."""
    return float(np.degrees(np.linalg.norm(compose_rotvecs(np.stack([-b, a])))))


def simulated(preset: str, segment: str, name: str, seed: int) -> Gait:
    from imu.simulate.session import simulate

    errors = replace(SensorErrorModel.preset("typical"), packet_loss_fraction=0.0)
    res = simulate(preset, seed=seed, mounting="random", errors=errors)
    seg = next(s for s in res.truth.events["segments"] if s["type"] == segment)
    return Gait(name, [Trial(res.block, res.rate_hz, [(seg["start_s"] + 5.0, seg["end_s"] - 5.0)])])


def real(data: Path) -> list[Gait]:
    """RBDS (sacral treadmill run) and IPOL (lower-back walking), those present."""
    from imu.csv_io import read_imu_csv

    out = []
    rbds = data / "rbds-dev"
    if (rbds / "RBDS032_T35.imu.csv").exists():
        imp = read_imu_csv(rbds / "RBDS032_T35.imu.csv")
        win = json.loads((rbds / "RBDS032_T35.events.json").read_text())["scoring_window_s"]
        out.append(Gait("run, real (RBDS)", [Trial(imp.samples, imp.rate_hz, [tuple(win)])]))
    trials = []
    for path in sorted((data / "ipol-dev").glob("*/imu.csv")):
        imp = read_imu_csv(path)
        truth = json.loads((path.parent / "truth.json").read_text())
        trials.append(Trial(imp.samples, imp.rate_hz, [tuple(w) for w in truth["evaluation_windows"]]))
    if trials:
        out.append(Gait("walk, real (IPOL)", trials))
    return out


def gap_errors(trial: Trial, gap_ms: int, n_gaps: int,
               rng: np.random.Generator) -> dict[str, list[float]]:
    """Each method's error over up to n_gaps random cuts of gap_ms in the trial's windows."""
    t, g, gap = trial.block.time_s, trial.block.gyr_rps, trial.block.gap_before
    rate = trial.rate_hz
    k_gap = int(round(gap_ms * rate / 1000.0))
    n_hist = int(round(HISTORY_S * rate)) + 1
    starts = []
    for a, b in trial.windows:
        lo, hi = int(np.searchsorted(t, a)), int(np.searchsorted(t, b)) - k_gap - 1
        starts += [i for i in range(max(lo, n_hist), hi)
                   if not gap[i + 1 - n_hist:i + k_gap + 1].any()]
    out: dict[str, list[float]] = {m: [] for m in GAP_FILL_METHODS}
    if not starts:
        return out
    for i0 in rng.choice(starts, size=min(n_gaps, len(starts)), replace=False):
        i1 = i0 + k_gap  # samples i0+1 .. i1-1 are lost
        true = compose_rotvecs(g[i0 + 1:i1 + 1] * np.diff(t[i0:i1 + 1])[:, None])
        gap_s = t[i1] - t[i0]
        for m in GAP_FILL_METHODS:
            rate_rps, _ = fill_gap(t[i0 + 1 - n_hist:i0 + 1], g[i0 + 1 - n_hist:i0 + 1],
                                   float(t[i1]), g[i1], rate, m)
            out[m].append(rotation_angle_deg(rate_rps * gap_s, true))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaps", type=int, default=60, help="random gaps per length and gait")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None,
                        help="shared data folder (default: PELVIS_SHARED_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    gaits = [simulated("walk-basic", "walk", "walk, simulated", args.seed),
             simulated("run-no-calibration", "run", "run, simulated", args.seed)]
    gaits += real(args.data or shared_data_dir())
    print("Rotation error across a gap (deg), median / 90th percentile, "
          f"up to {args.gaps} random gaps each, seed {args.seed}.\n")
    print("| gait | gap ms | n | " + " | ".join(f"{m:>13}" for m in GAP_FILL_METHODS) + " |")
    print("|------|-------:|--:|" + "|".join("-" * 15 for _ in GAP_FILL_METHODS) + "|")
    rng = np.random.default_rng(args.seed)
    for gait in gaits:
        for gap_ms in GAP_MS:
            e: dict[str, list[float]] = {m: [] for m in GAP_FILL_METHODS}
            per_trial = -(-args.gaps // len(gait.trials))
            for trial in gait.trials:
                for m, v in gap_errors(trial, gap_ms, per_trial, rng).items():
                    e[m] += v
            if not e[GAP_FILL_METHODS[0]]:
                continue
            cells = [f"{np.median(e[m]):5.2f} / {np.percentile(e[m], 90):5.2f}" for m in GAP_FILL_METHODS]
            print(f"| {gait.name} | {gap_ms:6d} | {len(e[GAP_FILL_METHODS[0]])} | "
                  + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
