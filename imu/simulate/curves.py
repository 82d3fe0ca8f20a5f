"""Smooth curve primitives for the motion models (all vectorised, all at least C2).

Every motion model builds its pose curves from these pieces, so that finite
differences on the fine grid give accurate rates and accelerations and segments
that start and end at rest join without jumps in orientation, velocity or
acceleration.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, sosfiltfilt


def smootherstep(x: np.ndarray | float) -> np.ndarray:
    """Quintic 0->1 ramp on [0, 1] (minimum jerk): zero 1st and 2nd derivatives at both ends."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def smootherstep7(x: np.ndarray | float) -> np.ndarray:
    """Septic 0->1 ramp on [0, 1]: zero 1st-3rd derivatives at both ends (its rate is C2)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return x ** 4 * (35.0 + x * (-84.0 + x * (70.0 - 20.0 * x)))


def bump(x: np.ndarray | float) -> np.ndarray:
    """sin^4(pi x) on [0, 1], zero outside: a C2 bump of height 1 at x = 0.5."""
    x = np.asarray(x, dtype=np.float64)
    inside = (x > 0.0) & (x < 1.0)
    return np.where(inside, np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 4, 0.0)


def _rise_coefficients(w_rise: float, w_fall: float) -> tuple[float, float, float, float]:
    # Rising side p(y) = 1 + c2 y^2 + c3 y^3 + c4 y^4 + c5 y^5 with y = -x / w_rise: matches the
    # falling side (1 - (x/w_fall)^2)^3 in value, slope and curvature at the peak (C2) and
    # reaches 0 with zero slope and curvature at y = 1.
    c2 = -3.0 * (w_rise / w_fall) ** 2
    a = np.array([[1.0, 1.0, 1.0], [3.0, 4.0, 5.0], [6.0, 12.0, 20.0]])
    b = np.array([-1.0 - c2, -2.0 * c2, -2.0 * c2])
    c3, c4, c5 = np.linalg.solve(a, b)
    return c2, float(c3), float(c4), float(c5)


def asymmetric_bump(x: np.ndarray, w_rise: float, w_fall: float) -> np.ndarray:
    """C2 bump with peak 1 at x = 0, support [-w_rise, w_fall], monotone on each side.

    Used for the per-stance pelvic drop: a fast rise from initial contact to the
    peak and a slower return, with the peak value exactly the amplitude given.
    Monotone for w_rise / w_fall between 0.1 and 1.
    """
    x = np.asarray(x, dtype=np.float64)
    c2, c3, c4, c5 = _rise_coefficients(w_rise, w_fall)
    out = np.zeros_like(x)
    fall = (x >= 0.0) & (x < w_fall)
    u = x[fall] / w_fall
    out[fall] = (1.0 - u * u) ** 3
    rise = (x < 0.0) & (x > -w_rise)
    y = -x[rise] / w_rise
    out[rise] = 1.0 + y * y * (c2 + y * (c3 + y * (c4 + y * c5)))
    return out


def bspline_weights(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(base index, (4, n) weights) of the cubic B-spline at x; reuse for several series."""
    x = np.asarray(x, dtype=np.float64)
    base = np.floor(x).astype(np.int64)
    u = x - base  # in [0, 1): weights of knots base-1 .. base+2 (uniform cubic B-spline)
    u2, u3 = u * u, u * u * u
    w = np.empty((4,) + x.shape)
    w[0] = (1.0 - 3.0 * u + 3.0 * u2 - u3) / 6.0
    w[1] = (4.0 - 6.0 * u2 + 3.0 * u3) / 6.0
    w[2] = (1.0 + 3.0 * u + 3.0 * u2 - 3.0 * u3) / 6.0
    w[3] = u3 / 6.0
    return base, w


def bspline_series(values: np.ndarray, x: np.ndarray,
                   weights: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Smooth (C2) curve through per-index values: sum_k values[k] * B3(x - k).

    Indices outside the array use the nearest end value, so a constant sequence gives
    exactly that constant. Used to turn per-step parameters (amplitudes, step times)
    into smooth functions of the gait phase. Pass `bspline_weights(x)` to reuse them.
    """
    v = np.asarray(values, dtype=np.float64)
    base, w = weights if weights is not None else bspline_weights(x)
    last = v.shape[0] - 1
    out = np.zeros(base.shape)
    for j, shift in enumerate((-1, 0, 1, 2)):
        out += v[np.clip(base + shift, 0, last)] * w[j]
    return out


def smooth_noise(rng: np.random.Generator, n: int, rate_hz: float, cutoff_hz: float,
                 rms: float) -> np.ndarray:
    """Zero-mean low-pass Gaussian noise with the given RMS, C2 on the fine grid.

    Drawn on a coarse grid (10 points per cutoff period), low-passed without phase
    shift, scaled, then cubic-spline interpolated onto the n fine samples.
    """
    if n == 0 or rms == 0.0:
        return np.zeros(n)
    coarse_hz = max(10.0 * cutoff_hz, 2.0)
    duration_s = n / rate_hz
    m = int(np.ceil(duration_s * coarse_hz)) + 8
    white = rng.standard_normal(m + 64)
    sos = butter(2, cutoff_hz / (coarse_hz / 2.0), output="sos")
    filt = sosfiltfilt(sos, white)[32:32 + m]
    std = float(np.std(filt))
    if std > 0:
        filt = filt * (rms / std)
    t_coarse = (np.arange(m) - 4) / coarse_hz
    return CubicSpline(t_coarse, filt)(np.arange(n) / rate_hz)


def keyframes(times_s: np.ndarray, values: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Piecewise minimum-jerk motion through keyframes, at rest at every keyframe.

    values has shape (K,) or (K, C); the result has shape (len(t_s),) or (len(t_s), C).
    Before the first / after the last keyframe the value is held.
    """
    tk = np.asarray(times_s, dtype=np.float64)
    vk = np.asarray(values, dtype=np.float64)
    t = np.asarray(t_s, dtype=np.float64)
    i = np.clip(np.searchsorted(tk, t, side="right") - 1, 0, tk.shape[0] - 2)
    span = tk[i + 1] - tk[i]
    s = smootherstep(np.where(span > 0, (t - tk[i]) / np.where(span > 0, span, 1.0), 1.0))
    if vk.ndim == 1:
        return vk[i] + (vk[i + 1] - vk[i]) * s
    return vk[i] + (vk[i + 1] - vk[i]) * s[:, None]


# Impact transient shape psi(x) = (1 - e^-x)^3 e^(-x/6): a sharp rise (C2 at contact) and a
# slow decay, so the upward acceleration spike is followed by a milder rebound (about
# -0.37 of the peak) rather than a symmetric ringing.
_IMPACT_DECAY = 6.0
IMPACT_SUPPORT_X = 120.0  # exp(-20) tail: truncation error far below anything measurable


def _impact_psi(x: np.ndarray) -> np.ndarray:
    return (1.0 - np.exp(-x)) ** 3 * np.exp(-x / _IMPACT_DECAY)


def _impact_unit() -> float:
    x = np.linspace(0.0, 3.0, 30001)
    e = np.exp(-x)
    # d2/dx2 of (1-e)^3 exp(-x/D), by the product rule.
    f, f1, f2 = (1 - e) ** 3, 3 * (1 - e) ** 2 * e, 6 * (1 - e) * e * e - 3 * (1 - e) ** 2 * e
    g = np.exp(-x / _IMPACT_DECAY)
    d2 = f2 * g - 2 * f1 * g / _IMPACT_DECAY + f * g / _IMPACT_DECAY ** 2
    return float(d2.max())


_IMPACT_D2_PEAK = _impact_unit()


def impact_displacement(t_rel_s: np.ndarray, tau_s: float) -> np.ndarray:
    """Displacement of a unit impact transient (its 2nd derivative peaks at +1 m/s^2).

    d(t) = tau^2 psi(t / tau) / max(psi''): the upward acceleration spike peaks about
    0.27 tau after contact and its positive lobe ends about 0.9 tau after contact; no
    net velocity or position change once it has decayed (the tissues rebound).
    """
    x = np.asarray(t_rel_s, dtype=np.float64) / tau_s
    inside = (x > 0.0) & (x < IMPACT_SUPPORT_X)
    return np.where(inside, tau_s ** 2 * _impact_psi(np.where(inside, x, 0.0)) / _IMPACT_D2_PEAK,
                    0.0)
