"""Plain-text summaries for the command line."""

from __future__ import annotations

import numpy as np

from imu.inputs import LoadedInput
from imu.events.model import Flag, Rep, Segment, Stride, Variability
from imu.pipeline import Analysis


def _ms(values: list[float]) -> str:
    v = np.array(values, float)
    if v.size == 0:
        return "-"
    return f"{v.mean():.1f} +- {v.std(ddof=1) if v.size > 1 else 0.0:.1f} deg"


def events_summary(analysis: Analysis) -> list[str]:
    """Per segment and side: strides or reps, CPD or rep metrics, variability, flags."""
    ev = list(analysis.events)
    segs = [e for e in ev if isinstance(e, Segment)
            and e.activity in ("walking", "running", "exercise") and e.end_time_s is not None]
    lines = []
    for seg in segs:
        a, b = seg.start_time_s, seg.end_time_s
        name = seg.exercise or seg.activity
        lines.append(f"{name.capitalize()} {a:.0f}-{b:.0f} s:")
        strides = [e for e in ev if isinstance(e, Stride) and a <= e.ic_time_s <= b]
        reps = [e for e in ev if isinstance(e, Rep) and a <= e.turn_time_s <= b]
        for side in ("left", "right"):
            st = [s for s in strides if s.side == side]
            if st:
                cad = [60.0 / s.step_time_s for s in st if s.step_time_s]
                var = [v for v in ev if isinstance(v, Variability) and v.side == side
                       and a <= v.time_s <= b]
                band = f", variability {var[-1].obliquity_curve_sd_deg:.1f} deg ({var[-1].band})" \
                    if var else ""
                lines.append(f"  {side:<5} stance: {len(st)} strides, CPD {_ms([s.contralateral_drop_deg for s in st])}"
                             f"{f', cadence {np.median(cad):.0f} steps/min' if cad else ''}{band}")
            rp = [r for r in reps if r.side == side]
            if rp:
                lines.append(f"  {side:<5} side: {len(rp)} reps, drop {_ms([r.contralateral_drop_deg for r in rp])}, "
                             f"rotation {_ms([r.rotation_peak_dev_deg for r in rp])}, "
                             f"tilt {_ms([r.tilt_peak_dev_deg for r in rp])}")
        other = [r for r in reps if r.side is None]
        if other:
            lines.append(f"  {len(other)} reps, level {_ms([r.obliquity_peak_dev_deg for r in other])}, "
                         f"tilt {_ms([r.tilt_peak_dev_deg for r in other])}")
        flags = [f for f in ev if isinstance(f, Flag) and a <= f.time_s <= b]
        for f in flags[:8]:
            lines.append(f"  ! {f.time_s:7.1f} s  {f.message}")
        if len(flags) > 8:
            lines.append(f"  ... and {len(flags) - 8} more flag(s) (--events OUT.json lists all)")
    return lines


def _angle_line(name: str, values: np.ndarray) -> str:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return f"  {name:<10} withheld"
    return (f"  {name:<10} mean {v.mean():6.1f} deg   SD {v.std():5.1f} deg   "
            f"range {v.min():6.1f} .. {v.max():6.1f} deg")


def analysis_summary(loaded: LoadedInput, analysis: Analysis) -> str:
    """A short human summary of an analysis."""
    n = len(analysis.time_s)
    dur = float(analysis.time_s[-1] - analysis.time_s[0]) if n > 1 else 0.0
    gaps = int(analysis.gap_before[1:].sum())
    lines = [
        f"{loaded.path} ({loaded.kind}{', ' + loaded.device if loaded.device else ''})",
        f"  {n} samples, {dur:.1f} s at {analysis.rate_hz:.1f} Hz, {gaps} gap(s); "
        f"filter {analysis.settings.fusion.filter_name}"
        f"{' 9D' if analysis.settings.fusion.use_mag else ' 6D'}",
    ]
    for p in loaded.notes:
        lines.append(f"  note: {p}")
    al = analysis.alignment
    if al is None:
        lines.append("Pelvic angles withheld: the sensor-to-pelvis alignment could not be found.")
        lines.append("  " + analysis.message)
        lines.append("  The fused sensor orientation is still available (--orientation).")
        return "\n".join(lines)
    lines.append(
        f"Calibration: vertical from {al.vertical_method} ({al.standing_start_s:.1f}-"
        f"{al.standing_end_s:.1f} s), anterior from {al.anterior_method} "
        f"({al.anterior_start_s:.1f}-{al.anterior_end_s:.1f} s), confidence {al.confidence:.2f}; "
        f"angles from {al.decided_at_s:.1f} s")
    lines.append("Pelvic angles (relative to standing):")
    lines.append(_angle_line("tilt", analysis.tilt_deg))
    lines.append(_angle_line("obliquity", analysis.obliquity_deg))
    lines.append(_angle_line("rotation", analysis.rotation_deg))
    lines += events_summary(analysis)
    return "\n".join(lines)
