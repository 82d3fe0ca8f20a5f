"""Is this locomotion? Step periodicity of the vertical acceleration.

Walking and running move the pelvis up and down once per step, at a cadence of 70 to
240 steps/min: the vertical specific force repeats after one step and again after two
(one stride). Used by the fusion (a turn implies centripetal acceleration only when
the body is travelling) and by the calibration (the anterior axis from gait).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Step periods considered, s: cadence 240 down to 70 steps/min.
STEP_MIN_S = 0.25
STEP_MAX_S = 0.85


@dataclass(frozen=True)
class StepPeriodicity:
    """The strongest step-range period of a signal."""

    lag: int
    """Step period in samples."""
    step_corr: float
    """Normalised autocorrelation at one step (1.0 = exact repetition)."""
    stride_corr: float
    """Normalised autocorrelation at two steps (one stride); nan if the signal is shorter."""


def autocorrelation(x: np.ndarray, n_lags: int, unbiased: bool = False) -> np.ndarray | None:
    """Autocorrelation of x at lags 0..n_lags-1 (n_lags <= x.size), divided by its value at
    lag 0; unbiased: each lag also divided by its share of terms. None without variance."""
    n = x.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))  # zero padding to 2n: no circular wrap
    spec = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[:n_lags]
    if ac[0] <= 0:
        return None
    ac = ac / ac[0]
    return ac * n / (n - np.arange(ac.size)) if unbiased else ac


def step_periodicity(x: np.ndarray, rate_hz: float) -> StepPeriodicity | None:
    """Autocorrelation of x (mean removed by the caller) at its step-range peak.

    Unbiased normalisation: each lag's sum is divided by its number of terms and by the
    zero-lag value, so a periodic signal scores near 1 at its period. None when x has
    no variance or is too short for the longest step period.
    """
    n = x.size
    ac = autocorrelation(x, n, unbiased=True)
    if ac is None:
        return None
    lo, hi = int(STEP_MIN_S * rate_hz), int(STEP_MAX_S * rate_hz)
    if hi + 1 >= n // 2:
        return None
    lag = lo + int(np.argmax(ac[lo:hi + 1]))
    stride = float(ac[2 * lag]) if 2 * lag < n else float("nan")
    return StepPeriodicity(lag, float(ac[lag]), stride)


#: Locomotion: vertical acceleration periodic at one step and at one stride ...
GAIT_MIN_STEP_CORR = 0.6
GAIT_MIN_STRIDE_CORR = 0.4
#: ... at least as strong as slow walking (about 1 m/s^2 standard deviation at the
#: sacrum; running reaches 8 to 12) ...
GAIT_MIN_VERTICAL_STD_MPS2 = 0.5
#: ... while the pelvis turns at well below 2 rad/s on average (running: about 1.2).
GAIT_MAX_MEAN_GYR_RPS = 2.0


def locomotion_step(acc_mps2: np.ndarray, gyr_rps: np.ndarray, rate_hz: float) -> int | None:
    """The step period (samples) if the last seconds of samples (evenly spaced) look like
    walking or running, else None."""
    if acc_mps2.shape[0] < 2:
        return None
    if float(np.mean(np.linalg.norm(gyr_rps, axis=1))) >= GAIT_MAX_MEAN_GYR_RPS:
        return None
    up = acc_mps2.mean(axis=0)
    norm = float(np.linalg.norm(up))
    if norm == 0.0:
        return None
    vertical = acc_mps2 @ (up / norm)
    if float(np.std(vertical)) < GAIT_MIN_VERTICAL_STD_MPS2:
        return None
    p = step_periodicity(vertical - vertical.mean(), rate_hz)
    if p is None or p.step_corr < GAIT_MIN_STEP_CORR or not p.stride_corr >= GAIT_MIN_STRIDE_CORR:
        return None
    return p.lag
