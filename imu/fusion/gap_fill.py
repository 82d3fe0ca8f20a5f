"""The rotation across a short gap of lost samples, estimated from the gyro around it.

A few lost BLE packets leave a gap of 30 to 500 ms during which the body kept turning.
The filter is bridged over it (`FusionSettings.gap_bridge_max_s`) by integrating one
equivalent angular rate over the whole interval; this module chooses that rate
(`FusionSettings.gap_fill`):

- "sample": the rate of the sample after the gap (what a plain filter does). Its error
  grows with the square of the gap: while running (pelvis rates near 100 deg/s that
  reverse every step) a 150 ms gap costs about 10 deg, a 360 ms gap 25, which the
  accelerometer correction then needs seconds to remove.
- "linear": the rate varies linearly between the samples either side of the gap
  (trapezoid rule). Exact for a rate ramp; good for gaps short against a step.
- "stride": walking and running repeat themselves every stride, so when the gyro of
  the last seconds is periodic the rotation over the gap is taken from the same stretch
  one stride earlier. For gaps up to `STRIDE_RESIDUAL_MAX_S` the difference between
  this stride and the previous one, known at both edges of the gap, is interpolated
  linearly too. Not periodic (standing, exercises): as "linear".

Median rotation error over gaps of 90 / 150 / 240 / 360 ms cut out of a real sacral
treadmill run (RBDS; `python -m bench.gap_fill`, which also covers simulated and real
walking): "sample" 4.7 / 9.9 / 15.2 / 26.5 deg, "linear" 3.1 / 6.9 / 13.1 / 13.0,
"stride" 1.4 / 2.4 / 2.2 / 2.5.

Everything here is a pure function of the samples before the gap and the one after it,
so streamed and batch processing agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from imu.rotation import quat_multiply

GAP_FILL_METHODS: tuple[str, ...] = ("sample", "linear", "stride")

#: Seconds of gyro history searched for a stride period (two strides of slow walking).
HISTORY_S = 3.0
#: Stride periods considered, s: sprinting (about 0.55 s) to slow walking (1.6 s).
STRIDE_MIN_S = 0.45
STRIDE_MAX_S = 1.6
#: Normalised autocorrelation at the stride lag needed to call the motion periodic.
#: Simulated gait gives 0.93 to 0.99, real running (RBDS) 0.86 to 0.95, real walking
#: (IPOL, 3 s windows) 0.54 to 0.93. On real walking the previous stride still predicts
#: a gap better than interpolation from 0.6 on (bench.gap_fill: 300 ms gaps, median
#: 2.2 deg against 3.1 with 0.8 and 6.0 interpolated).
PERIODIC_MIN_CORR = 0.6
#: Longer gaps take the previous stride's rotation as it is: the stride-to-stride
#: difference decorrelates within about a step, so interpolating it across a long gap
#: adds error instead of removing it (measured crossover near 150 ms).
STRIDE_RESIDUAL_MAX_S = 0.15


def stride_lag(gyr_rps: np.ndarray, rate_hz: float) -> tuple[int, float]:
    """(lag in samples, normalised autocorrelation) of the strongest stride-range period.

    gyr_rps: (N, 3) evenly spaced samples. The autocorrelation is summed over the three
    axes after removing their means; it is normalised by the energies of the two
    overlapping parts, so 1.0 means an exact repetition.
    """
    x = np.asarray(gyr_rps, dtype=np.float64)
    x = x - x.mean(axis=0)
    lo = max(1, int(round(STRIDE_MIN_S * rate_hz)))
    hi = min(int(round(STRIDE_MAX_S * rate_hz)), x.shape[0] - 2)
    best_lag, best_corr = 0, -1.0
    for lag in range(lo, hi + 1):
        a, b = x[lag:], x[:-lag]
        den = np.sqrt(np.sum(a * a) * np.sum(b * b))
        if den <= 0.0:
            continue
        corr = float(np.sum(a * b) / den)
        if corr > best_corr:
            best_lag, best_corr = lag, corr
    return best_lag, best_corr


def _rotvec_to_quat(v: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(v))
    if angle == 0.0:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate(([np.cos(angle / 2)], np.sin(angle / 2) * v / angle))


def _quat_to_rotvec(q: np.ndarray) -> np.ndarray:
    q = q if q[0] >= 0 else -q
    s = float(np.linalg.norm(q[1:]))
    if s == 0.0:
        return np.zeros(3)
    return 2.0 * np.arctan2(s, q[0]) * q[1:] / s


def compose_rotvecs(rotvecs: np.ndarray) -> np.ndarray:
    """The rotation vector of the body-frame rotations applied one after the other."""
    q = np.array([1.0, 0.0, 0.0, 0.0])
    for v in np.asarray(rotvecs, dtype=np.float64):
        q = quat_multiply(q, _rotvec_to_quat(v))
    return _quat_to_rotvec(q)


def fill_gap(history_t_s: np.ndarray, history_gyr_rps: np.ndarray, t_after_s: float,
             gyr_after_rps: np.ndarray, rate_hz: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """The angular rate to hold over a gap, and the samples it stands for.

    history_t_s, history_gyr_rps: the samples before the gap (oldest first, evenly spaced:
    earlier gaps filled in), the last one just before the gap. t_after_s, gyr_after_rps:
    the sample after the gap. Returns (rate, filled): `rate` (rad/s), held over the whole
    gap, gives the estimated rotation across it; `filled` (m, 3) are the estimated rates
    at the m missing sample slots, to keep the history evenly spaced for the next gap.
    """
    g1 = np.asarray(gyr_after_rps, dtype=np.float64)
    gap_s = float(t_after_s - history_t_s[-1]) if history_t_s.size else 0.0
    m = max(0, int(round(gap_s * rate_hz)) - 1)
    if method == "sample" or history_t_s.size == 0 or gap_s <= 0.0:
        return g1.copy(), np.tile(g1, (m, 1))
    g0 = history_gyr_rps[-1]
    ramp = np.linspace(0.0, 1.0, m + 2)[1:-1, None]
    linear = (0.5 * (g0 + g1), g0 + (g1 - g0) * ramp)
    if method == "linear":
        return linear
    n_hist = int(round(HISTORY_S * rate_hz))
    if history_t_s.size < n_hist:
        return linear
    lag, corr = stride_lag(history_gyr_rps[-n_hist:], rate_hz)
    if corr < PERIODIC_MIN_CORR or lag / rate_hz <= gap_s:
        return linear
    # The same stretch one stride earlier: from sample i0 (one stride before the last
    # sample) over the gap's duration.
    i_last = history_t_s.size - 1
    i0 = i_last - lag
    i1 = min(i0 + m + 1, i_last)
    if i1 <= i0:
        return linear
    dt = np.diff(history_t_s[i0:i1 + 1]) * (gap_s / (history_t_s[i1] - history_t_s[i0]))
    rotvec = compose_rotvecs(history_gyr_rps[i0 + 1:i1 + 1] * dt[:, None])
    filled = history_gyr_rps[i0 + 1:i0 + 1 + m].copy()
    if gap_s <= STRIDE_RESIDUAL_MAX_S:
        # This stride minus the previous one, at both edges, interpolated linearly.
        r0, r1 = g0 - history_gyr_rps[i0], g1 - history_gyr_rps[i1]
        rotvec = compose_rotvecs(np.stack([rotvec, 0.5 * (r0 + r1) * gap_s]))
        filled += r0 + (r1 - r0) * ramp[:filled.shape[0]]
    return rotvec / gap_s, filled
