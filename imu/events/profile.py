"""The user's limits for the flags: defaults with their sources, overridable in TOML.

A profile file holds any subset of the limits, per activity or exercise, e.g.

    [running]
    cpd_max_deg = 6.5

    [lunge]
    drop_max_deg = 4

and optionally a personal baseline (written by `pelvis-monitor analyze --save-baseline`)
from the user's own good reps: mean and SD per exercise, side and metric; then a rep
is also flagged when it deviates from that baseline by more than baseline_k SDs.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from imu.errors import SettingsError


@dataclass(frozen=True)
class GaitLimits:
    """Running/walking limits.

    cpd_max_deg: mean contralateral pelvic drop over the last strides of a side. Injured
      runners averaged about 7.5 deg against 5 deg in controls, with the odds of being
      injured rising ~80 % per extra degree (Bramah et al. 2018, AJSM); 7 deg for
      running, 6 for walking (smaller drops in walking, e.g. Dunphy et al. 2016).
    asymmetry_max_deg: |left - right| mean CPD; above ~2-3 deg is a clear side bias.
    variability band on the cycle-normalised obliquity SD: below too_little is rigid,
      above too_much inconsistent. Provisional defaults (no consensus norms): compare
      against your own healthy runs.
    """

    cpd_max_deg: float = 7.0
    asymmetry_max_deg: float = 2.5
    window_strides: int = 10
    variability_too_little_deg: float = 0.3
    variability_too_much_deg: float = 2.0
    rearm_strides: int = 20


@dataclass(frozen=True)
class RepLimits:
    """Per-rep limits, deviations from the rep's start posture (degrees).

    drop_max_deg: non-working side dropping (Trendelenburg sign during single-leg work:
      a visible drop of a few degrees is the clinical positive; 2-4 deg here).
    rotation_max_deg, tilt_max_deg: the pelvis turning or tipping beyond what the
      exercise needs. wobble_max_deg: RMS of fast sway (above ~2 Hz).
    level_max_deg: |obliquity| for exercises that should keep the pelvis level (bridge).
    """

    drop_max_deg: float = 3.0
    rotation_max_deg: float = 5.0
    tilt_max_deg: float = 90.0
    wobble_max_deg: float = 0.8
    level_max_deg: float = 90.0
    hike_min_deg: float = 0.0


def _default_reps() -> dict[str, RepLimits]:
    return {
        "lunge": RepLimits(drop_max_deg=3.0, rotation_max_deg=5.0, tilt_max_deg=15.0),
        "single-leg-squat": RepLimits(drop_max_deg=3.0, rotation_max_deg=5.0, tilt_max_deg=25.0),
        "single-leg-stance": RepLimits(drop_max_deg=2.0, rotation_max_deg=4.0, tilt_max_deg=6.0),
        "hip-hike": RepLimits(drop_max_deg=90.0, rotation_max_deg=4.0, tilt_max_deg=5.0,
                              hike_min_deg=3.0),
        "bridge": RepLimits(drop_max_deg=90.0, rotation_max_deg=4.0, level_max_deg=3.0),
        "kickback": RepLimits(drop_max_deg=90.0, rotation_max_deg=4.0, level_max_deg=3.5,
                              tilt_max_deg=8.0),
    }


@dataclass(frozen=True)
class Profile:
    running: GaitLimits = GaitLimits()
    walking: GaitLimits = GaitLimits(cpd_max_deg=6.0)
    reps: dict[str, RepLimits] = field(default_factory=_default_reps)
    baseline: dict = field(default_factory=dict)
    """{exercise: {side: {metric: [mean, sd]}}} from good reps."""
    baseline_k: float = 3.0
    baseline_min_deg: float = 1.5

    def rep_limits(self, exercise: str) -> RepLimits:
        return self.reps.get(exercise, RepLimits())


def _apply(obj, table: dict, where: str):
    known = {f.name: f for f in fields(obj)}
    changes = {}
    for k, v in table.items():
        if k not in known:
            raise SettingsError(f"{where}: unknown limit '{k}'. Known: {', '.join(known)}.")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SettingsError(f"{where}.{k} must be a number, got {v!r}.")
        changes[k] = type(getattr(obj, k))(v)
    return replace(obj, **changes)


def load_profile(path: str | Path) -> Profile:
    """Read a profile TOML; unknown sections or limits are errors (typos must not
    silently leave a default in place)."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"Profile file not found: {p}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{p}: not valid TOML ({exc}).") from None
    prof = Profile()
    reps = dict(prof.reps)
    for key, table in doc.items():
        if key in ("running", "walking"):
            prof = replace(prof, **{key: _apply(getattr(prof, key), table, f"{p}:[{key}]")})
        elif key in reps:
            reps[key] = _apply(reps[key], table, f"{p}:[{key}]")
        elif key == "baseline":
            prof = replace(prof, baseline=table)
        elif key in ("baseline_k", "baseline_min_deg"):
            prof = replace(prof, **{key: float(table)})
        else:
            raise SettingsError(f"{p}: unknown section [{key}]. Sections: running, walking, "
                                f"{', '.join(reps)}, baseline.")
    return replace(prof, reps=reps)


BASELINE_METRICS = ("contralateral_drop_deg", "rotation_peak_dev_deg", "tilt_peak_dev_deg",
                    "obliquity_peak_dev_deg", "wobble_deg")


def baseline_from_reps(reps) -> dict:
    """Mean and SD per exercise, side and metric from a list of (good) Rep items."""
    groups: dict = {}
    for r in reps:
        groups.setdefault(r.exercise, {}).setdefault(r.side or "none", []).append(r)
    out: dict = {}
    for ex, sides in groups.items():
        for side, rs in sides.items():
            if len(rs) < 3:
                continue
            out.setdefault(ex, {})[side] = {
                m: [round(float(np.mean([getattr(r, m) for r in rs])), 3),
                    round(float(np.std([getattr(r, m) for r in rs], ddof=1)), 3)]
                for m in BASELINE_METRICS}
    return out


def baseline_toml(baseline: dict) -> str:
    lines = ["# Personal baseline from good reps: [mean, sd] per metric.", ""]
    for ex, sides in baseline.items():
        for side, metrics in sides.items():
            lines.append(f'[baseline."{ex}".{side}]')
            lines += [f"{m} = [{v[0]}, {v[1]}]" for m, v in metrics.items()]
            lines.append("")
    return "\n".join(lines)
