"""Instability flags: rules per activity and exercise, each with a plain explanation.

Per rep, every limit of the exercise is checked (and the personal baseline when the
profile has one). For gait, single strides vary too much to judge alone, so the rules
use the mean over the last strides of a side, fire once when a limit is crossed and
re-arm after `rearm_strides` strides or when the value comes back within the limit.
"""

from __future__ import annotations

from imu.events.exercises import EXERCISE_INFO
from imu.events.model import Flag, Rep, Stride, Variability
from imu.events.profile import Profile


TURN_RATE_MAX_DPS = 20.0


class FlagRules:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._windows: dict[str, list[float]] = {"left": [], "right": []}
        self._armed: dict[str, int] = {}      # rule key -> strides until it may fire again
        self._band: dict[str, str] = {}

    def check(self, item) -> list[Flag]:
        if isinstance(item, Rep):
            return self._rep(item)
        if isinstance(item, Stride):
            return self._stride(item)
        if isinstance(item, Variability):
            return self._variability(item)
        return []

    # --- reps ---------------------------------------------------------------------
    def _rep(self, rep: Rep) -> list[Flag]:
        lim = self.profile.rep_limits(rep.exercise)
        label = EXERCISE_INFO[rep.exercise].label if rep.exercise in EXERCISE_INFO else rep.exercise
        other = {"left": "right", "right": "left"}.get(rep.side or "", "")
        out = []

        def flag(rule: str, value: float, limit: float, text: str) -> None:
            out.append(Flag(rule, rep.exercise, rep.turn_time_s, rep.index, rep.side,
                            round(value, 2), limit, "deg", text, rep.reported_time_s))

        if rep.side and rep.contralateral_drop_deg > lim.drop_max_deg:
            flag("pelvic-drop", rep.contralateral_drop_deg, lim.drop_max_deg,
                 f"{label.capitalize()} rep {rep.index} on the {rep.side}: your {other} hip dropped "
                 f"{rep.contralateral_drop_deg:.1f} deg (limit {lim.drop_max_deg:g}). Keep the "
                 f"pelvis level by pressing through the {rep.side} side hip.")
        if abs(rep.rotation_peak_dev_deg) > lim.rotation_max_deg:
            turn = "left" if rep.rotation_peak_dev_deg > 0 else "right"
            flag("pelvic-rotation", abs(rep.rotation_peak_dev_deg), lim.rotation_max_deg,
                 f"{label.capitalize()} rep {rep.index}: the pelvis turned {turn} by "
                 f"{abs(rep.rotation_peak_dev_deg):.1f} deg (limit {lim.rotation_max_deg:g}). "
                 "Keep both hip bones facing forward.")
        if abs(rep.tilt_peak_dev_deg) > lim.tilt_max_deg:
            way = "forward (back arching)" if rep.tilt_peak_dev_deg > 0 else "backward (tucking)"
            flag("pelvic-tilt", abs(rep.tilt_peak_dev_deg), lim.tilt_max_deg,
                 f"{label.capitalize()} rep {rep.index}: the pelvis tipped {way} by "
                 f"{abs(rep.tilt_peak_dev_deg):.1f} deg (limit {lim.tilt_max_deg:g}).")
        if abs(rep.obliquity_peak_dev_deg) > lim.level_max_deg:
            low = "left" if rep.obliquity_peak_dev_deg > 0 else "right"
            flag("pelvis-not-level", abs(rep.obliquity_peak_dev_deg), lim.level_max_deg,
                 f"{label.capitalize()} rep {rep.index}: the pelvis was not level, {low} side "
                 f"{abs(rep.obliquity_peak_dev_deg):.1f} deg lower (limit {lim.level_max_deg:g}).")
        if rep.wobble_deg > lim.wobble_max_deg:
            flag("wobble", rep.wobble_deg, lim.wobble_max_deg,
                 f"{label.capitalize()} rep {rep.index}: the pelvis wobbled "
                 f"({rep.wobble_deg:.1f} deg of fast sway, limit {lim.wobble_max_deg:g}). "
                 "Slow down and control the movement.")
        if lim.hike_min_deg > 0 and rep.obliquity_rom_deg < lim.hike_min_deg:
            flag("no-hip-lift", rep.obliquity_rom_deg, lim.hike_min_deg,
                 f"Hip hike rep {rep.index}: the pelvis moved only {rep.obliquity_rom_deg:.1f} deg "
                 f"side to side (at least {lim.hike_min_deg:g}): lift from the side hip, "
                 "not by bending the waist.")
        out += self._baseline(rep, label)
        return out

    def _baseline(self, rep: Rep, label: str) -> list[Flag]:
        base = self.profile.baseline.get(rep.exercise, {}).get(rep.side or "none")
        out = []
        if not base:
            return out
        for metric, (mean, sd) in base.items():
            value = getattr(rep, metric, None)
            if value is None:
                continue
            limit = max(self.profile.baseline_k * sd, self.profile.baseline_min_deg)
            if abs(value - mean) > limit:
                name = metric.replace("_deg", "").replace("_", " ")
                out.append(Flag("baseline-" + metric.replace("_deg", ""), rep.exercise,
                                rep.turn_time_s, rep.index, rep.side, round(value, 2),
                                round(mean + (limit if value > mean else -limit), 2), "deg",
                                f"{label.capitalize()} rep {rep.index}: {name} {value:.1f} deg is "
                                f"outside your usual {mean:.1f} +- {limit:.1f} deg.",
                                rep.reported_time_s))
        return out

    # --- gait ---------------------------------------------------------------------
    def _stride(self, s: Stride) -> list[Flag]:
        lim = self.profile.running if s.activity == "running" else self.profile.walking
        if abs(s.turn_rate_dps) > TURN_RATE_MAX_DPS:
            return []
        win = self._windows[s.side]
        win.append(s.contralateral_drop_deg)
        del win[:-lim.window_strides]
        for k in list(self._armed):
            self._armed[k] -= 1
        out = []
        if len(win) >= lim.window_strides // 2:
            mean = sum(win) / len(win)
            other = "left" if s.side == "right" else "right"
            key = f"cpd-{s.side}"
            if mean > lim.cpd_max_deg:
                if self._armed.get(key, 0) <= 0:
                    self._armed[key] = lim.rearm_strides
                    out.append(Flag("contralateral-drop", s.activity, s.ic_time_s, s.index,
                                    s.side, round(mean, 2), lim.cpd_max_deg, "deg",
                                    f"{s.activity.capitalize()}: in {s.side} stance your {other} "
                                    f"hip drops {mean:.1f} deg on average (limit "
                                    f"{lim.cpd_max_deg:g}). Larger drops are linked to running "
                                    f"injuries: strengthen the {s.side} side hip.", s.reported_time_s))
            else:
                self._armed[key] = 0
            lw, rw = self._windows["left"], self._windows["right"]
            if len(lw) >= lim.window_strides // 2 and len(rw) >= lim.window_strides // 2:
                asym = sum(rw) / len(rw) - sum(lw) / len(lw)
                key = "asymmetry"
                if abs(asym) > lim.asymmetry_max_deg:
                    if self._armed.get(key, 0) <= 0:
                        self._armed[key] = lim.rearm_strides
                        worse = "right" if asym > 0 else "left"
                        out.append(Flag("drop-asymmetry", s.activity, s.ic_time_s, s.index, worse,
                                        round(abs(asym), 2), lim.asymmetry_max_deg, "deg",
                                        f"{s.activity.capitalize()}: the pelvis drops "
                                        f"{abs(asym):.1f} deg more in {worse} stance than in the "
                                        f"other (limit {lim.asymmetry_max_deg:g}).",
                                        s.reported_time_s))
                else:
                    self._armed[key] = 0
        return out

    def _variability(self, v: Variability) -> list[Flag]:
        prev = self._band.get(v.side)
        self._band[v.side] = v.band
        if v.band == "healthy" or v.band == prev:
            return []
        lim = self.profile.running
        limit = lim.variability_too_little_deg if v.band == "too little" else lim.variability_too_much_deg
        text = ("very repetitive, almost robotic" if v.band == "too little"
                else "inconsistent from stride to stride")
        return [Flag("variability", "gait", v.time_s, None, v.side, round(v.obliquity_curve_sd_deg, 2),
                     limit, "deg", f"Pelvic drop in {v.side} stance is {text} "
                     f"({v.obliquity_curve_sd_deg:.1f} deg stride-to-stride SD).", v.reported_time_s)]
