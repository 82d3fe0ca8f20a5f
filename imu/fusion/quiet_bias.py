"""Gyro bias from quiet spells (standing, lying), tolerant of postural sway.

A person standing "still" sways: the pelvis turns back and forth by a few tenths of a
degree at up to about 1 Hz, i.e. at rates of about 1 deg/s. VQF's own rest detector
accepts such spells as rest and then takes its short (0.5 s) low-pass of the gyro as the
bias, so part of the sway becomes a bias error of 0.1 to 0.3 deg/s (measured on the
simulator with a perfect gyro), which tilts the estimate by bias x tau (about 0.5 deg).

Here the bias is the gyro averaged over the whole quiet spell instead: the sway's
rotation has no trend, so its average rate falls as 1 / duration. The part of the net
rotation that the accelerometer can see (about horizontal axes) is removed as well: the
direction of the specific force at the end of the spell against its start.

Windows of `WINDOW_S` samples counted from the start of the stream; the estimate is
updated at each window end once the spell has lasted `MIN_QUIET_S`, so the result does
not depend on how the stream is split into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu import GRAVITY_MPS2

WINDOW_S = 0.5
#: A spell shorter than this does not give a bias (sway of 0.3 deg over 3 s: 0.1 deg/s).
MIN_QUIET_S = 3.0
#: Largest deviation of the angular rate from its window mean in a quiet window, rad/s:
#: standing sway stays below about 4 deg/s (simulated and published sway), the first
#: steps of gait or an exercise exceed it within a window.
QUIET_GYR_DEV_RPS = 0.07
#: Largest window-mean angular rate, rad/s (11.5 deg/s): the gyro's own offset, which
#: reaches 3 deg/s per axis in MEMS parts (BMI160 specification; BMI270 parts measured
#: in the field, docs/simulator.md [S4]), so 5 deg/s and more in norm (the simulator's
#: "poor" device drew 5.8, above the 5.7 this once was: its heading then drifted
#: 2.5 deg/s and most of its lunges were lost), plus slow sway. A slow steady turn about
#: a horizontal axis passes too, but the accelerometer sees it and it is removed from
#: the estimate.
QUIET_GYR_MEAN_RPS = 0.2
#: Largest standard deviation of |acc| in a quiet window, m/s^2.
QUIET_ACC_STD_MPS2 = 0.3
#: |acc| must lie within this of g (a sensor carried in a moving vehicle is not quiet).
QUIET_ACC_NORM_TOL_MPS2 = 2.0  # an uncalibrated part reads up to ~0.15 g off (cf. calibration)
#: Net sway rotation (deg) left in a spell's average, for the uncertainty given with
#: the estimate: sigma = SWAY_NET_DEG / duration.
SWAY_NET_DEG = 0.3


@dataclass(frozen=True)
class WindowStats:
    """Sums over one window of samples."""

    rotation_rad: np.ndarray   # sum of gyr * dt, sensor frame
    duration_s: float
    acc_mean_mps2: np.ndarray
    gyr_dev_rps: float
    """Largest deviation of the angular rate from its window mean."""
    calm: bool
    """Every quiet criterion but the rate deviation's: small mean rate, steady |acc|
    near g. Quiet = calm and gyr_dev_rps below the spell tracker's limit."""

    def quiet(self, gyr_dev_rps: float = QUIET_GYR_DEV_RPS) -> bool:
        return self.calm and self.gyr_dev_rps < gyr_dev_rps


def window_stats(gyr_rps: np.ndarray, acc_mps2: np.ndarray, dt_s: np.ndarray) -> list[WindowStats]:
    """Rotation, duration, mean specific force, rate deviation and calm of each window.

    gyr_rps, acc_mps2: (k, n, 3) and dt_s: (k, n) for k windows of n samples (always
    this shape, so a window gives the same bits however it was assembled).
    """
    norms = np.sqrt((acc_mps2 * acc_mps2).sum(axis=2))
    mean_gyr = gyr_rps.mean(axis=1)
    dev = gyr_rps - mean_gyr[:, None, :]
    dev_max = np.sqrt((dev * dev).sum(axis=2)).max(axis=1)
    calm = ((np.sqrt((mean_gyr * mean_gyr).sum(axis=1)) < QUIET_GYR_MEAN_RPS)
            & (norms.std(axis=1) < QUIET_ACC_STD_MPS2)
            & (np.abs(norms.mean(axis=1) - GRAVITY_MPS2) < QUIET_ACC_NORM_TOL_MPS2))
    rot = (gyr_rps * dt_s[:, :, None]).sum(axis=1)
    dur = dt_s.sum(axis=1)
    acc = acc_mps2.mean(axis=1)
    return [WindowStats(rot[i], float(dur[i]), acc[i], float(dev_max[i]), bool(calm[i]))
            for i in range(calm.size)]


class WindowCutter:
    """Cuts a stream into WINDOW_S windows counted from its start and summarises each."""

    def __init__(self, rate_hz: float) -> None:
        self.window_n = max(2, int(round(WINDOW_S * rate_hz)))
        self.reset()

    def reset(self) -> None:
        """Forget the unfinished window (after a long gap)."""
        self._pend = (np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
               dt_s: np.ndarray) -> list[tuple[int, WindowStats]]:
        """(block index of the window's last sample, its stats) per finished window."""
        w = self.window_n
        if self._pend[2].shape[0] + dt_s.shape[0] < w:  # the common case live: no window ends
            self._pend = (np.concatenate((self._pend[0], gyr_rps)),
                          np.concatenate((self._pend[1], acc_mps2)),
                          np.concatenate((self._pend[2], dt_s)))
            return []
        g = np.concatenate((self._pend[0], gyr_rps))
        a = np.concatenate((self._pend[1], acc_mps2))
        d = np.concatenate((self._pend[2], dt_s))
        k = d.shape[0] // w
        first_end = w - self._pend[2].shape[0] - 1
        self._pend = (g[k * w:], a[k * w:], d[k * w:])
        stats = window_stats(g[:k * w].reshape(k, w, 3), a[:k * w].reshape(k, w, 3),
                             d[:k * w].reshape(k, w))
        return [(first_end + i * w, st) for i, st in enumerate(stats)]


def horizontal_rotation_rad(acc_start: np.ndarray, acc_end: np.ndarray) -> np.ndarray:
    """The sensor's rotation (sensor frame, about axes perpendicular to gravity) that
    turns the specific force direction acc_start into acc_end as seen by the sensor.

    A sensor rotating by theta sees a fixed vector v move by -theta x v, so
    theta_perp = (a_end x a_start) / |a|^2 to first order.
    """
    a0 = acc_start / np.linalg.norm(acc_start)
    a1 = acc_end / np.linalg.norm(acc_end)
    return np.cross(a1, a0)


def spell_bias_rps(rotation_rad: np.ndarray, duration_s: float, acc_start: np.ndarray,
                   acc_end: np.ndarray) -> np.ndarray:
    """Gyro bias (rad/s) from a quiet spell: mean rate minus the rate the acc saw."""
    return (rotation_rad - horizontal_rotation_rad(acc_start, acc_end)) / duration_s


@dataclass(frozen=True)
class BiasEstimate:
    """A gyro bias from a quiet spell, with its 1-sigma uncertainty."""

    bias_rps: np.ndarray
    sigma_rps: float
    spell_s: float
    acc_mean_mps2: np.ndarray
    """The mean specific force over the spell (sensor frame): gravity, plus the
    accelerometer's offset and scale error along it."""


class QuietBiasEstimator:
    """Streaming: returns a new bias estimate at the end of windows inside quiet spells.

    Of a spell's windows, the first is skipped (the body may still be settling from a
    movement) and the newest is a guard: the estimate covers the windows before it, so
    a movement starting in the newest window cannot leak into it.
    """

    def __init__(self, rate_hz: float, gyr_dev_rps: float = QUIET_GYR_DEV_RPS,
                 max_turn_deg: float | None = None) -> None:
        self.gyr_dev_rps = gyr_dev_rps
        # A spell ends where the gravity direction has turned this far from its first
        # window's (None: no limit).
        self.min_cos = None if max_turn_deg is None else float(np.cos(np.radians(max_turn_deg)))
        self._cutter = WindowCutter(rate_hz)
        self.window_n = self._cutter.window_n
        self.reset()

    def reset(self) -> None:
        """Forget the current window and spell (after a long gap)."""
        self._cutter.reset()
        self._spell: list[WindowStats] = []
        self._inner_rot = np.zeros(3)   # sum over the spell's windows 2 .. newest-2
        self._inner_s = 0.0
        self._acc_sum = np.zeros(3)     # sum of the usable windows' mean specific force
        self.quiet = False

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray,
               dt_s: np.ndarray) -> list[tuple[int, BiasEstimate]]:
        """(index of the last sample of a window, estimate) for each new estimate."""
        return self.windows(self._cutter.update(gyr_rps, acc_mps2, dt_s))

    def windows(self, stats: list[tuple[int, WindowStats]]) -> list[tuple[int, BiasEstimate]]:
        """The same from windows cut elsewhere (one WindowCutter can serve several
        estimators; then this one's own `update` is not used)."""
        out = []
        for end, st in stats:
            est = self._window(st, st.quiet(self.gyr_dev_rps))
            if est is not None:
                out.append((end, est))
        return out

    def _window(self, w: WindowStats, quiet: bool) -> BiasEstimate | None:
        self.quiet = quiet
        if quiet and self.min_cos is not None and self._spell:
            a0, a1 = self._spell[0].acc_mean_mps2, w.acc_mean_mps2
            if a0 @ a1 < self.min_cos * np.linalg.norm(a0) * np.linalg.norm(a1):
                self._window(w, False)  # the posture changed: a new spell from here
                self.quiet = True
        if not quiet:
            self._spell = []
            self._inner_rot = np.zeros(3)
            self._inner_s = 0.0
            self._acc_sum = np.zeros(3)
            return None
        self._spell.append(w)
        # Usable: windows 1 .. newest-1 (0: settling, newest: guard).
        m = len(self._spell) - 2
        if m >= 1:
            self._acc_sum = self._acc_sum + self._spell[m].acc_mean_mps2
        if m < 2:
            return None
        if m > 2:  # window m-1 has just become an inner window
            inner = self._spell[m - 1]
            self._inner_rot = self._inner_rot + inner.rotation_rad
            self._inner_s += inner.duration_s
        first, last = self._spell[1], self._spell[m]
        # From the middle of the first usable window to the middle of the last one,
        # consistent with their mean acc directions.
        rot = 0.5 * first.rotation_rad + self._inner_rot + 0.5 * last.rotation_rad
        dur = 0.5 * first.duration_s + self._inner_s + 0.5 * last.duration_s
        if dur < MIN_QUIET_S:
            return None
        return BiasEstimate(spell_bias_rps(rot, dur, first.acc_mean_mps2, last.acc_mean_mps2),
                            float(np.radians(SWAY_NET_DEG) / dur), dur, self._acc_sum / m)


#: The accelerometer offset along gravity from a quiet spell's |mean specific force| - g
#: is blurred by the scale error (0.5 %: 5 mg) and local gravity (9.78 to 9.83 m/s^2:
#: +-2.5 mg), about 6 mg together, against a prior of 20 mg (typical MEMS zero-g offset).
MAGNITUDE_NOISE_MG = 6.0
OFFSET_PRIOR_MG = 20.0


def offset_along_gravity_mps2(acc_mean_mps2: np.ndarray) -> float:
    """The accelerometer offset along gravity (m/s^2) from a quiet spell's mean specific
    force: its magnitude minus g, shrunk towards zero by the prior (posterior mean)."""
    shrink = OFFSET_PRIOR_MG ** 2 / (OFFSET_PRIOR_MG ** 2 + MAGNITUDE_NOISE_MG ** 2)
    return shrink * (float(np.linalg.norm(acc_mean_mps2)) - GRAVITY_MPS2)
