"""Repetition exercises from the rehab programme, with settable faults and per-rep truth.

Each exercise is a small table (`ExerciseSpec`): its base posture, an optional "ready"
posture for the set (e.g. standing on one leg), and the keyframes of one rep as
deltas from the ready posture for a RIGHT working side (mirrored for the left). The
engine strings reps, pauses, side changes and rests into one C2 trajectory (minimum-
jerk between keyframes) and adds movement noise, faults and wobble.

Side conventions for the deltas (working side = stance / working leg):
- obliquity: positive = the NON-working side drops (a contralateral drop).
- rotation: positive = the pelvis turns towards the working side.
- lateral: positive = towards the working side.
Faults: "drop" (non-working side drops), "hike" (it rises), "rotate" (turns towards
the working side), "tilt"/"arch" (anterior tilt), "tuck" (posterior tilt), "wobble"
(2.5-4.5 Hz oscillation of obliquity and rotation with amplitude fault_deg / 2, half
that in tilt).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from imu.simulate.curves import keyframes, smooth_noise, smootherstep
from imu.simulate.motion import POSTURES, MotionError, MotionPiece, RepSpec, SegmentSpan, \
    n_samples, rest_piece

FAULTS = ("drop", "hike", "rotate", "tilt", "arch", "tuck", "wobble")
# Channels of the keyframe table.
_CH = ("tilt", "obl", "rot", "fwd", "lat", "up", "wob")


@dataclass(frozen=True)
class Pose:
    """Deltas from the ready posture (right working side; see module docstring for signs).

    fault: how much of the rep's fault is expressed here (0 at rest, 1 at the turn).
    """

    tilt_deg: float = 0.0
    obliquity_deg: float = 0.0
    rotation_deg: float = 0.0
    forward_m: float = 0.0
    lateral_m: float = 0.0
    up_m: float = 0.0
    fault: float = 0.0


@dataclass(frozen=True)
class KeyStep:
    """Move to `pose` over a duration: a tempo field name ('down_s', ...) or seconds."""

    duration: str | float
    pose: Pose
    turn: bool = False  # the turn (deepest / highest point) is the middle of this step


@dataclass(frozen=True)
class ExerciseSpec:
    name: str
    base_posture: str
    steps: tuple[KeyStep, ...]
    depth_unit: str | None = None         # 'm' or 'deg': what depth_m / depth_deg means
    default_depth: float = 1.0
    ready: Pose | None = None             # posture held for the whole set (single leg, ...)
    tempo: dict[str, float] = field(default_factory=dict)
    description: str = ""


_ZERO = Pose()


def _s(**kw: float) -> Pose:
    return Pose(**kw)


EXERCISES: dict[str, ExerciseSpec] = {
    "lunge": ExerciseSpec(
        "lunge", "standing", depth_unit="m", default_depth=0.35,
        description="forward lunge: the working leg steps forward, hips drop ~0.35 m",
        tempo=dict(down_s=1.2, hold_s=0.4, up_s=1.2, pause_s=1.0),
        steps=(KeyStep("down_s", _s(tilt_deg=6, obliquity_deg=0.5, rotation_deg=2, forward_m=0.40,
                                    up_m=-0.35, fault=1)),
               KeyStep("hold_s", _s(tilt_deg=6, obliquity_deg=0.5, rotation_deg=2, forward_m=0.40,
                                    up_m=-0.35, fault=1), turn=True),
               KeyStep("up_s", _ZERO))),
    "reverse_lunge": ExerciseSpec(
        "reverse_lunge", "standing", depth_unit="m", default_depth=0.35,
        description="reverse lunge: the other leg steps back, hips drop ~0.35 m",
        tempo=dict(down_s=1.3, hold_s=0.4, up_s=1.2, pause_s=1.0),
        steps=(KeyStep("down_s", _s(tilt_deg=4, obliquity_deg=0.5, rotation_deg=2, forward_m=-0.30,
                                    up_m=-0.35, fault=1)),
               KeyStep("hold_s", _s(tilt_deg=4, obliquity_deg=0.5, rotation_deg=2, forward_m=-0.30,
                                    up_m=-0.35, fault=1), turn=True),
               KeyStep("up_s", _ZERO))),
    "single_leg_squat": ExerciseSpec(
        "single_leg_squat", "standing", depth_unit="m", default_depth=0.25,
        description="single-leg squat on the working leg, hips drop ~0.25 m",
        ready=_s(obliquity_deg=-1.5, lateral_m=0.07, up_m=0.005),
        tempo=dict(down_s=1.5, hold_s=0.3, up_s=1.5, pause_s=1.5, entry_s=1.2),
        steps=(KeyStep("down_s", _s(tilt_deg=15, obliquity_deg=1.5, rotation_deg=2, forward_m=-0.05,
                                    up_m=-0.25, fault=1)),
               KeyStep("hold_s", _s(tilt_deg=15, obliquity_deg=1.5, rotation_deg=2, forward_m=-0.05,
                                    up_m=-0.25, fault=1), turn=True),
               KeyStep("up_s", _ZERO))),
    "single_leg_stance": ExerciseSpec(
        "single_leg_stance", "standing",
        description="single-leg stance (Trendelenburg test): lift the other foot and hold",
        tempo=dict(down_s=1.0, hold_s=30.0, up_s=1.0, pause_s=3.0),
        steps=(KeyStep("down_s", _s(obliquity_deg=-1.5, lateral_m=0.07, up_m=0.005, fault=1)),
               KeyStep("hold_s", _s(obliquity_deg=-1.5, lateral_m=0.07, up_m=0.005, fault=1),
                       turn=True),
               KeyStep("up_s", _ZERO))),
    "bridge": ExerciseSpec(
        "bridge", "supine", depth_unit="m", default_depth=0.25,
        description="hip bridge lying on the back: the sacrum lifts ~0.25 m",
        tempo=dict(down_s=1.5, hold_s=2.0, up_s=1.5, pause_s=1.5),
        steps=(KeyStep("down_s", _s(tilt_deg=-25, obliquity_deg=0.5, forward_m=0.04, up_m=0.25,
                                    fault=1)),
               KeyStep("hold_s", _s(tilt_deg=-25, obliquity_deg=0.5, forward_m=0.04, up_m=0.25,
                                    fault=1), turn=True),
               KeyStep("up_s", _ZERO))),
    "kickback": ExerciseSpec(
        "kickback", "quadruped",
        description="glute kickback on hands and knees: the working leg extends back and up",
        tempo=dict(down_s=1.0, hold_s=0.5, up_s=1.0, pause_s=0.8),
        steps=(KeyStep("down_s", _s(tilt_deg=3, obliquity_deg=1.5, rotation_deg=1.5, fault=1)),
               KeyStep("hold_s", _s(tilt_deg=3, obliquity_deg=1.5, rotation_deg=1.5, fault=1),
                       turn=True),
               KeyStep("up_s", _ZERO))),
    "hip_hike": ExerciseSpec(
        "hip_hike", "on_step", depth_unit="deg", default_depth=8.0,
        description="side-hip hike standing on a step on the working leg: the free side "
                    "drops ~8 deg, then hikes above level",
        ready=_s(lateral_m=0.06, up_m=0.005),
        tempo=dict(down_s=1.2, hold_s=0.3, up_s=1.5, pause_s=1.0, entry_s=1.0),
        steps=(KeyStep("down_s", _s(obliquity_deg=8, lateral_m=0.01, up_m=-0.02, fault=1)),
               KeyStep("hold_s", _s(obliquity_deg=8, lateral_m=0.01, up_m=-0.02, fault=1),
                       turn=True),
               KeyStep("up_s", _s(obliquity_deg=-6, lateral_m=-0.01, up_m=0.02, fault=0.5)),
               KeyStep(0.3, _s(obliquity_deg=-6, lateral_m=-0.01, up_m=0.02, fault=0.5)),
               KeyStep(1.0, _ZERO))),
}


@dataclass(frozen=True)
class ExerciseParams:
    """A block of sets of one exercise.

    side: 'right', 'left', 'both' (each set on the right then the left) or 'alternate'
    (sides alternate rep by rep). Tempo fields None take the exercise's defaults.
    Faults are applied to the reps selected by fault_sides, fault_from_rep (1-based) and
    fault_probability.
    """

    exercise: str
    sets: int = 1
    reps: int = 10
    side: str = "both"
    depth_scale: float = 1.0
    down_s: float | None = None
    hold_s: float | None = None
    up_s: float | None = None
    pause_s: float | None = None
    rest_between_sets_s: float = 30.0
    rest_between_sides_s: float = 5.0
    single_leg: bool = False              # bridge: single-leg bridge (working = stance leg)
    faults: tuple[str, ...] = ()
    fault_deg: float = 8.0
    fault_probability: float = 1.0
    fault_sides: str = "both"
    fault_from_rep: int = 1
    rep_cv: float = 0.06
    noise_deg: float = 0.3


EXERCISE_FIELDS = {f.name for f in fields(ExerciseParams)}


def _drop_sign(side: str) -> float:
    # Non-working side drops -> working side higher: right working -> obliquity > 0.
    return 1.0 if side == "right" else -1.0


def validate_exercise(p: ExerciseParams) -> ExerciseSpec:
    """Check the parameters; returns the exercise's spec."""
    if p.exercise not in EXERCISES:
        raise MotionError(f"Unknown exercise {p.exercise!r}; known: {', '.join(EXERCISES)}.")
    spec = EXERCISES[p.exercise]
    if p.sets < 1 or p.reps < 1:
        raise MotionError(f"{p.exercise}: sets and reps must be >= 1, got {p.sets} x {p.reps}.")
    if p.side not in ("right", "left", "both", "alternate"):
        raise MotionError(f"{p.exercise}: side must be right, left, both or alternate, "
                          f"got {p.side!r}.")
    if p.side == "alternate" and spec.ready is not None:
        raise MotionError(f"{p.exercise} is done on one leg for a whole set; "
                          "use side = 'both' instead of 'alternate'.")
    if not 0.2 <= p.depth_scale <= 2.0:
        raise MotionError(f"{p.exercise}: depth must be 0.2-2x the default, "
                          f"got {p.depth_scale:g}x.")
    bad = [f for f in p.faults if f not in FAULTS]
    if bad:
        raise MotionError(f"{p.exercise}: unknown fault(s) {bad}; known: {', '.join(FAULTS)}.")
    if p.fault_sides not in ("both", "left", "right"):
        raise MotionError(f"{p.exercise}: fault_sides must be both, left or right.")
    if not 0 <= p.fault_probability <= 1:
        raise MotionError(f"{p.exercise}: fault_probability must be in [0, 1].")
    for name in ("down_s", "hold_s", "up_s", "pause_s"):
        v = getattr(p, name)
        if v is not None and v < 0:
            raise MotionError(f"{p.exercise}: {name} must be >= 0, got {v}.")
    if p.rest_between_sets_s < 0 or p.rest_between_sides_s < 0:
        raise MotionError(f"{p.exercise}: rests must be >= 0 s.")
    return spec


def _fault_delta(faults: tuple[str, ...], deg: float) -> np.ndarray:
    """Channel deltas (working-side signs) that the faults add at full expression."""
    d = np.zeros(len(_CH))
    for f in faults:
        if f == "drop":
            d[1] += deg
        elif f == "hike":
            d[1] -= deg
        elif f == "rotate":
            d[2] += deg
        elif f in ("tilt", "arch"):
            d[0] += deg
        elif f == "tuck":
            d[0] -= deg
        elif f == "wobble":
            d[6] += 0.5 * deg  # oscillation amplitude: half the fault size
    return d


def _pose_vec(pose: Pose, scale: float) -> np.ndarray:
    return np.array([pose.tilt_deg, pose.obliquity_deg, pose.rotation_deg, pose.forward_m,
                     pose.lateral_m, pose.up_m, 0.0]) * scale


def _to_world(v: np.ndarray, side: str) -> np.ndarray:
    """Working-side deltas -> segment frame (obliquity, rotation, lateral flip with side)."""
    out = v.copy()
    sgn = _drop_sign(side)
    out[..., 1] *= sgn           # drop-positive -> obliquity (right side higher = +)
    out[..., 2] *= -sgn          # towards the working side: right -> turn right (negative)
    out[..., 4] *= -sgn          # towards the working side: right -> -y
    return out


def generate_exercise(p: ExerciseParams, rng: np.random.Generator, rate_hz: float,
                      name: str | None = None) -> MotionPiece:
    """All sets and reps of one exercise, from its base posture back to it."""
    spec = validate_exercise(p)
    name = name or p.exercise
    tempo = dict(spec.tempo)
    for k in ("down_s", "hold_s", "up_s", "pause_s"):
        if getattr(p, k) is not None:
            tempo[k] = float(getattr(p, k))
    entry_s = tempo.get("entry_s", 1.0)
    depth = p.depth_scale
    if p.single_leg and p.exercise == "bridge":
        depth_extra = np.array([0.0, 1.5, 1.0, 0, 0, -0.03, 0.0])  # harder: a little drop
    else:
        depth_extra = np.zeros(len(_CH))

    times: list[float] = [0.0]
    vals: list[np.ndarray] = [np.zeros(len(_CH))]
    reps: list[RepSpec] = []
    spans: list[SegmentSpan] = []
    t = 0.5  # settle before the first move

    def hold_until(t_new: float) -> None:
        times.append(t_new)
        vals.append(vals[-1].copy())

    hold_until(t)

    def plan() -> list[tuple[int, list[str]]]:
        out = []
        for s in range(p.sets):
            if p.side in ("right", "left"):
                out.append((s, [p.side] * p.reps))
            elif p.side == "both":
                out.append((s, ["right"] * p.reps))
                out.append((s, ["left"] * p.reps))
            else:
                out.append((s, [("right", "left")[i % 2] for i in range(p.reps)]))
        return out

    blocks = plan()
    for b, (set_index, sides) in enumerate(blocks):
        if b > 0:
            same_set = blocks[b - 1][0] == set_index
            t += p.rest_between_sides_s if same_set else p.rest_between_sets_s
            hold_until(t)
        block_start = t
        ready = None
        if spec.ready is not None:
            ready = _to_world(_pose_vec(spec.ready, 1.0), sides[0])
            t += entry_s
            times.append(t)
            vals.append(ready.copy())
        base = ready if ready is not None else np.zeros(len(_CH))
        posture_from = t if ready is not None else float("-inf")  # the ready move ended
        for r, side in enumerate(sides):
            k_var = 1.0 + p.rep_cv * rng.standard_normal(2)
            d_scale = depth * float(np.clip(k_var[0], 0.5, 1.5))
            t_scale = float(np.clip(k_var[1], 0.6, 1.4))
            faulty = (bool(p.faults) and p.fault_sides in ("both", side)
                      and r + 1 >= p.fault_from_rep and rng.uniform() < p.fault_probability)
            fdelta = _fault_delta(p.faults, p.fault_deg) if faulty else np.zeros(len(_CH))
            start = t
            turn = None
            for step in spec.steps:
                dur = tempo[step.duration] if isinstance(step.duration, str) else step.duration
                dur = max(float(dur) * t_scale, 0.05)
                v = _pose_vec(step.pose, d_scale) + depth_extra * step.pose.fault \
                    + fdelta * step.pose.fault
                if step.turn:
                    turn = t + dur / 2.0
                t += dur
                times.append(t)
                vals.append(base + _to_world(v, side))
            reps.append(RepSpec(p.exercise, side, set_index + 1, r + 1, start,
                                turn if turn is not None else (start + t) / 2.0, t,
                                tuple(p.faults) if faulty else (),
                                p.fault_deg if faulty else 0.0, posture_from))
            t += tempo["pause_s"] * t_scale if r + 1 < len(sides) else 0.5
            hold_until(t)
        if ready is not None:
            t += entry_s
            times.append(t)
            vals.append(np.zeros(len(_CH)))
        which = "alternate" if p.side == "alternate" else sides[0]
        spans.append(SegmentSpan(f"{name} set {set_index + 1} {which}", "set", block_start, t))
    t += 0.5
    hold_until(t)

    n = n_samples(t, rate_hz) + 1
    ts = np.arange(n) / rate_hz
    ch = keyframes(np.array(times), np.array(vals), ts)

    # Wobble: a few random sines at 2.5-4.5 Hz, scaled by the fault envelope.
    wob_env = ch[:, 6]
    if np.any(wob_env != 0):
        freqs = rng.uniform(2.5, 4.5, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
        osc = np.zeros((n, 3))
        for j in range(3):
            osc += np.sin(2 * np.pi * freqs[j] * ts[:, None] + phases[j]) / 3.0
        osc /= np.max(np.abs(osc), axis=0)
        ch[:, 0] += 0.5 * wob_env * osc[:, 0]
        ch[:, 1] += wob_env * osc[:, 1]
        ch[:, 2] += wob_env * osc[:, 2]

    posture = POSTURES[spec.base_posture]
    piece = rest_piece(p.exercise, name, spec.base_posture, n)
    taper = smootherstep(ts / 0.4) * smootherstep((ts[-1] - ts) / 0.4)
    noise = np.radians(p.noise_deg)
    piece.tilt_rad = np.radians(posture.tilt_deg + ch[:, 0]) \
        + taper * smooth_noise(rng, n, rate_hz, 1.5, noise)
    piece.obliquity_rad = np.radians(ch[:, 1]) + taper * smooth_noise(rng, n, rate_hz, 1.5, noise)
    piece.heading_rad = np.radians(ch[:, 2]) + taper * smooth_noise(rng, n, rate_hz, 1.5, noise)
    piece.pos_m[:, 0] = ch[:, 3] + taper * smooth_noise(rng, n, rate_hz, 1.0, 0.003)
    piece.pos_m[:, 1] = ch[:, 4] + taper * smooth_noise(rng, n, rate_hz, 1.0, 0.003)
    piece.pos_m[:, 2] = posture.sacrum_height_m + ch[:, 5]
    piece.reps = reps
    piece.spans = spans
    return piece
