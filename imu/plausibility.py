"""Could these samples come from a body-worn IMU? Units, value ranges and sample rate.

Pure checks on whole arrays that return what is wrong (None when nothing is), so each
reader raises its own error with its own advice: the CSV importer refuses declared
units that do not fit, the input loader refuses recordings whose values only a wrong
unit explains and leaves out samples no sensor can produce.
"""

from __future__ import annotations

import numpy as np

from imu import GRAVITY_MPS2

ACC_UNIT_SCALE = {"m/s^2": GRAVITY_MPS2, "g": 1.0}
"""Gravity expressed in each accepted accelerometer unit."""

# A 0.5 s window whose |acc| varies by less than 3 % is a quiet stretch (standing,
# lying, sensor on a table): its mean |acc| is gravity.
QUIET_WINDOW_S = 0.5
QUIET_REL_STD = 0.03
# |acc| at rest must lie within this factor of gravity in the declared unit. Wide
# enough for the median of a file of running only, and g vs m/s^2 differ by ~10x,
# so one unit can never pass for the other.
GRAVITY_TOLERANCE_FACTOR = 2.5
# No body-worn gyro measures more than 2000 deg/s (~35 rad/s); deg/s data read as
# rad/s exceed it whenever the wearer moves. A few glitch samples are tolerated.
GYR_MAX_RPS = 35.0
GYR_OVER_MAX_FRACTION = 0.002
GYR_OVER_MAX_MIN_COUNT = 3
# Outside this range |mag| cannot be the Earth's field (about 25-65 uT).
MAG_PLAUSIBLE_UT = (5.0, 500.0)
# Beyond these no IMU reads at all (the widest ranges sold are +-400 g for impact
# sensors and +-4000 deg/s): such a value is damage, not motion.
MAX_ABS_ACC_MPS2 = 4000.0
MAX_ABS_GYR_RPS = 100.0
# Sample rates of real IMUs. Outside, the time column is in the wrong unit (e.g.
# milliseconds: 200 Hz then reads as 0.2 Hz) or broken; the filters and the gait
# analysis need well over 5 Hz anyway.
MIN_RATE_HZ = 5.0
MAX_RATE_HZ = 10_000.0


def gravity_estimate(acc: np.ndarray, t: np.ndarray, rate_hz: float) -> tuple[float, str]:
    """|acc| at rest in the data's unit, and where it was measured."""
    # Huge values overflow to inf (and inf - inf to NaN): the callers refuse those.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        mag = np.sqrt(np.einsum("ij,ij->i", acc, acc))
        w = max(2, int(round(QUIET_WINDOW_S * rate_hz)))
        k = len(mag) // w
        if k:
            win = mag[: k * w].reshape(k, w)
            mean = win.mean(axis=1)
            rel = np.where(mean > 0, win.std(axis=1) / mean, np.inf)
            j = int(np.nanargmin(rel)) if not np.isnan(rel).all() else 0
            if rel[j] < QUIET_REL_STD:
                return float(mean[j]), f"in a quiet stretch at {t[j * w]:.2f} s"
        return float(np.median(mag)), "as the median over the file (no quiet stretch)"


def acc_units_problem(acc: np.ndarray, t: np.ndarray, rate_hz: float,
                      declared: str) -> tuple[str, str | None] | None:
    """None when |acc| at rest is gravity in the `declared` unit; else (what is seen,
    the other unit when that one fits, else None)."""
    est, where = gravity_estimate(acc, t, rate_hz)

    def fits(unit: str) -> bool:
        g = ACC_UNIT_SCALE[unit]
        return g / GRAVITY_TOLERANCE_FACTOR <= est <= g * GRAVITY_TOLERANCE_FACTOR

    if fits(declared):
        return None
    seen = (f"|acc| is {est:.3g} {where}, but gravity is "
            f"{ACC_UNIT_SCALE[declared]:.6g} {declared}")
    other = next(u for u in ACC_UNIT_SCALE if u != declared)
    return seen, (other if fits(other) else None)


def gyr_units_problem(gyr: np.ndarray, declared: str) -> str | None:
    """What shows that rad/s-declared data are deg/s, or None."""
    if declared != "rad/s" or len(gyr) == 0:
        return None
    over = np.count_nonzero(np.abs(gyr).max(axis=1) > GYR_MAX_RPS)
    if over >= GYR_OVER_MAX_MIN_COUNT and over > GYR_OVER_MAX_FRACTION * len(gyr):
        return (f"{100.0 * over / len(gyr):.3g} % of the samples have a rate above "
                f"{GYR_MAX_RPS:g} rad/s (2000 deg/s, beyond any body-worn gyro), "
                "so the gyro values look like deg/s, not rad/s")
    return None


def mag_scale_note(mag: np.ndarray) -> str | None:
    """A note when |mag| cannot be the Earth's field in microtesla (not a refusal: the
    magnetometer only affects 9D heading, and normalised units are common)."""
    med = float(np.median(np.sqrt(np.einsum("ij,ij->i", mag, mag))))
    lo, hi = MAG_PLAUSIBLE_UT
    if lo <= med <= hi:
        return None
    return (f"median |mag| is {med:.3g}, far from the Earth's field (25-65 uT): the mag "
            "columns are probably not in microtesla; do not rely on magnetometer heading "
            "for this file.")


def impossible_samples(acc_mps2: np.ndarray, gyr_rps: np.ndarray) -> np.ndarray:
    """(N,) True where a value is NaN, infinite, or beyond what any IMU can read."""
    with np.errstate(invalid="ignore"):
        return ~((np.abs(acc_mps2) <= MAX_ABS_ACC_MPS2).all(axis=1)
                 & (np.abs(gyr_rps) <= MAX_ABS_GYR_RPS).all(axis=1))


def rate_problem(rate_hz: float) -> str | None:
    """Why `rate_hz` cannot be an IMU's sample rate, or None."""
    if np.isfinite(rate_hz) and MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        return None
    return (f"the sample rate is {rate_hz:.4g} Hz, outside the {MIN_RATE_HZ:g}-"
            f"{MAX_RATE_HZ:g} Hz of real IMUs")
