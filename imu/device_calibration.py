"""A device's accelerometer offsets and scale factors, from still poses: a one-time
calibration that removes what no posture of a session can reveal.

Why: MEMS accelerometers are off by about 20 mg per axis (1 sigma; ST and Bosch give
the zero-g offset's standard deviation) and their scale by about 0.5 %. Standing, the
calibration takes the offset's tilt in; lying down it reappears as up to 2-3 deg of
tilt or obliquity (docs/fusion.md). The share along the pelvis's medio-lateral axis is
never along gravity in any of the exercises, so nothing in a session can find it.

How: the sensor rests still in six or more orientations (each face up once, a few
seconds each, on a table); every pose's mean specific force must have magnitude g, so
the offsets b and scales s solve |(a_i - b) / s| = g in the least-squares sense
(Gauss-Newton; an axis-aligned ellipsoid fit, as in the classic six-position test).
The result is applied to every sample before the pipeline (`PipelineSettings.device`),
and saved with each recording like every other setting, so replay equals live.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu import GRAVITY_MPS2
from imu.errors import SettingsError
from imu.samples import SampleBlock

#: A pose is a still spell at least this long...
POSE_MIN_S = 2.0
#: ...whose windows are still: rate within this of its mean (a device on a table).
POSE_GYR_DEV_RPS = 0.05
#: A still spell ends when its gravity direction moves more than this.
POSE_DRIFT_DEG = 2.0
POSE_ACC_STD_MPS2 = 0.1
#: Spells whose gravity directions are within this are one pose (averaged).
SAME_POSE_DEG = 15.0
#: Each axis must have pointed this close to up and to down (cos of the angle): the
#: offset and the scale of an axis are only told apart by readings of both signs.
AXIS_COVER_COS = 0.7
#: Offsets above this are no accelerometer's (or the poses were not still).
MAX_OFFSET_MG = 300.0
MAX_SCALE_ERROR = 0.1
#: A fit whose poses disagree by more than this (RMS of |a| - g after it) is refused.
MAX_RESIDUAL_MG = 10.0


@dataclass(frozen=True)
class DeviceCalibration:
    """Accelerometer correction: acc_true = (acc_measured - offset) / scale, per axis."""

    acc_offset_mps2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    poses: int = 0
    residual_mg: float = 0.0

    def __post_init__(self) -> None:
        if len(self.acc_offset_mps2) != 3 or len(self.acc_scale) != 3:
            raise SettingsError("A device calibration needs three offsets and three scales.")
        if not all(math.isfinite(v) for v in (*self.acc_offset_mps2, *self.acc_scale)):
            raise SettingsError("A device calibration's offsets and scales must be finite.")
        if any(abs(o) > MAX_OFFSET_MG * GRAVITY_MPS2 / 1000 for o in self.acc_offset_mps2):
            raise SettingsError(f"Accelerometer offsets above {MAX_OFFSET_MG:.0f} mg are not "
                                "plausible; redo the device calibration with the sensor still.")
        if any(abs(s - 1.0) > MAX_SCALE_ERROR for s in self.acc_scale):
            raise SettingsError(f"Accelerometer scale factors must lie within "
                                f"{MAX_SCALE_ERROR:.0%} of 1; redo the device calibration.")

    def apply(self, acc_mps2: np.ndarray) -> np.ndarray:
        """Corrected specific force, (N, 3) m/s^2."""
        return (acc_mps2 - np.asarray(self.acc_offset_mps2)) / np.asarray(self.acc_scale)

    def apply_block(self, block: SampleBlock) -> SampleBlock:
        """The block with its accelerometer samples corrected."""
        return SampleBlock(block.time_s, self.apply(block.acc_mps2), block.gyr_rps,
                           block.mag_uT, block.seq, block.gap_before)

    def to_toml(self) -> str:
        """The calibration file's text (read back by `load`)."""
        def vec(v):
            return "[" + ", ".join(f"{x:.6f}" for x in v) + "]"
        return ("# pelvis-monitor device calibration: acc_true = (acc - offset) / scale\n"
                f"acc_offset_mps2 = {vec(self.acc_offset_mps2)}\n"
                f"acc_scale = {vec(self.acc_scale)}\n"
                f"poses = {self.poses}\n"
                f"residual_mg = {self.residual_mg:.3f}\n")

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceCalibration":
        try:
            return cls(tuple(float(x) for x in d["acc_offset_mps2"]),
                       tuple(float(x) for x in d["acc_scale"]),
                       int(d.get("poses", 0)), float(d.get("residual_mg", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"Not a device calibration (needs acc_offset_mps2 and "
                                f"acc_scale, three numbers each): {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "DeviceCalibration":
        """Read a file written by `pelvis-monitor calibrate-device`."""
        try:
            d = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"Cannot read the device calibration {path}: {exc}") from exc
        return cls.from_dict(d)


def still_poses(block: SampleBlock, rate_hz: float) -> np.ndarray:
    """Mean specific force (sensor frame) of each distinct still pose, (P, 3)."""
    n = max(2, int(round(0.5 * rate_hz)))
    k = len(block) // n
    if k == 0:
        return np.zeros((0, 3))
    gyr = block.gyr_rps[:k * n].reshape(k, n, 3)
    acc = block.acc_mps2[:k * n].reshape(k, n, 3)
    # Still: the rate keeps to its mean (whatever the gyro's offset) and |acc| is steady.
    dev = gyr - gyr.mean(axis=1, keepdims=True)
    quiet = ((np.sqrt((dev * dev).sum(axis=2)).max(axis=1) < POSE_GYR_DEV_RPS)
             & (np.linalg.norm(acc, axis=2).std(axis=1) < POSE_ACC_STD_MPS2))
    means = acc.mean(axis=1)
    # A lost packet leaves a window's mean specific force as good as any; a pose change
    # hidden in a link outage shows as a change of direction, which ends the spell.
    cos_still = math.cos(math.radians(POSE_DRIFT_DEG))
    spells: list[list[np.ndarray]] = [[]]
    for still, mean in zip(quiet, means):
        if spells[-1] and not (still and _unit(mean) @ _unit(spells[-1][0]) > cos_still):
            spells.append([])
        if still:
            spells[-1].append(mean)
    poses: list[list[np.ndarray]] = []
    cos_same = math.cos(math.radians(SAME_POSE_DEG))
    for sp in spells:
        inner = sp[1:-1]  # without the settling and the leaving window
        if not inner:
            continue
        u = _unit(np.mean(inner, axis=0))
        for p in poses:
            if u @ _unit(np.mean(p, axis=0)) > cos_same:
                p.extend(inner)
                break
        else:
            poses.append(list(inner))
    poses = [p for p in poses if len(p) * 0.5 >= POSE_MIN_S]
    return np.array([np.mean(p, axis=0) for p in poses]).reshape(-1, 3)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def fit_device_calibration(poses_mps2: np.ndarray) -> DeviceCalibration:
    """Offsets and scales from still poses' mean specific force (Gauss-Newton).

    Raises SettingsError, saying what to do, when the poses cannot determine them.
    """
    a = np.asarray(poses_mps2, dtype=np.float64).reshape(-1, 3)
    if a.shape[0] < 6:
        raise SettingsError(f"Found {a.shape[0]} still poses; the device calibration needs at "
                            "least 6: lay the sensor still on each of its six faces for 3 s.")
    u = a / np.linalg.norm(a, axis=1, keepdims=True)
    missing = [f"{'+' if sign > 0 else '-'}{'xyz'[i]}" for i in range(3) for sign in (1, -1)
               if not (sign * u[:, i]).max() > AXIS_COVER_COS]
    if missing:
        raise SettingsError("No still pose had these sensor axes pointing up: "
                            f"{', '.join(missing)}. Lay the sensor still on each of its six "
                            "faces for 3 s.")
    b, s = np.zeros(3), np.ones(3)
    for _ in range(20):
        x = (a - b) / s
        r = np.linalg.norm(x, axis=1)
        res = r - GRAVITY_MPS2
        # d r / d b_j = -x_j / (r s_j); d r / d s_j = -x_j^2 / (r s_j)
        jac = np.hstack((-x / (r[:, None] * s), -x * x / (r[:, None] * s)))
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        b, s = b + step[:3], s + step[3:]
        if np.abs(step).max() < 1e-9:
            break
    residual = float(np.sqrt(np.mean((np.linalg.norm((a - b) / s, axis=1) - GRAVITY_MPS2) ** 2)))
    residual_mg = residual / GRAVITY_MPS2 * 1000.0
    if residual_mg > MAX_RESIDUAL_MG:
        raise SettingsError(f"The still poses disagree by {residual_mg:.1f} mg after the fit "
                            f"(over {MAX_RESIDUAL_MG:.0f}): the sensor moved during a pose; "
                            "redo the calibration with it lying still on a table.")
    return DeviceCalibration(tuple(float(v) for v in b), tuple(float(v) for v in s),
                             int(a.shape[0]), residual_mg)
