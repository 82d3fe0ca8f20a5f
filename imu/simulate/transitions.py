"""Posture changes between base postures (lie down, get up, kneel, step onto a step).

The script composer inserts these automatically when one segment ends in a different
posture from the one the next starts in. Changes between two non-standing postures
go through standing (e.g. get up from lying, then kneel), which keeps every pose
away from the Baker gimbal lock (obliquity +-90 deg, lying on the side).
"""

from __future__ import annotations

import numpy as np

from imu.simulate.curves import keyframes
from imu.simulate.motion import POSTURES, MotionError, MotionPiece, n_samples, rest_piece

# (time_s, tilt_deg, forward_m, height_m) from standing into each posture.
_FROM_STANDING: dict[str, list[tuple[float, float, float, float]]] = {
    "supine": [
        (0.0, 0.0, 0.0, 0.95),
        (1.8, -15.0, -0.15, 0.50),   # squat down
        (3.2, -25.0, -0.30, 0.14),   # sit on the floor
        (5.2, -90.0, -0.38, 0.08),   # lie back, head towards -x
    ],
    "quadruped": [
        (0.0, 0.0, 0.0, 0.95),
        (1.6, 8.0, 0.0, 0.68),       # kneel
        (3.0, 45.0, 0.05, 0.60),     # hands to the floor
        (4.0, 90.0, 0.05, 0.55),     # trunk horizontal
    ],
    "on_step": [
        (0.0, 0.0, 0.0, 0.95),
        (0.8, 3.0, 0.15, 1.00),      # step up with one leg
        (1.6, 0.0, 0.30, 1.12),      # bring the other leg up
    ],
}


def transition_path(src: str, dst: str) -> list[tuple[str, str]]:
    """The posture changes needed to get from src to dst (possibly via standing)."""
    if src == dst:
        return []
    for p in (src, dst):
        if p not in POSTURES:
            raise MotionError(f"Unknown posture '{p}'; known: {', '.join(POSTURES)}.")
    if src == "standing" or dst == "standing":
        return [(src, dst)]
    return [(src, "standing"), ("standing", dst)]


def generate_transition(src: str, dst: str, rate_hz: float) -> MotionPiece:
    """One posture change (src or dst must be 'standing'), at rest at both ends."""
    if src == "standing":
        frames = _FROM_STANDING[dst]
        reverse = False
    elif dst == "standing":
        frames = _FROM_STANDING[src]
        reverse = True
    else:
        raise MotionError(f"No direct posture change from {src} to {dst}; go via standing.")
    k = np.array(frames)
    times, tilt, fwd, up = k[:, 0], k[:, 1], k[:, 2], k[:, 3]
    if reverse:
        times = times[-1] - times[::-1]
        tilt, fwd, up = tilt[::-1], fwd[::-1], up[::-1]
        fwd = fwd - fwd[0]
    n = n_samples(times[-1], rate_hz) + 1
    t = np.arange(n) / rate_hz
    piece = rest_piece("transition", f"{src} -> {dst}", src, n)
    piece.end_posture = dst
    piece.tilt_rad = np.radians(keyframes(times, tilt, t))
    piece.pos_m[:, 0] = keyframes(times, fwd, t)
    piece.pos_m[:, 2] = keyframes(times, up, t)
    # Land exactly on the posture constants so the next piece joins bit-exactly.
    piece.tilt_rad[-1] = np.radians(POSTURES[dst].tilt_deg)
    piece.pos_m[-1, 2] = POSTURES[dst].sacrum_height_m
    return piece
