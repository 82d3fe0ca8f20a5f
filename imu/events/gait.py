"""Gait events from the sacral sensor: initial contact, toe-off and side, step by step.

Method (references in docs/events.md):
- Steps are found in the vertical acceleration of the sacrum. Its smoothed form peaks
  once per step, in the loading response of walking and in mid-stance of running; the
  step period comes from its autocorrelation (Moe-Nilssen & Helbostad 2004), and only
  the largest peak within +-40 % of a step counts, so turns, wobbles and double bumps
  do not add steps.
- The initial contact is the steepest rise of the (lightly smoothed) vertical
  acceleration just before that peak: the heel strike or foot impact decelerating the
  falling body (Zijlstra & Hof 2003; Lee et al. 2010 for running at the sacrum).
- The toe-off is the steepest fall after the peak: in running the end of the stance
  force as the body leaves the ground; in walking the unloading that follows
  contralateral toe-off (McCamley et al. 2012 use the same shape).
- The side comes from the pelvis itself: in a right stance the left (swing) side drops,
  so the obliquity rises after a right IC and falls after a left one. Steps alternate,
  so each bout gets one left/right phase voted over its recent steps.

Everything runs on a short history in fixed hops, reporting each IC once its side is
known (about 0.25 s after it) and each stance once its toe-off is certain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from imu import GRAVITY_MPS2
from imu.events.model import GaitEvent, Side, Stride
from imu.fusion.gait_periodicity import autocorrelation

STEP_MIN_S = 0.25
STEP_MAX_S = 1.0
ANCHOR_SIGMA_S = 0.04       # smoothing of the per-step vertical-acceleration peak
JERK_SIGMA_S = 0.008        # light smoothing before differentiating
SMOOTH_TRUNCATE = 3.0
NMS_FRACTION = 0.4          # a step's peak must be the largest within +-40 % of a step
NMS_MAX_S = 0.2
IC_SEARCH_BACK_S = 0.16     # IC within this much before the step peak...
IC_SEARCH_FWD_S = 0.03      # ...or just after it
MIN_PERIODICITY = 0.3       # autocorrelation at the step lag
MIN_STEP_PEAK_MPS2 = 0.8    # a step's smoothed vertical-acceleration peak above 1 g
SIDE_FROM = 0.2             # obliquity change from IC to (0.2..0.45) of a step
SIDE_TO = 0.4
SIDE_MAX_S = 0.2            # ...but no later than this, to report within 0.5 s
VOTE_STEPS = 10
TO_GIVE_UP_S = 1.5
RESCAN_STEPS = 2.0          # look-back (in steps) for a bout's first steps once its rhythm shows
REPORT_WITHIN_S = 0.5       # an IC or toe-off found later than this is not reported
PERIOD_EVERY_HOPS = 5       # the step period changes slowly: re-estimate every few hops
FLIGHT_UP_MPS2 = -0.6 * GRAVITY_MPS2  # below this (specific force < 0.4 g): airborne


def lookahead_s() -> float:
    """Seconds of signal needed after a sample before its smoothed value is final."""
    return SMOOTH_TRUNCATE * ANCHOR_SIGMA_S + 0.01


def _reach(sigma_s: float, rate_hz: float) -> int:
    """Samples on each side that a Gaussian of sigma_s (truncated) reaches."""
    return int(SMOOTH_TRUNCATE * sigma_s * rate_hz + 0.5)


@lru_cache(maxsize=8)
def _gauss_kernel(sigma_s: float, rate_hz: float) -> np.ndarray:
    m = _reach(sigma_s, rate_hz)
    x = np.arange(-m, m + 1) / (sigma_s * rate_hz)
    k = np.exp(-0.5 * x * x)
    return k / k.sum()


def gaussian_smooth(x: np.ndarray, sigma_s: float, rate_hz: float) -> np.ndarray:
    """Gaussian smoothing (truncated at SMOOTH_TRUNCATE sigma), ends extended with the
    edge values; as scipy.ndimage.gaussian_filter1d(mode='nearest') but without its
    per-call overhead, which dominates on the short windows filtered every hop."""
    k = _gauss_kernel(sigma_s, rate_hz)
    m = k.size // 2
    if x.size == 0:
        return x.astype(float)
    padded = np.concatenate((np.full(m, x[0]), x, np.full(m, x[-1])))
    return np.convolve(padded, k, mode="valid")


def _gradient(x: np.ndarray) -> np.ndarray:
    """np.gradient of a 1-D array with unit spacing (central inside, one-sided at the
    ends), without its per-call overhead."""
    g = np.empty_like(x)
    if x.size < 2:
        g[:] = 0.0
        return g
    g[1:-1] = 0.5 * (x[2:] - x[:-2])
    g[0], g[-1] = x[1] - x[0], x[-1] - x[-2]
    return g


def _smooth_anchor(up: np.ndarray, a: int, b: int, rate_hz: float) -> np.ndarray:
    """The step-peak smoothing of up[a:b], filtered with margin so that the values equal
    those of filtering the whole array."""
    m = _reach(ANCHOR_SIGMA_S, rate_hz)
    lo, hi = max(0, a - m), min(up.size, b + m)
    return gaussian_smooth(up[lo:hi], ANCHOR_SIGMA_S, rate_hz)[a - lo:a - lo + (b - a)]


def step_period_s(x: np.ndarray, rate_hz: float) -> tuple[float, float]:
    """Step period (s) and its autocorrelation from a few seconds of signal.

    The first autocorrelation peak in STEP_MIN_S..STEP_MAX_S reaching half the largest
    is the step (the stride peak can be higher in an asymmetric gait)."""
    x = x - x.mean()
    n = x.size
    lo, hi = int(STEP_MIN_S * rate_hz), min(int(STEP_MAX_S * rate_hz), n - 2)
    if hi <= lo + 2:
        return float("nan"), 0.0
    ac = autocorrelation(x, hi + 2)
    if ac is None:
        return float("nan"), 0.0
    seg = ac[lo:hi + 1]
    peaks = np.flatnonzero((seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
    if peaks.size == 0:
        return float("nan"), 0.0
    best = seg[peaks].max()
    k = peaks[np.argmax(seg[peaks] >= 0.5 * best)]
    return (lo + k) / rate_hz, float(seg[k])


@dataclass
class _Step:
    ic_time_s: float
    ic_index: int            # stream index
    peak_index: int
    period_s: float
    evidence: float = 0.0    # + right stance, - left stance
    side: Side | None = None
    reported: bool = False
    to_time_s: float | None = None
    to_index: int | None = None
    flight: bool = False


@dataclass
class _Bout:
    steps: list[_Step] = field(default_factory=list)


class GaitDetector:
    """Streaming IC/TO/side detection and per-stance metrics."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        self._bout = _Bout()
        self._checked_until = -np.inf   # anchors before this stream time were examined
        self._stride_count = 0
        self._last_ic_by_side: dict[str, float] = {}
        self._last_to_by_side: dict[str, float] = {}
        self.step_period_s: float | None = None
        self.periodicity = 0.0
        self.running = False
        self._hops = 0
        self._rhythm = False
        self._reset_t = -np.inf

    def reset(self, gap_end_s: float | None = None) -> None:
        """Forget the current bout (after a gap ending at gap_end_s, or when gait stops)."""
        if gap_end_s is not None:
            self._reset_t = gap_end_s
        self._bout = _Bout()
        self._last_ic_by_side.clear()
        self._last_to_by_side.clear()

    def in_gait(self, now_s: float) -> bool:
        st = self._bout.steps
        # Three steps in rhythm make a bout: a single step (a lunge) does not.
        return len(st) >= 3 and now_s - st[-1].ic_time_s < 2.5 * st[-1].period_s + 0.3

    def process(self, hist, now_s: float) -> list:
        """Look at the history (a SignalHistory) after a hop; return newly final items."""
        t = hist.col("time_s")
        n = t.size
        rate = self.rate_hz
        self._hops += 1
        if n < int(1.5 * rate):
            return []
        up = hist.col("up_mps2")
        final_end = now_s - lookahead_s()
        k_final = int(np.searchsorted(t, final_end, side="right"))
        if self._hops % PERIOD_EVERY_HOPS == 0:
            win0 = int(np.searchsorted(t, final_end - 4.0))
            period, r = step_period_s(_smooth_anchor(up, win0, k_final, rate), rate)
            self.step_period_s, self.periodicity = (period if np.isfinite(period) else None), r
        period, r = self.step_period_s, self.periodicity
        out: list = []
        if period is None or r < MIN_PERIODICITY:
            self._checked_until = max(self._checked_until, final_end)
            self._rhythm = False
            out += self._report(hist, now_s, final_end, None)
            return out
        if not self._rhythm and not self._bout.steps:
            # The rhythm shows only after a few steps: look back for the first ones
            # (they are reported late, the only items that are).
            self._checked_until = max(final_end - RESCAN_STEPS * period, self._reset_t)
        self._rhythm = True
        w = min(NMS_FRACTION * period, NMS_MAX_S)
        decidable_end = final_end - w
        i0 = max(int(np.searchsorted(t, max(self._checked_until, t[0] + 0.5), side="right")), 1)
        i1 = min(int(np.searchsorted(t, decidable_end, side="right")), n - 1)
        # The filters are local, so only the recent part of the history is filtered: from
        # the oldest stance still waiting for its toe-off (or the new peaks' search
        # windows), with the kernel's reach as margin. Values there equal a whole-history
        # filtering.
        need_t = t[min(i0, n - 1)] - w - IC_SEARCH_BACK_S
        first = hist.first_index
        for st in self._bout.steps:
            if st.to_time_s is None and st.peak_index >= first and not (st.reported and st.side is None):
                need_t = min(need_t, float(t[st.peak_index - first]))
                break
        lo = max(0, int(np.searchsorted(t, need_t)) - _reach(ANCHOR_SIGMA_S, rate) - 2)
        smooth = np.full(n, np.nan)
        smooth[lo:] = _smooth_anchor(up, lo, n, rate)
        jerk = np.full(n, np.nan)
        jerk[lo:] = _gradient(gaussian_smooth(up[lo:], JERK_SIGMA_S, rate)) * rate
        if i1 > i0:
            seg = smooth[i0 - 1:i1 + 1]
            peak = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] >= MIN_STEP_PEAK_MPS2)
            for i in (np.flatnonzero(peak) + i0).tolist():
                a = int(np.searchsorted(t, t[i] - w))
                b = int(np.searchsorted(t, t[i] + w, side="right"))
                if smooth[i] < np.nanmax(smooth[a:b]):
                    continue
                self._add_step(hist, t, smooth, jerk, i, period)
        self._checked_until = max(self._checked_until, decidable_end)
        out += self._report(hist, now_s, final_end, jerk)
        return out

    def _add_step(self, hist, t, smooth, jerk, i, period) -> None:
        steps = self._bout.steps
        if steps and t[i] - steps[-1].ic_time_s > 2.5 * steps[-1].period_s + 0.3:
            self.reset()
            steps = self._bout.steps
        a = int(np.searchsorted(t, t[i] - IC_SEARCH_BACK_S))
        if steps:
            prev_ic = steps[-1].ic_index - hist.first_index
            a = max(a, prev_ic + int(0.5 * period * self.rate_hz))
        b = min(i + int(IC_SEARCH_FWD_S * self.rate_hz) + 1, t.size)
        if b - a < 2:
            return
        k = a + int(np.argmax(jerk[a:b]))
        ic_t = float(t[k])
        if steps and ic_t - steps[-1].ic_time_s < 0.5 * period:
            return
        steps.append(_Step(ic_t, hist.first_index + k, hist.first_index + i, period))
        del steps[:-VOTE_STEPS - 2]

    def _report(self, hist, now_s: float, final_end: float, jerk) -> list:
        out: list = []
        t = hist.col("time_s")
        obl = hist.col("obliquity_deg")
        steps = self._bout.steps
        for idx, st in enumerate(steps):
            if st.reported:
                continue
            t_side = st.ic_time_s + min(SIDE_TO * st.period_s, SIDE_MAX_S)
            if t_side > final_end:
                break
            k0 = st.ic_index - hist.first_index
            a = int(np.searchsorted(t, st.ic_time_s + min(SIDE_FROM * st.period_s, SIDE_MAX_S / 2)))
            b = int(np.searchsorted(t, t_side, side="right"))
            if k0 < 0 or not np.isfinite(obl[k0]) or b <= a:
                st.reported = True   # before the alignment: no side, no report
                continue
            st.evidence = float(np.clip((np.nanmean(obl[a:b]) - obl[k0]) / 1.0, -1, 1))
            st.side = self._vote(idx)
            st.reported = True
            # A bout's first steps, found by the look-back once its rhythm shows, are too
            # late to show live: they vote for the sides of the next ones and close
            # strides, but an IC is reported within REPORT_WITHIN_S or never.
            if now_s - st.ic_time_s <= REPORT_WITHIN_S:
                out.append(GaitEvent("ic", st.ic_time_s, st.side, now_s))
        # Toe-offs and stances.
        if jerk is None:
            return out
        for idx, st in enumerate(steps):
            if st.side is None or st.to_time_s is not None:
                continue
            found = self._find_to(hist, steps, idx, jerk, final_end)
            if found is None:
                if final_end - st.ic_time_s > TO_GIVE_UP_S:
                    st.to_time_s = float("nan")   # the stance could not be closed: no stride
                continue
            k_to, flight = found
            st.to_index = hist.first_index + k_to
            st.to_time_s = float(t[k_to])
            st.flight = flight
            self.running = flight
            stride = self._stride(hist, steps, idx, now_s)  # also when late: it sets the
            if now_s - st.to_time_s > REPORT_WITHIN_S:      # next stride's stride time
                continue
            out.append(GaitEvent("to", st.to_time_s, st.side, now_s))
            if stride is not None:
                out.append(stride)
        return out

    def _vote(self, idx: int) -> Side:
        steps = self._bout.steps
        lo = max(0, idx - VOTE_STEPS + 1)
        # Parity from the number of step periods between the steps, not their count: a
        # missed step (a stop, a stumble) must not swap the sides of the ones after it.
        t_i, period = steps[idx].ic_time_s, steps[idx].period_s
        score = sum(steps[j].evidence * (1 if round((t_i - steps[j].ic_time_s) / period) % 2 == 0
                                         else -1)
                    for j in range(lo, idx + 1))
        return "right" if score >= 0 else "left"

    def _find_to(self, hist, steps, idx, jerk, final_end) -> tuple[int, bool] | None:
        """Toe-off of step idx's foot: steepest fall of vertical acceleration after its
        stance peak (running) or after the next step's peak (walking)."""
        t = hist.col("time_s")
        up = hist.col("up_mps2")
        st = steps[idx]
        period = st.period_s
        p0 = st.peak_index - hist.first_index
        if p0 < 0:
            return None
        # Airborne phase before this step's IC marks running.
        k_ic = st.ic_index - hist.first_index
        lo = max(0, k_ic - int(0.5 * period * self.rate_hz))
        flight = bool(k_ic > lo and np.min(up[lo:k_ic]) < FLIGHT_UP_MPS2)
        if flight:
            start = p0
            end_t = t[p0] + 0.6 * period
        else:
            if idx + 1 >= len(steps):
                return None
            nxt = steps[idx + 1]
            start = nxt.peak_index - hist.first_index
            end_t = t[start] + 0.4 * period
        if end_t > final_end or start < 0:
            return None
        b = int(np.searchsorted(t, end_t, side="right"))
        if b - start < 2:
            return None
        return start + int(np.argmin(jerk[start:b])), flight

    def _stride(self, hist, steps, idx, now_s) -> Stride | None:
        st = steps[idx]
        t = hist.col("time_s")
        k_ic = st.ic_index - hist.first_index
        k_to = st.to_index - hist.first_index
        if k_ic < 0 or k_to <= k_ic:
            return None
        obl = hist.col("obliquity_deg")
        sgn = 1.0 if st.side == "right" else -1.0
        stance = sgn * obl[k_ic:k_to + 1]
        if not np.all(np.isfinite(stance)):
            return None
        j = int(np.argmax(stance))
        prev_same = self._last_ic_by_side.get(st.side)
        prev_other_ic = steps[idx - 1].ic_time_s if idx > 0 and steps[idx - 1].side != st.side else None
        other = "left" if st.side == "right" else "right"
        prev_other_to = self._last_to_by_side.get(other)
        stride_time = st.ic_time_s - prev_same if prev_same is not None else None
        # Ranges over the stride that ended at this IC (causal), else over the stance.
        a = k_ic
        if prev_same is not None:
            a = max(0, int(np.searchsorted(t, prev_same)))
        rng = {}
        for name in ("obliquity_deg", "tilt_deg", "rotation_deg"):
            seg = hist.col(name)[a:k_ic + 1] if a < k_ic else hist.col(name)[k_ic:k_to + 1]
            rng[name] = float(np.ptp(seg)) if seg.size else float("nan")
        # Over a whole stride the pelvis's own rotation cancels; what remains is turning.
        if prev_same is not None and a < k_ic:
            # The unwrapped heading change: the sum of the wrapped sample-to-sample steps.
            steps = (np.diff(hist.col("heading_deg")[a:k_ic + 1]) + 180.0) % 360.0 - 180.0
            turn_rate = float(steps.sum() / max(t[k_ic] - t[a], 1e-3))
        else:
            turn_rate = 0.0
        flight = None
        if st.flight and prev_other_to is not None and st.ic_time_s > prev_other_to:
            flight = st.ic_time_s - prev_other_to
        self._last_ic_by_side[st.side] = st.ic_time_s
        self._last_to_by_side[st.side] = st.to_time_s
        self._stride_count += 1
        return Stride(
            index=self._stride_count, side=st.side, ic_time_s=st.ic_time_s,
            to_time_s=st.to_time_s, stance_time_s=st.to_time_s - st.ic_time_s,
            step_time_s=(st.ic_time_s - prev_other_ic) if prev_other_ic is not None else None,
            stride_time_s=stride_time, flight_time_s=flight,
            contralateral_drop_deg=float(stance[j]),
            drop_excursion_deg=float(stance[j] - stance[0]),
            peak_time_s=float(t[k_ic + j]),
            obliquity_range_deg=rng["obliquity_deg"], tilt_range_deg=rng["tilt_deg"],
            rotation_range_deg=rng["rotation_deg"], turn_rate_dps=turn_rate,
            activity="running" if st.flight else "walking", reported_time_s=now_s)
