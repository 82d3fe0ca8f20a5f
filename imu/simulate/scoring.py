"""Score an analysis against a simulated session's truth: the issue-4 figures.

Gait: initial contacts matched within a tolerance (F1, timing error, side), per-stance
contralateral drop, report delays. Reps: matched by their turn, count per set, peak
obliquity deviation, flags on faulty versus clean reps. Items during standing are false.
Used by the tests and by `bench.events_accuracy`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imu.events.exercises import EXERCISE_INFO
from imu.events.model import AnalysisEvent, Flag, GaitEvent, Rep, Stride
from imu.simulate.truth import Truth

IC_TOLERANCE_S = 0.05


@dataclass
class GaitScore:
    ic_true: int = 0
    ic_found: int = 0
    ic_matched: int = 0
    ic_timing_errors_s: list[float] = field(default_factory=list)
    side_correct: int = 0
    cpd_errors_deg: list[float] = field(default_factory=list)
    ic_delays_s: list[float] = field(default_factory=list)
    stride_delays_s: list[float] = field(default_factory=list)

    @property
    def f1(self) -> float:
        denom = self.ic_true + self.ic_found
        return 2.0 * self.ic_matched / denom if denom else float("nan")

    @property
    def side_fraction(self) -> float:
        return self.side_correct / self.ic_matched if self.ic_matched else float("nan")


@dataclass
class RepScore:
    reps_true: int = 0
    reps_found: int = 0
    reps_matched: int = 0
    sets_true: int = 0
    sets_exact: int = 0
    side_correct: int = 0
    sides_scored: int = 0
    """Matched reps of exercises with a working side (a bridge, on both legs, has none)."""
    exercise_correct: int = 0
    drop_errors_deg: list[float] = field(default_factory=list)
    """Peak drop of the non-working side (Rep.contralateral_drop_deg's definition),
    both taken on the true working side: the angle error, apart from the side."""
    obliquity_peak_errors_deg: list[float] = field(default_factory=list)
    """Signed largest obliquity deviation: its sign is noise when a rep's obliquity
    moves about as far both ways."""
    flag_tp: int = 0
    flag_fp: int = 0
    flag_fn: int = 0
    delays_s: list[float] = field(default_factory=list)

    @property
    def flag_precision(self) -> float:
        n = self.flag_tp + self.flag_fp
        return self.flag_tp / n if n else float("nan")

    @property
    def flag_recall(self) -> float:
        n = self.flag_tp + self.flag_fn
        return self.flag_tp / n if n else float("nan")


@dataclass
class SessionScore:
    gait: GaitScore
    reps: RepScore
    false_items_standing: int
    """Strides or reps reported inside the simulated standing segments."""


def _match_times(found: np.ndarray, true: np.ndarray, tol: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of sorted event times, nearest first within tol."""
    pairs: list[tuple[float, int, int]] = []
    for j, v in enumerate(true):
        a, b = np.searchsorted(found, [v - tol, v + tol + 1e-12])
        pairs += [(abs(found[i] - v), i, j) for i in range(a, b)]
    used_f, used_t, out = set(), set(), []
    for _, i, j in sorted(pairs):
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            out.append((i, j))
    return out


def score_gait(events: list[AnalysisEvent], truth: Truth,
               tol_s: float = IC_TOLERANCE_S) -> GaitScore:
    ev = truth.events
    t_ic = np.array([e["time_s"] for e in ev["initial_contacts"]])
    t_side = [e["side"] for e in ev["initial_contacts"]]
    ics = sorted((e for e in events if isinstance(e, GaitEvent) and e.kind == "ic"),
                 key=lambda e: e.time_s)
    f_ic = np.array([e.time_s for e in ics])
    sc = GaitScore(ic_true=t_ic.size, ic_found=f_ic.size)
    for i, j in _match_times(f_ic, t_ic, tol_s):
        sc.ic_matched += 1
        sc.ic_timing_errors_s.append(float(f_ic[i] - t_ic[j]))
        sc.side_correct += ics[i].side == t_side[j]
    sc.ic_delays_s = [e.reported_time_s - e.time_s for e in ics]
    strides = sorted((e for e in events if isinstance(e, Stride)), key=lambda s: s.ic_time_s)
    true_st = ev["strides"]
    f_st = np.array([s.ic_time_s for s in strides])
    t_st = np.array([s["ic_time_s"] for s in true_st])
    for i, j in _match_times(f_st, t_st, tol_s):
        if strides[i].side == true_st[j]["side"]:
            sc.cpd_errors_deg.append(strides[i].contralateral_drop_deg
                                     - true_st[j]["contralateral_drop_deg"])
    sc.stride_delays_s = [s.reported_time_s - s.to_time_s for s in strides]
    return sc


def score_reps(events: list[AnalysisEvent], truth: Truth, margin_s: float = 0.5) -> RepScore:
    true_reps = truth.events["reps"]
    reps = [e for e in events if isinstance(e, Rep)]
    flagged = {(f.activity, f.cycle) for f in events
               if isinstance(f, Flag) and isinstance(f.cycle, int)}
    sc = RepScore(reps_true=len(true_reps), reps_found=len(reps))
    used: set[int] = set()
    per_set: dict[tuple, list[int]] = {}
    for x in true_reps:
        key = (x["exercise"], x["set"], x["side"])
        per_set.setdefault(key, [0, 0])
        per_set[key][0] += 1
        cand = [r for r in reps if r.index not in used
                and x["start_time_s"] - margin_s <= r.turn_time_s <= x["end_time_s"] + margin_s]
        if not cand:
            continue
        r = min(cand, key=lambda r: abs(r.turn_time_s - x["turn_time_s"]))
        used.add(r.index)
        per_set[key][1] += 1
        sc.reps_matched += 1
        if EXERCISE_INFO[_analysis_exercise(x["exercise"])].side_cue != "none":
            sc.sides_scored += 1
            sc.side_correct += r.side == x["side"]
        sc.exercise_correct += r.exercise == _analysis_exercise(x["exercise"])
        sc.obliquity_peak_errors_deg.append(r.obliquity_peak_dev_deg - x["obliquity_peak_dev_deg"])
        if x["side"] in ("left", "right"):
            sc.drop_errors_deg.append(_found_drop(r, x["side"]) - _true_drop(truth, x))
        sc.delays_s.append(r.reported_time_s - r.end_time_s)
        bad, fl = x["fault"] is not None, (r.exercise, r.index) in flagged
        sc.flag_tp += bad and fl
        sc.flag_fp += (not bad) and fl
        sc.flag_fn += bad and not fl
    # Faulty reps that were not found at all are missed flags too.
    sc.flag_fn += sum(1 for x in true_reps if x["fault"] is not None) - (sc.flag_tp + sc.flag_fn)
    sc.sets_true = len(per_set)
    # A set counts as exact when every rep was found and no extra rep fell inside it.
    for (ex, st, side), (n_true, n_found) in per_set.items():
        xs = [x for x in true_reps if (x["exercise"], x["set"], x["side"]) == (ex, st, side)]
        lo = min(x["start_time_s"] for x in xs) - margin_s
        hi = max(x["end_time_s"] for x in xs) + margin_s
        inside = sum(1 for r in reps if lo <= r.turn_time_s <= hi)
        sc.sets_exact += n_found == n_true and inside == n_true
    return sc


def _side_sign(side: str) -> float:
    # Standing on the right leg, the left side drops: the obliquity rises (right higher).
    return 1.0 if side == "right" else -1.0


def _found_drop(r: Rep, side: str) -> float:
    """The rep's drop of the side opposite `side`, from its signed peak and range (the
    deviation starts at 0, so its extremes are the peak and peak -+ range)."""
    peak, rom = r.obliquity_peak_dev_deg, r.obliquity_rom_deg
    hi, lo = (peak, peak - rom) if peak >= 0 else (peak + rom, peak)
    return max(hi, 0.0) if _side_sign(side) > 0 else max(-lo, 0.0)


def _true_drop(truth: Truth, x: dict) -> float:
    """The true drop of the side opposite the working side over the true rep, from its
    start posture (the truth's, as its peaks: truth.start_posture)."""
    t = truth.time_s
    a = int(np.searchsorted(t, x["start_time_s"]))
    b = int(np.searchsorted(t, x["end_time_s"], side="right"))
    obl = truth.obliquity_deg[a:b]
    if obl.size == 0:
        return float("nan")
    start = float(x["start_posture_deg"][1])
    return max(float(np.max(_side_sign(x["side"]) * (obl - start))), 0.0)


def _analysis_exercise(sim_name: str) -> str:
    """The analysis's exercise name for a simulator exercise (a reverse lunge is a lunge)."""
    return "lunge" if sim_name == "reverse_lunge" else sim_name.replace("_", "-")


def false_items_in_standing(events: list[AnalysisEvent], truth: Truth,
                            guard_s: float = 1.0) -> int:
    """Strides and reps whose times fall inside a standing segment (away from its ends)."""
    spans = [(s["start_s"] + guard_s, s["end_s"] - guard_s)
             for s in truth.events["segments"] if s["type"] == "stand"]
    n = 0
    for e in events:
        t = e.ic_time_s if isinstance(e, Stride) else e.turn_time_s if isinstance(e, Rep) else None
        if t is not None and any(a <= t <= b for a, b in spans):
            n += 1
    return n


def score_session(events: list[AnalysisEvent], truth: Truth) -> SessionScore:
    return SessionScore(score_gait(events, truth), score_reps(events, truth),
                        false_items_in_standing(events, truth))
