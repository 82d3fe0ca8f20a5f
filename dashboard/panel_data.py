"""Pure view models: what the panels show, computed from angles and analysis items.

Live and replay call the same functions, so a replay shows what live showed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu.calibration import Alignment, CalibrationProgress
from imu.events.model import AnalysisEvent, Flag, Rep, Segment, Stride, Variability

from dashboard import theme
from dashboard.buffers import AngleSlice

LEVEL_DEG = 0.5
"""Below this a drop or rotation is shown as level / straight (sensor noise)."""
STRIDES_SHOWN = 24
FLAGS_SHOWN = 12
BAND_HEIGHT = 0.06
"""Height (fraction of the chart) of the stance / rep bands under the angle traces."""
ANGLE_TRACES = [0, 1, 2]


@dataclass(frozen=True)
class Readout:
    """One big number: value with unit, what it means, and its colour."""

    value: str
    detail: str
    colour: str


def angle_readouts(angles: tuple[float, float, float] | None) -> tuple[Readout, Readout, Readout]:
    """Tilt, drop and rotation as the big numbers show them."""
    if angles is None:
        wait = Readout("--", "waiting for calibration", theme.MUTED)
        return wait, wait, wait
    tilt, obl, rot = angles
    tilt_r = Readout(f"{abs(tilt):.1f}°", "anterior" if tilt >= 0 else "posterior", theme.TILT)
    if abs(obl) < LEVEL_DEG:
        drop_r = Readout(f"{abs(obl):.1f}°", "level", theme.NEUTRAL)
    elif obl > 0:  # right side higher: the left has dropped (CONVENTIONS)
        drop_r = Readout(f"{obl:.1f}°", "left side low", theme.LEFT)
    else:
        drop_r = Readout(f"{-obl:.1f}°", "right side low", theme.RIGHT)
    if abs(rot) < LEVEL_DEG:
        rot_r = Readout(f"{abs(rot):.1f}°", "square", theme.NEUTRAL)
    else:
        rot_r = Readout(f"{abs(rot):.1f}°", "turned left" if rot > 0 else "turned right",
                        theme.LEFT if rot > 0 else theme.RIGHT)
    return tilt_r, drop_r, rot_r


def pelvis_rotations_deg(angles: tuple[float, float, float] | None) -> tuple[float, float, float]:
    """On-screen clockwise rotations of the back, side and top pictures.

    Back view (wearer's left on the left): right side up = counter-clockwise.
    Side view (seen from the right, front to the right): anterior tilt = clockwise.
    Top view (front up, left on the left): turned left = counter-clockwise.
    """
    if angles is None:
        return 0.0, 0.0, 0.0
    tilt, obl, rot = angles
    return -obl, tilt, -rot


def _json_values(values: np.ndarray, digits: int = 2) -> list:
    """Floats for the page, with None where NaN (a gap in the plotted line)."""
    r = np.round(values, digits)
    return [None if not math.isfinite(v) else v for v in r.tolist()]


def extend_payload(sl: AngleSlice, origin_s: float, max_points: int) -> list:
    """`dcc.Graph.extendData` for the three angle traces (x in seconds since origin)."""
    x = _json_values(sl.time_s - origin_s, 3)
    return [{"x": [x, x, x],
             "y": [_json_values(sl.tilt_deg), _json_values(sl.obliquity_deg),
                   _json_values(sl.rotation_deg)]},
            ANGLE_TRACES, max_points]


def band_spans(items: tuple[AnalysisEvent, ...]) -> list[tuple[str | None, float, float]]:
    """Stance phases (IC to TO) and reps (start to end) as (side, start, end) spans."""
    spans: list[tuple[str | None, float, float]] = []
    for it in items:
        if isinstance(it, Stride):
            spans.append((it.side, it.ic_time_s, it.to_time_s))
        elif isinstance(it, Rep):
            spans.append((it.side, it.start_time_s, it.end_time_s))
    return spans


def band_shapes(items: tuple[AnalysisEvent, ...], start_s: float, end_s: float,
                origin_s: float) -> list[dict]:
    """Shaded stance / rep bands overlapping [start_s, end_s], clipped to it (so they
    never widen the chart's time axis), coloured by side."""
    shapes = []
    for side, a, b in band_spans(items):
        if b < start_s or a > end_s:
            continue
        shapes.append(dict(type="rect", xref="x", yref="paper", layer="below", line_width=0,
                           x0=round(max(a, start_s) - origin_s, 3),
                           x1=round(min(b, end_s) - origin_s, 3), y0=0, y1=BAND_HEIGHT,
                           fillcolor=theme.side_colour(side), opacity=0.55))
    return shapes


@dataclass(frozen=True)
class EventsView:
    """Everything the analysis panels show at one moment."""

    strides: tuple[Stride, ...]
    """The most recent strides (for the CPD bars)."""
    reps: tuple[Rep, ...]
    """The reps of the current (latest) set."""
    flags: tuple[Flag, ...]
    """Newest first."""
    variability: dict[str, Variability]
    segment: Segment | None
    flag_total: int
    stride_total: int
    rep_total: int


def events_view(items: tuple[AnalysisEvent, ...]) -> EventsView:
    """Sort the reported items into what the panels show."""
    strides = [it for it in items if isinstance(it, Stride)]
    reps = [it for it in items if isinstance(it, Rep)]
    flags = [it for it in items if isinstance(it, Flag)]
    segments = [it for it in items if isinstance(it, Segment)]
    variability: dict[str, Variability] = {}
    for it in items:
        if isinstance(it, Variability):
            variability[it.side] = it
    current: tuple[Rep, ...] = ()
    if reps:
        last = reps[-1]
        current = tuple(r for r in reps
                        if r.set_index == last.set_index and r.exercise == last.exercise)
    return EventsView(tuple(strides[-STRIDES_SHOWN:]), current,
                      tuple(reversed(flags[-FLAGS_SHOWN:])), variability,
                      segments[-1] if segments else None, len(flags), len(strides), len(reps))


def clock_text(seconds: float) -> str:
    """m:ss for times on screens."""
    seconds = max(0.0, seconds)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def flag_line(flag: Flag, origin_s: float) -> tuple[str, str, str]:
    """(time, message, measured value vs limit) for the flag feed."""
    return (clock_text(flag.time_s - origin_s), flag.message,
            f"{flag.value:.1f} {flag.unit} (limit {flag.limit:.1f} {flag.unit})")


def activity_text(segment: Segment | None) -> str:
    if segment is None:
        return "Activity: detecting"
    what = segment.exercise or segment.activity
    return f"Activity: {what}"


@dataclass(frozen=True)
class CalibrationStep:
    title: str
    fraction: float
    """0..1."""
    text: str
    done: bool


def calibration_steps(progress: CalibrationProgress | None, alignment: Alignment | None,
                      message: str) -> tuple[CalibrationStep, ...]:
    """The guided calibration: stand still, then hinge (or walk), with progress."""
    if alignment is not None:
        return (CalibrationStep("Calibrated", 1.0,
                                f"From quiet standing and {alignment.anterior_method} "
                                f"(confidence {alignment.confidence:.2f}).", True),)
    if progress is None:
        return (CalibrationStep("Calibration", 0.0, message or "Waiting for data.", False),)
    stand_frac = min(1.0, progress.standing_s / progress.standing_needed_s)
    standing_done = progress.phase != "seek-standing"
    stand = CalibrationStep(
        "1 Stand still", 1.0 if standing_done else stand_frac,
        "Standing found." if standing_done else
        f"Stand upright and still: {progress.standing_s:.1f} of "
        f"{progress.standing_needed_s:.0f} s.", standing_done)
    hinge_frac = progress.hinges_done / progress.hinges_required
    gait_frac = min(1.0, progress.gait_s / progress.gait_needed_s)
    hinge_text = (f"Slow forward hip hinges: {progress.hinges_done} of "
                  f"{progress.hinges_required}" + (" (hinging now)" if progress.in_hinge else "")
                  + ", or walk / run for about 10 s.")
    if not standing_done:
        hinge_text = "Then do slow forward hip hinges (or walk / run)."
    hinge = CalibrationStep("2 Hinge forward", max(hinge_frac, gait_frac) if standing_done else 0.0,
                            hinge_text, False)
    return stand, hinge


def link_text(status, running: bool) -> str:
    """One line for the connection panel: state, device, rate, loss, battery."""
    if status is None:
        return "Not connected."
    rate = (f"{status.measured_rate_hz:.1f} Hz measured" if status.measured_rate_hz
            else "rate not measured yet")
    battery = f"battery {status.battery_percent} %" if status.battery_percent is not None \
        else "battery unknown"
    state = status.link_state if running or status.link_state != "streaming" else "stopped"
    return (f"{state} · {status.device_name} · {status.nominal_rate_hz:.0f} Hz nominal, {rate} · "
            f"packet loss {status.loss_percent:.1f} % · {battery}")
