"""The accelerometer's zero-g offset from quiet postures, and the frame correction that
keeps the standing calibration valid once the offset is removed.

A quiet spell's mean specific force is gravity plus the offset b, so |mean| - g is b's
share along that posture's gravity (blurred by the scale error and local gravity, about
6 mg). The first quiet posture (the standing calibration, in practice) gives b along its
gravity u_ref; removing that share never moves the fused vertical there. Another quiet
posture far from it (lying supine, on hands and knees) gives b along its own gravity, of
which the part perpendicular to u_ref is new: b_perp, which standing tilted the vertical
by b_perp / g and the calibration took in as part of the mounting.

Removing b_perp from the samples alone would move the vertical in standing and undo the
calibration. So the fused orientation is also turned, in the sensor frame, by the tilt
b_perp gave in the reference posture: R_out = R_fused E, with E turning the measured
reference up (u_ref) to the corrected one. The output then equals the old output in the
reference posture, and in every other posture it is the truth times the same constant
E, which the calibration's mounting already holds. Lying supine, a 25 mg offset along
the antero-posterior axis was a 1.4 deg tilt error; now it is gone once a quiet spell
there has lasted 3 s (docs/fusion.md).

The offset along the medio-lateral axis stays unknown: every posture of the rehab
exercises turns the pelvis about that axis, so no spell sees it along gravity.
"""

from __future__ import annotations

import math

import numpy as np

from imu import GRAVITY_MPS2
from imu.fusion.quiet_bias import (MAGNITUDE_NOISE_MG, OFFSET_PRIOR_MG, BiasEstimate,
                                   offset_along_gravity_mps2)

#: The spells that measure the offset may hold small movements (a person resting between
#: sets, shifting a little, at up to 7 deg/s): only the mean specific force's magnitude
#: matters, and over 3 s such movements average out of it. Walking and exercise reps
#: stay out through the other quiet criteria (acc spread, mean rate).
STILL_GYR_DEV_RPS = 0.25
#: ...but hold one posture: the gravity direction stays within this of the spell's start
#: (a kickback barely turns the pelvis, slowly: without this, a set of them was one
#: "still" spell, and the offset changed between two reps).
STILL_MAX_TURN_DEG = 1.5
#: Quiet spells whose gravity lies within this of the reference posture's refine its offset.
SAME_POSTURE_DEG = 10.0
#: Spells whose gravity lies further than this from the reference posture measure the
#: offset across it; in between (a hinge, a lunge held still) the share is too small.
OTHER_POSTURE_DEG = 30.0
#: The perpendicular offset is applied again only once its estimate moved this far, so
#: the half-second refinements of one spell do not keep touching the filter.
UPDATE_STEP_MG = 1.0

_MG = GRAVITY_MPS2 / 1000.0


def frame_correction_quat(ref_acc_mps2: np.ndarray, offset_perp_mps2: np.ndarray) -> np.ndarray:
    """The rotation E (w, x, y, z) with E u_meas = u_true in the sensor frame.

    u_meas is the reference posture's measured up (its mean specific force), u_true the
    same with offset_perp removed. R_fused E then reads in the reference posture what
    the filter read there before the offset was removed.
    """
    u_meas = ref_acc_mps2 / np.linalg.norm(ref_acc_mps2)
    corrected = ref_acc_mps2 - offset_perp_mps2
    u_true = corrected / np.linalg.norm(corrected)
    axis = np.cross(u_meas, u_true)
    s = float(np.linalg.norm(axis))
    if s == 0.0:
        return np.array([1.0, 0.0, 0.0, 0.0])
    angle = math.atan2(s, float(u_meas @ u_true))
    return np.concatenate(([math.cos(angle / 2)], math.sin(angle / 2) * axis / s))


class AccOffsetEstimator:
    """Streaming: the offset to remove from each sample, from quiet-spell estimates.

    `update` takes each estimate of `QuietBiasEstimator` (one per half second inside a
    quiet spell; the later ones of a spell cover the earlier ones).
    """

    def __init__(self) -> None:
        self.ref_up: np.ndarray | None = None       # gravity direction of the first quiet posture
        self.ref_acc_mps2: np.ndarray | None = None  # its mean specific force
        self.along_mps2 = 0.0
        self.perp_mps2 = np.zeros(3)          # the perpendicular offset applied
        self._noise = MAGNITUDE_NOISE_MG * _MG
        self._info = np.eye(3) / (OFFSET_PRIOR_MG * _MG) ** 2
        self._info_u = np.zeros(3)
        self._spell: tuple[np.ndarray, float] | None = None  # this spell's (u_perp, y)
        self._spell_s = math.inf

    @property
    def offset_mps2(self) -> np.ndarray | None:
        """The whole offset to remove (sensor frame), None before the first quiet posture."""
        if self.ref_up is None:
            return None
        return self.along_mps2 * self.ref_up + self.perp_mps2

    def frame_quat(self) -> np.ndarray | None:
        """E to post-multiply onto the fused orientation; None while it is the identity."""
        if self.ref_acc_mps2 is None or not self.perp_mps2.any():
            return None
        return frame_correction_quat(self.ref_acc_mps2, self.perp_mps2)

    def update(self, est: BiasEstimate, perpendicular: bool = True) -> bool:
        """Take a quiet spell's estimate; True when the perpendicular offset changed."""
        new_spell = est.spell_s <= self._spell_s
        self._spell_s = est.spell_s
        if new_spell and self._spell is not None:  # the last spell's final estimate stays
            self._commit(*self._spell)
            self._spell = None
        acc = np.asarray(est.acc_mean_mps2, dtype=np.float64)
        up = acc / np.linalg.norm(acc)
        if self.ref_up is None:
            self.ref_up = up
        apart = math.degrees(math.acos(min(1.0, max(-1.0, float(up @ self.ref_up)))))
        if apart <= SAME_POSTURE_DEG:
            self.along_mps2 = offset_along_gravity_mps2(acc)
            self.ref_acc_mps2 = acc
            return False
        if not perpendicular or apart < OTHER_POSTURE_DEG:
            return False
        cos_ref = float(up @ self.ref_up)
        u_perp = up - cos_ref * self.ref_up
        # |acc| - g = b . up: take off the share along the reference gravity, known already.
        y = float(np.linalg.norm(acc)) - GRAVITY_MPS2 - self.along_mps2 * cos_ref
        self._spell = (u_perp, y)
        info = self._info + np.outer(u_perp, u_perp) / self._noise ** 2
        perp = np.linalg.solve(info, self._info_u + u_perp * y / self._noise ** 2)
        perp -= (perp @ self.ref_up) * self.ref_up
        if np.linalg.norm(perp - self.perp_mps2) < UPDATE_STEP_MG * _MG:
            return False
        self.perp_mps2 = perp
        return True

    def _commit(self, u_perp: np.ndarray, y: float) -> None:
        self._info = self._info + np.outer(u_perp, u_perp) / self._noise ** 2
        self._info_u = self._info_u + u_perp * y / self._noise ** 2
