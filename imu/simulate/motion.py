"""Pose containers: pelvis orientation and sacrum position on a fine time grid.

The pelvis orientation is always held as the three CONVENTIONS angles, so the truth
is known by construction: R_earth_pelvis = Rz(heading) Rx(-obliquity) Ry(tilt)
(`imu.angles.pelvis_matrix_from_angles`). Tilt and obliquity are absolute (relative
to the standing calibration posture); heading includes the walking direction, turns
and the transverse pelvic rotation.

Each motion model returns a `MotionPiece` in its own local frame: heading starts at 0,
the horizontal position starts at (0, 0) with x along the initial facing direction,
height is absolute. Every piece starts and ends at rest in a named base posture, so
`compose` can chain pieces with a heading/position offset and the joins are C2.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu.errors import PelvisMonitorError

# Internal grid rate: fine enough that central differences of the smooth curves are
# accurate to ~1e-4 relative for the fastest content (impact transients, tau ~ 10 ms).
FINE_RATE_HZ = 1000.0


@dataclass(frozen=True)
class Posture:
    """A base posture: absolute pelvis angles and sacrum height when at rest in it."""

    name: str
    tilt_deg: float
    obliquity_deg: float
    sacrum_height_m: float


# Sacrum height standing for an adult of ~1.70 m; lying supine the sensor is just above
# the floor; on hands and knees the sacrum is about one thigh length above it.
POSTURES: dict[str, Posture] = {
    "standing": Posture("standing", 0.0, 0.0, 0.95),
    "on_step": Posture("on_step", 0.0, 0.0, 0.95 + 0.17),
    # Lying on the back, head towards -x: the anterior axis points up (tilt -90 deg).
    "supine": Posture("supine", -90.0, 0.0, 0.08),
    # On hands and knees, head towards +x: the cranial axis points forward (tilt +90 deg).
    "quadruped": Posture("quadruped", 90.0, 0.0, 0.55),
}

# Sacrum point relative to the hip-joint centre, pelvis frame (m): behind and above it.
SACRUM_FROM_HIP_M = np.array([-0.10, 0.0, 0.06])


class MotionError(PelvisMonitorError):
    """A motion model was asked for something it cannot produce."""


@dataclass(frozen=True)
class GaitEvent:
    """Initial contact ('ic') or toe-off ('to') of one foot."""

    time_s: float
    kind: str
    side: str


@dataclass(frozen=True)
class StanceSpec:
    """One stance as generated: IC to TO of `side`; the stride ends at the next IC of that side."""

    side: str
    ic_time_s: float
    to_time_s: float
    next_ic_time_s: float
    phase: str  # "start", "steady", "stop" or "turn"


@dataclass(frozen=True)
class RepSpec:
    """One exercise repetition as generated (times in seconds)."""

    exercise: str
    side: str
    set_index: int
    rep_index: int
    start_s: float
    turn_s: float
    end_s: float
    faults: tuple[str, ...] = ()
    fault_deg: float = 0.0
    posture_from_s: float = float("-inf")
    """The pose before the rep is its start posture from here on (the end of a move into
    the set's ready posture: lifting the free foot before the first single-leg squat)."""


@dataclass(frozen=True)
class HingeSpec:
    """One functional-calibration hip hinge (pure rotation about the medio-lateral axis)."""

    start_s: float
    turn_s: float
    end_s: float
    tilt_deg: float


@dataclass(frozen=True)
class SegmentSpan:
    """Where a script segment (or an inserted posture transition) sits in the session."""

    name: str
    kind: str
    start_s: float
    end_s: float


@dataclass
class MotionPiece:
    """Output of one motion model, local frame, times relative to the piece start."""

    kind: str
    name: str
    tilt_rad: np.ndarray
    obliquity_rad: np.ndarray
    heading_rad: np.ndarray
    pos_m: np.ndarray
    start_posture: str
    end_posture: str
    events: list[GaitEvent] = field(default_factory=list)
    stances: list[StanceSpec] = field(default_factory=list)
    reps: list[RepSpec] = field(default_factory=list)
    hinges: list[HingeSpec] = field(default_factory=list)
    # Sub-spans inside the piece (e.g. each set of an exercise), relative times.
    spans: list[SegmentSpan] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.tilt_rad.shape[0])


def rest_piece(kind: str, name: str, posture: str, n: int) -> MotionPiece:
    """n samples at rest in a base posture (the starting point of most models)."""
    p = POSTURES[posture]
    pos = np.zeros((n, 3))
    pos[:, 2] = p.sacrum_height_m
    return MotionPiece(
        kind=kind, name=name,
        tilt_rad=np.full(n, np.radians(p.tilt_deg)),
        obliquity_rad=np.full(n, np.radians(p.obliquity_deg)),
        heading_rad=np.zeros(n), pos_m=pos,
        start_posture=posture, end_posture=posture,
    )


def n_samples(duration_s: float, rate_hz: float) -> int:
    """Fine-grid samples for a duration (at least 2)."""
    return max(2, int(round(duration_s * rate_hz)))


@dataclass
class Motion:
    """A whole session's pelvis pose on the fine grid (earth frame), plus what happened when.

    Sample i is at time i / rate_hz. Angles in radians, heading unwrapped, sacrum
    position in metres. Event and rep times are in the same (true) time base.
    """

    rate_hz: float
    tilt_rad: np.ndarray
    obliquity_rad: np.ndarray
    heading_rad: np.ndarray
    pos_m: np.ndarray
    segments: list[SegmentSpan] = field(default_factory=list)
    events: list[GaitEvent] = field(default_factory=list)
    stances: list[StanceSpec] = field(default_factory=list)
    reps: list[RepSpec] = field(default_factory=list)
    hinges: list[HingeSpec] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.tilt_rad.shape[0])

    @property
    def duration_s(self) -> float:
        return (self.n - 1) / self.rate_hz

    @classmethod
    def from_arrays(cls, rate_hz: float, tilt_rad: np.ndarray, obliquity_rad: np.ndarray,
                    heading_rad: np.ndarray, pos_m: np.ndarray | None = None) -> "Motion":
        """A motion from raw arrays (tests and custom trajectories); position defaults to still."""
        tilt = np.asarray(tilt_rad, dtype=np.float64)
        n = tilt.shape[0]
        obl = np.broadcast_to(np.asarray(obliquity_rad, dtype=np.float64), (n,)).copy()
        head = np.broadcast_to(np.asarray(heading_rad, dtype=np.float64), (n,)).copy()
        if pos_m is None:
            pos = np.zeros((n, 3))
            pos[:, 2] = POSTURES["standing"].sacrum_height_m
        else:
            pos = np.asarray(pos_m, dtype=np.float64).reshape(n, 3)
        return cls(rate_hz, tilt.copy(), obl, head, pos,
                   segments=[SegmentSpan("custom", "custom", 0.0, (n - 1) / rate_hz)])


def compose(pieces: list[MotionPiece], rate_hz: float = FINE_RATE_HZ) -> Motion:
    """Chain local pieces into one session: each starts where (and facing where) the last ended."""
    if not pieces:
        raise MotionError("A session needs at least one segment.")
    tilt, obl, head, pos = [], [], [], []
    segments: list[SegmentSpan] = []
    events: list[GaitEvent] = []
    stances: list[StanceSpec] = []
    reps: list[RepSpec] = []
    hinges: list[HingeSpec] = []
    offset = 0
    h0 = 0.0
    p0 = np.zeros(2)
    prev: MotionPiece | None = None
    for piece in pieces:
        if prev is not None:
            _check_join(prev, piece, tilt[-1][-1], obl[-1][-1], pos[-1][-1, 2])
        t0 = offset / rate_hz
        c, s = np.cos(h0), np.sin(h0)
        local = piece.pos_m
        world = np.empty_like(local)
        world[:, 0] = p0[0] + c * local[:, 0] - s * local[:, 1]
        world[:, 1] = p0[1] + s * local[:, 0] + c * local[:, 1]
        world[:, 2] = local[:, 2]
        tilt.append(piece.tilt_rad)
        obl.append(piece.obliquity_rad)
        head.append(h0 + piece.heading_rad)
        pos.append(world)
        end_s = t0 + (piece.n - 1) / rate_hz
        segments.append(SegmentSpan(piece.name, piece.kind, t0, end_s))
        segments.extend(SegmentSpan(sp.name, sp.kind, t0 + sp.start_s, t0 + sp.end_s)
                        for sp in piece.spans)
        events.extend(GaitEvent(e.time_s + t0, e.kind, e.side) for e in piece.events)
        stances.extend(StanceSpec(st.side, st.ic_time_s + t0, st.to_time_s + t0,
                                  st.next_ic_time_s + t0, st.phase) for st in piece.stances)
        reps.extend(RepSpec(r.exercise, r.side, r.set_index, r.rep_index, r.start_s + t0,
                            r.turn_s + t0, r.end_s + t0, r.faults, r.fault_deg,
                            r.posture_from_s + t0) for r in piece.reps)
        hinges.extend(HingeSpec(hg.start_s + t0, hg.turn_s + t0, hg.end_s + t0, hg.tilt_deg)
                      for hg in piece.hinges)
        h0 = float(h0 + piece.heading_rad[-1])
        p0 = world[-1, :2].copy()
        offset += piece.n
        prev = piece
    return Motion(rate_hz, np.concatenate(tilt), np.concatenate(obl), np.concatenate(head),
                  np.concatenate(pos), segments, events, stances, reps, hinges)


def _check_join(prev: MotionPiece, nxt: MotionPiece, tilt_end: float, obl_end: float,
                z_end: float) -> None:
    # Pieces must meet in the same posture; a mismatch is a bug in a model, not user input.
    if (abs(nxt.tilt_rad[0] - tilt_end) > 1e-9 or abs(nxt.obliquity_rad[0] - obl_end) > 1e-9
            or abs(nxt.pos_m[0, 2] - z_end) > 1e-9 or abs(nxt.heading_rad[0]) > 1e-12
            or np.any(np.abs(nxt.pos_m[0, :2]) > 1e-12)):
        raise MotionError(
            f"Segment '{nxt.name}' does not start where '{prev.name}' ended "
            f"(posture {prev.end_posture} -> {nxt.start_posture}); this is a simulator bug."
        )
