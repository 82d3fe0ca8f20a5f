"""Plain-text summaries for the command line."""

from __future__ import annotations

import numpy as np

from imu.inputs import LoadedInput
from imu.pipeline import Analysis


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
    return "\n".join(lines)
