"""What the analysis reports: gait events, strides, reps, segments, variability, flags.

Every item carries `reported_time_s`: the time of the sample whose arrival made the
pipeline report it. It depends only on the samples, never on how they were split into
blocks, so a replay reports the same items at the same moments as live did, and the
reporting delay (reported_time_s minus the item's end) is measurable.

Field names follow the CONVENTIONS events JSON; `to_dict()` gives that JSON form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Side = Literal["left", "right"]

ACTIVITIES = ("calibration", "standing", "walking", "running", "exercise", "unknown")
EXERCISES = ("lunge", "single-leg-squat", "single-leg-stance", "bridge", "kickback",
             "hip-hike", "walk", "run")
VARIABILITY_BANDS = ("too little", "healthy", "too much")


def _clean(d: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


@dataclass(frozen=True)
class GaitEvent:
    """An initial contact ('ic') or toe-off ('to') of one foot."""

    kind: Literal["ic", "to"]
    time_s: float
    side: Side
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean({"time_s": self.time_s, "side": self.side})


@dataclass(frozen=True)
class Stride:
    """One stance (IC to TO of `side`) and the cycle it starts, per CONVENTIONS.

    contralateral_drop_deg: largest drop of the swing-side pelvis during the stance,
    positive when the swing side is lower. Times of the next ICs are None when the
    stream ended (or a gap came) before them.
    """

    index: int
    side: Side
    ic_time_s: float
    to_time_s: float
    stance_time_s: float
    step_time_s: float | None
    stride_time_s: float | None
    flight_time_s: float | None
    contralateral_drop_deg: float
    drop_excursion_deg: float
    peak_time_s: float
    obliquity_range_deg: float
    tilt_range_deg: float
    rotation_range_deg: float
    turn_rate_dps: float
    """Heading change rate during the stance: in turns the pelvis leans into the curve,
    which shows as obliquity, so turning strides are left out of the drop flags."""
    activity: str
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass(frozen=True)
class Rep:
    """One repetition: start, turn (deepest / highest point), end; per-angle ROM and the
    peak deviation from the rep's start posture (signed, degrees)."""

    index: int
    set_index: int
    exercise: str
    side: Side | None
    start_time_s: float
    turn_time_s: float
    end_time_s: float
    duration_s: float
    tilt_rom_deg: float
    obliquity_rom_deg: float
    rotation_rom_deg: float
    tilt_peak_dev_deg: float
    obliquity_peak_dev_deg: float
    rotation_peak_dev_deg: float
    contralateral_drop_deg: float
    """Peak drop of the non-working side from the start posture (positive = dropped)."""
    wobble_deg: float
    """RMS of the fast (above ~2 Hz) obliquity and rotation sway during the rep."""
    smoothness: float
    """Spectral arc length (SPARC) of the angular speed; closer to 0 is smoother."""
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass(frozen=True)
class Segment:
    """A stretch of one activity. end_time_s is None while it is still going on."""

    activity: str
    exercise: str | None
    start_time_s: float
    end_time_s: float | None
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass(frozen=True)
class Variability:
    """Stride-to-stride variability over the last strides of one side."""

    time_s: float
    side: Side
    window_strides: int
    cpd_mean_deg: float
    cpd_sd_deg: float
    obliquity_curve_sd_deg: float
    """Mean over the normalised cycle of the across-stride SD of obliquity."""
    band: str
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass(frozen=True)
class Flag:
    """A rule that fired: what, when, which cycle and side, measured value vs limit."""

    rule: str
    activity: str
    time_s: float
    cycle: int | None
    side: Side | None
    value: float
    limit: float
    unit: str
    message: str
    reported_time_s: float

    def to_dict(self) -> dict:
        return _clean(asdict(self))


AnalysisEvent = GaitEvent | Stride | Rep | Segment | Variability | Flag


def events_document(items: list[AnalysisEvent]) -> dict:
    """The CONVENTIONS events JSON for a list of reported items (in report order)."""
    doc: dict = {"initial_contacts": [], "toe_offs": [], "strides": [], "reps": [],
                 "flags": [], "segments": [], "variability": []}
    for it in items:
        if isinstance(it, GaitEvent):
            doc["initial_contacts" if it.kind == "ic" else "toe_offs"].append(it.to_dict())
        elif isinstance(it, Stride):
            doc["strides"].append(it.to_dict())
        elif isinstance(it, Rep):
            doc["reps"].append(it.to_dict())
        elif isinstance(it, Flag):
            doc["flags"].append(it.to_dict())
        elif isinstance(it, Segment):
            doc["segments"].append(it.to_dict())
        elif isinstance(it, Variability):
            doc["variability"].append(it.to_dict())
    for key in ("initial_contacts", "toe_offs"):
        doc[key].sort(key=lambda e: e["time_s"])
    return doc
