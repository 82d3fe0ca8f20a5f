"""Inclination accuracy of every offered fusion filter on the BROAD trials.

Run from the repository root:  python -m bench.fusion_accuracy [--data DIR] [--no-9d]

For each trial in <shared data>/broad/*.hdf5 and each filter in FILTER_NAMES (6D,
project defaults = library defaults), the inclination error is the angle between
the estimated and the true sensor vertical, i.e. between rotate(conj(q_est), e_z)
and rotate(conj(q_true), e_z) (earth-up expressed in the sensor frame), scored as
RMSE in degrees over the trial's `movement` samples where the optical reference is
valid. The table decides imu.fusion.DEFAULT_FILTER. 9D variants are reported
separately (inclination and heading) as a bonus.

Data: BROAD, D. Laidig, M. Caruso, A. Cereatti, T. Seel, "BROAD - A Benchmark for
Robust Inertial Orientation Estimation", Data 6(7), 2021, doi:10.3390/data6070072,
CC BY 4.0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu.errors import SettingsError
from imu.fusion import DEFAULT_FILTER, FILTER_NAMES, FusionSettings, fuse
from imu.rotation import quat_conj, quat_multiply, rotate
from imu.samples import SampleBlock

REFERENCE_FILTER = "madgwick"  # ahrs Madgwick, library defaults, told the real rate
E_Z = np.array([0.0, 0.0, 1.0])


def shared_data_dir() -> Path:
    """PELVIS_SHARED_DATA, else ../shared/data next to the repository."""
    env = os.environ.get("PELVIS_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Trial:
    """One BROAD recording: IMU samples, optical truth (q_ENU_imu, w-first), scoring mask."""

    name: str
    block: SampleBlock
    rate_hz: float
    q_true: np.ndarray
    movement: np.ndarray


def load_trial(path: Path) -> Trial:
    import h5py  # benchmark/test dependency only

    with h5py.File(path, "r") as f:
        rate = float(f.attrs["sampling_rate"])
        acc = np.asarray(f["imu_acc"], dtype=np.float64)
        gyr = np.asarray(f["imu_gyr"], dtype=np.float64)
        mag = np.asarray(f["imu_mag"], dtype=np.float64)
        q_true = np.asarray(f["opt_quat"], dtype=np.float64)
        movement = np.asarray(f["movement"], dtype=bool)
    # BROAD has no time stamps: the recording is at a constant rate.
    time_s = np.arange(acc.shape[0]) / rate
    return Trial(path.stem, SampleBlock(time_s, acc, gyr, mag), rate, q_true, movement)


def inclination_error_deg(q_est: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    """Angle (deg) between estimated and true earth-up in the sensor frame, per sample."""
    up_est = rotate(quat_conj(q_est), E_Z)
    up_true = rotate(quat_conj(q_true), E_Z)
    cross = np.linalg.norm(np.cross(up_est, up_true), axis=-1)
    dot = np.einsum("ij,ij->i", up_est, up_true)
    return np.degrees(np.arctan2(cross, dot))  # atan2: accurate for small angles too


def heading_error_deg(q_est: np.ndarray, q_true: np.ndarray) -> np.ndarray:
    """Heading part (deg, wrapped) of the earth-frame difference q_est * conj(q_true)."""
    d = quat_multiply(q_est, quat_conj(q_true))
    # Twist of a swing-twist split about earth z: the rotation (w, 0, 0, z), angle 2*atan2(z, w).
    return wrap_deg(np.degrees(2.0 * np.arctan2(d[:, 3], d[:, 0])))


def wrap_deg(a: np.ndarray) -> np.ndarray:
    return (a + 180.0) % 360.0 - 180.0


def score_mask(trial: Trial) -> np.ndarray:
    """Movement samples with a valid optical reference."""
    return trial.movement & np.isfinite(trial.q_true).all(axis=1)


def rmse(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


@dataclass
class Result:
    incl_rmse_deg: float
    heading_rmse_deg: float
    runtime_s: float
    samples: int


def run_filter(trial: Trial, settings: FusionSettings) -> Result:
    t0 = time.perf_counter()
    q = fuse(trial.block, settings, rate_hz=trial.rate_hz)
    runtime = time.perf_counter() - t0
    m = score_mask(trial)
    incl = rmse(inclination_error_deg(q[m], trial.q_true[m]))
    head = rmse(heading_error_deg(q[m], trial.q_true[m]))
    return Result(incl, head, runtime, len(trial.block))


def rest_check_deg(trial: Trial, settings: FusionSettings, seconds: float = 2.0) -> float:
    """Mean inclination error over the first valid rest seconds: checks conventions (~1 deg).

    Uses the rest phase before the movement, where the reference is valid (some
    trials start with an occluded marker set).
    """
    n_rest = int(np.argmax(trial.movement))
    q = fuse(trial.block.slice(0, n_rest), settings, rate_hz=trial.rate_hz)
    valid = np.flatnonzero(np.isfinite(trial.q_true[:n_rest]).all(axis=1))[: int(seconds * trial.rate_hz)]
    return float(np.mean(inclination_error_deg(q[valid], trial.q_true[valid])))


def print_table(title: str, trials: list[Trial], names: list[str],
                results: dict[tuple[str, str], Result], field: str) -> dict[str, float]:
    print(f"\n## {title}\n")
    width = max(len(t.name) for t in trials)
    print(f"| {'trial':<{width}} | " + " | ".join(f"{n:>9}" for n in names) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 11 for _ in names) + "|")
    for t in trials:
        cells = [f"{getattr(results[t.name, n], field):9.2f}" for n in names]
        print(f"| {t.name:<{width}} | " + " | ".join(cells) + " |")
    means = {n: float(np.mean([getattr(results[t.name, n], field) for t in trials])) for n in names}
    print(f"| {'mean':<{width}} | " + " | ".join(f"{means[n]:9.2f}" for n in names) + " |")
    if REFERENCE_FILTER in means:
        ref = means[REFERENCE_FILTER]
        print(f"| {'ratio to ' + REFERENCE_FILTER:<{width}} | "
              + " | ".join(f"{means[n] / ref:9.2f}" for n in names) + " |")
    return means


def print_runtimes(trials: list[Trial], names: list[str], results: dict[tuple[str, str], Result]) -> None:
    print("\n## Runtime (batch fuse over all trials)\n")
    print("| filter    | total s | us/sample |")
    print("|-----------|--------:|----------:|")
    for n in names:
        total = sum(results[t.name, n].runtime_s for t in trials)
        samples = sum(results[t.name, n].samples for t in trials)
        print(f"| {n:<9} | {total:7.2f} | {1e6 * total / samples:9.2f} |")


def _available(name: str) -> bool:
    """False (with a note) when an optional filter library is not installed."""
    try:
        fuse(SampleBlock(np.zeros(1), np.array([[0.0, 0.0, 9.81]]), np.zeros((1, 3))),
             FusionSettings(filter_name=name), rate_hz=100.0)
    except SettingsError as exc:
        print(f"Skipping {name}: {exc}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="shared data folder holding broad/*.hdf5 (default: PELVIS_SHARED_DATA "
                             "or ../shared/data)")
    parser.add_argument("--filters", nargs="*", default=list(FILTER_NAMES), choices=FILTER_NAMES)
    parser.add_argument("--no-9d", action="store_true", help="skip the 9D (magnetometer) variants")
    args = parser.parse_args(argv)

    broad = (args.data or shared_data_dir()) / "broad"
    files = sorted(broad.glob("*.hdf5"))
    if not files:
        print(f"No BROAD trials found in {broad}: set --data or PELVIS_SHARED_DATA.", file=sys.stderr)
        return 2
    trials = [load_trial(p) for p in files]
    names = [n for n in args.filters if _available(n)]
    print("BROAD (Laidig, Caruso, Cereatti, Seel, Data 6(7) 2021, CC BY 4.0): "
          f"{len(trials)} trials, {sum(len(t.block) for t in trials)} samples at "
          f"{trials[0].rate_hz:.1f} Hz")

    default = FusionSettings()
    print(f"Convention check, default filter '{default.filter_name}', first 2 s of rest: "
          + ", ".join(f"{t.name[:2]} {rest_check_deg(t, default):.2f} deg" for t in trials))

    results6 = {(t.name, n): run_filter(t, FusionSettings(filter_name=n)) for t in trials for n in names}
    means6 = print_table("6D inclination RMSE (deg) during movement", trials, names, results6,
                         "incl_rmse_deg")
    print_runtimes(trials, names, results6)

    best = min(means6, key=means6.get)
    print(f"\nLowest mean 6D inclination RMSE: {best} ({means6[best]:.2f} deg).")
    print(f"DEFAULT_FILTER = {DEFAULT_FILTER!r}", end="")
    if DEFAULT_FILTER in means6 and REFERENCE_FILTER in means6:
        print(f": {means6[DEFAULT_FILTER]:.2f} deg, ratio to the ahrs Madgwick reference "
              f"{means6[DEFAULT_FILTER] / means6[REFERENCE_FILTER]:.2f}", end="")
    print("." if best == DEFAULT_FILTER else
          f"  MISMATCH: the measurement says {best!r}; update imu/fusion/settings.py.")

    if not args.no_9d:
        results9 = {(t.name, n): run_filter(t, FusionSettings(filter_name=n, use_mag=True))
                    for t in trials for n in names}
        print_table("9D inclination RMSE (deg) during movement (bonus, not used for the default)",
                    trials, names, results9, "incl_rmse_deg")
        print_table("9D heading RMSE (deg) during movement, against BROAD's ENU reference",
                    trials, names, results9, "heading_rmse_deg")
        print_runtimes(trials, names, results9)
    return 0 if best == DEFAULT_FILTER else 1


if __name__ == "__main__":
    sys.exit(main())
