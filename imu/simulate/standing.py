"""Quiet standing (postural sway) and the functional-calibration hip hinges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.simulate.curves import keyframes, smooth_noise, smootherstep
from imu.simulate.motion import (POSTURES, SACRUM_FROM_HIP_M, HingeSpec, MotionError,
                                 MotionPiece, n_samples, rest_piece)

# Lying or kneeling, the pelvis moves much less than when balancing upright.
_LOW_SWAY_POSTURES = {"supine": 0.3, "quadruped": 0.5}


@dataclass(frozen=True)
class StandParams:
    """Quiet standing (or resting in another base posture) with postural sway.

    Defaults: pelvis sway of a few tenths of a degree and a few millimetres, below
    ~1 Hz, the order of centre-of-mass sway in quiet stance (docs/simulator.md).
    """

    duration_s: float = 10.0
    sway_angle_rms_deg: float = 0.25
    sway_heading_rms_deg: float = 0.3
    sway_position_rms_m: float = 0.003
    sway_cutoff_hz: float = 0.7


@dataclass(frozen=True)
class HingeParams:
    """Functional calibration: forward hip hinges, pure rotation about the medio-lateral axis.

    Defaults: 3 hinges to 45 deg anterior tilt, 1.5 s down, 1 s hold, 1.5 s up, 2 s rest.
    """

    count: int = 3
    tilt_deg: float = 45.0
    down_s: float = 1.5
    hold_s: float = 1.0
    up_s: float = 1.5
    rest_s: float = 2.0
    lead_s: float = 1.0
    hip_back_m: float = 0.08
    variability: float = 0.08


def _taper(n: int, rate_hz: float, ramp_s: float = 0.5) -> np.ndarray:
    """1 in the middle, smooth ramps to 0 at both ends (keeps joins at rest)."""
    t = np.arange(n) / rate_hz
    ramp = min(ramp_s, t[-1] / 2.0) if n > 1 else 1.0
    if ramp <= 0:
        return np.zeros(n)
    return smootherstep(t / ramp) * smootherstep((t[-1] - t) / ramp)


def generate_stand(params: StandParams, posture: str, rng: np.random.Generator,
                   rate_hz: float, kind: str = "stand", name: str = "stand") -> MotionPiece:
    """Quiet standing (or lying / kneeling) in `posture` with smooth random sway."""
    if params.duration_s <= 0:
        raise MotionError(f"stand duration_s must be > 0, got {params.duration_s}.")
    n = n_samples(params.duration_s, rate_hz)
    piece = rest_piece(kind, name, posture, n)
    scale = _LOW_SWAY_POSTURES.get(posture, 1.0)
    env = _taper(n, rate_hz) * scale
    fc = params.sway_cutoff_hz
    ang = np.radians(params.sway_angle_rms_deg)
    piece.tilt_rad = piece.tilt_rad + env * smooth_noise(rng, n, rate_hz, fc, ang)
    piece.obliquity_rad = piece.obliquity_rad + env * smooth_noise(rng, n, rate_hz, fc, ang)
    piece.heading_rad = env * smooth_noise(rng, n, rate_hz, fc,
                                           np.radians(params.sway_heading_rms_deg))
    for axis in range(3):
        rms = params.sway_position_rms_m * (0.4 if axis == 2 else 1.0)
        piece.pos_m[:, axis] += env * smooth_noise(rng, n, rate_hz, fc, rms)
    return piece


def generate_hinges(params: HingeParams, rng: np.random.Generator, rate_hz: float,
                    name: str = "hinges") -> MotionPiece:
    """A few forward hip hinges from standing, with rests; pure rotation about pelvis y.

    The pelvis pivots about the hip-joint centres (so the sacrum moves forward and
    up as it tilts) while the hips shift back a little, as in a real hinge.
    """
    if params.count < 1:
        raise MotionError(f"hinges count must be >= 1, got {params.count}.")
    if not 0 < params.tilt_deg < 90:
        raise MotionError(f"hinges tilt_deg must be in (0, 90), got {params.tilt_deg}.")
    times = [0.0, params.lead_s]
    tilts = [0.0, 0.0]
    specs: list[tuple[float, float, float, float]] = []
    t = params.lead_s
    for _ in range(params.count):
        k = 1.0 + params.variability * rng.uniform(-1.0, 1.0, size=4)
        amp = params.tilt_deg * k[0]
        start = t
        t_down = t + params.down_s * k[1]
        t_hold = t_down + params.hold_s * k[2]
        t_up = t_hold + params.up_s * k[3]
        t_rest = t_up + params.rest_s
        times += [t_down, t_hold, t_up, t_rest]
        tilts += [amp, amp, 0.0, 0.0]
        specs.append((start, (t_down + t_hold) / 2.0, t_up, amp))
        t = t_rest
    n = n_samples(t, rate_hz)
    ts = np.arange(n) / rate_hz
    tilt_deg = keyframes(np.array(times), np.array(tilts), ts)
    piece = rest_piece("hinges", name, "standing", n)
    tilt = np.radians(tilt_deg)
    piece.tilt_rad = tilt
    # Sacrum = hip centre + R(tilt) * SACRUM_FROM_HIP; hip centre shifts back with depth.
    r = SACRUM_FROM_HIP_M
    hip = np.zeros((n, 3))
    hip[:, 0] = -params.hip_back_m * tilt_deg / params.tilt_deg
    hip[:, 2] = POSTURES["standing"].sacrum_height_m - r[2]
    piece.pos_m[:, 0] = hip[:, 0] + r[0] * np.cos(tilt) + r[2] * np.sin(tilt) - r[0]
    piece.pos_m[:, 2] = hip[:, 2] - r[0] * np.sin(tilt) + r[2] * np.cos(tilt)
    piece.hinges = [HingeSpec(s, m, e, a) for s, m, e, a in specs]
    return piece
