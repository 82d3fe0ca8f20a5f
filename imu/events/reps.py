"""Repetitions: excursions of the pelvis away from a resting posture and back.

The resting posture is learned while the pelvis is still. A rep starts when the
pelvis leaves it (combined angular deviation above START_DEG), turns at the largest
deviation, and ends when it is back near the rest posture and still again. Posture
changes (lying down, getting up: deviations above POSTURE_CHANGE_DEG) and gait are
not reps. Per rep: per-angle range of motion and signed peak deviation from the start
posture, the working side's contralateral drop, tempo and smoothness (SPARC).
"""

from __future__ import annotations

import math

import numpy as np

from imu.events.exercises import (EXERCISE_INFO, NEUTRAL_TILT_DEG, STANCE_MIN_S, classify_rep,
                                  posture_of)
from imu.events.model import Rep, Side
from imu.events.signals import displacement_m

STILL_RPS = 0.2            # gyro norm, smoothed: below this the pelvis is still...
STILL_ACC_MPS2 = 0.35      # ...and so is the sacrum (mean |acceleration|, smoothed)
STILL_SMOOTH_S = 0.25
REST_S = 0.4               # stillness needed to refine the rest posture
NEW_REST_S = 2.0           # stillness elsewhere needed to take a new rest posture
START_DEG = 1.2
MIN_PEAK_DEG = 1.8
END_FRACTION = 0.3
END_MIN_DEG = 0.9
END_STILL_S = 0.2
MIN_REP_S = 0.8
MAX_REP_S = 90.0
POSTURE_CHANGE_DEG = 45.0
SETTLE_S = 0.5
END_STABLE_DEG = 1.0       # at the end, tilt and obliquity move less than this over...
END_STABLE_S = 0.25        # ...this long (a slow return is not yet the end)
END_ACC_PAST_S = 0.5       # at the end, still against this much past acceleration
NEUTRAL_MARGIN_DEG = 2.0
REST_STEADY_DEG = 0.6
TICK_HZ = 40.0
STANCE_TURN_DEG = 15.0     # a rep may end with the feet turned by up to this much
STANCE_MOVED_DEG = 0.5     # a single-leg squat ending this far from its start moved stance
REFINE_MIN_S = 0.3         # a start found this much later than the threshold's moves
START_POSTURE_S = 1.0      # a rep's start posture: the mean over this long before it
RETRO_MAX_DEG = 15.0       # a rep found after the fact lies within this of the new rest
ARRIVED_DEG = 3.0          # ...and starts after the pelvis came this near it
MAX_HOLDS = 16             # holds kept per rep
HOLD_FRACTION = 0.3        # a hold below this share of the peak, before it, can be the
                           # rep's real start posture (see _rebase_on_hold)
RETURN_STILL_S = 0.3       # back at the rest left before a held stance for this long,
HELD_AWAY_DEG = 0.7        # ...from a stance held this far from it on average
RETURN_MAX_DEG = 0.9       # within this of it and less than half as far as from the stance
SHIFT_SPAN_S = (2.0, 1.5, 2.5)  # a stance's sideways shift: from this long before its
                                # start to this long after it; back, over this long
                                # before its end (which is found once the move is over)
SHIFT_CLEAR_M = 0.02       # a shift onto the stance leg smaller than this is unclear


# A rep comes back to the height it started from; a change of level that stays
# (stepping onto a step or off it, 0.16-0.18 m simulated) is not a rep, however much it
# tilts the pelvis. Measured from LEVEL_LEAD_S before the rep's start (the body moves
# before the angles leave the rest posture), when the body was still there. Simulated
# lunges come back to within 0.27 m of 0.48 (0.01 m typically); steps to within 0.01 m
# of their end. The double integral drifts with the square of the time (a tilt error of
# 0.25 deg while the pelvis moves, which tying the velocity to zero at both ends does not
# remove): up to 0.1 m over the 4.9 s of a simulated hip hike, where the bound
# LEVEL_DRIFT_MPS2 * T^2 is 0.24 m; over the 2 s of a step it is 0.04 m, the floor 0.08.
LEVEL_LEAD_S = 0.5
LEVEL_MIN_M = 0.08
LEVEL_DRIFT_MPS2 = 0.01
LEVEL_RETURN_FRACTION = 0.25

_add = np.add.reduce  # without ndarray.mean's wrappers: the stillness test runs every tick


def _wrap_deg(x: np.ndarray) -> np.ndarray:
    """Angles (deg) wrapped to [-180, 180): differences of headings across the wrap."""
    return (x + 180.0) % 360.0 - 180.0


def _mean_posture(hist, a: int, b: int, middle: bool = False) -> tuple[float, float]:
    """Mean tilt and obliquity (deg) over samples a..b of the history; with `middle`,
    over their middle half (a hold without the moves into and out of it)."""
    if middle:
        q = (b - a) // 4
        a, b = a + q, b - q
    return (float(np.nanmean(hist.col("tilt_deg")[a:b])),
            float(np.nanmean(hist.col("obliquity_deg")[a:b])))


def sparc(speed: np.ndarray, rate_hz: float, fc_hz: float = 10.0, amp_th: float = 0.05) -> float:
    """Spectral arc length of a speed profile (Balasubramanian et al. 2012): 0 for a
    perfectly smooth single bump, more negative for jerkier movement."""
    if speed.size < 4 or not np.any(speed > 0):
        return float("nan")
    nfft = 1 << int(np.ceil(np.log2(speed.size)) + 4)
    mag = np.abs(np.fft.rfft(speed, nfft))
    mag = mag / mag[0]
    f = np.fft.rfftfreq(nfft, 1.0 / rate_hz)
    keep = f <= fc_hz
    f, mag = f[keep], mag[keep]
    above = np.flatnonzero(mag >= amp_th)
    last = above[-1] + 1 if above.size else 2
    f, mag = f[:last], mag[:last]
    if f.size < 2:
        return 0.0
    df = np.diff(f) / f[-1]
    return float(-np.sum(np.sqrt(df ** 2 + np.diff(mag) ** 2)))


def wobble_deg(dev: np.ndarray, rate_hz: float, window_s: float = 0.4) -> float:
    """RMS over the rows of what a moving average of window_s leaves out: the sway
    faster than about 1 / window_s, i.e. wobble rather than the rep's own motion."""
    k = max(1, int(window_s * rate_hz))
    if dev.shape[1] <= k:
        return 0.0
    kern = np.ones(k) / k
    fast = [row[k // 2:-k // 2] - np.convolve(row, kern, mode="same")[k // 2:-k // 2]
            for row in dev]
    return float(np.sqrt(np.mean(np.square(fast))))


class RepDetector:
    """Streaming rep detection for the repetition exercises."""

    def __init__(self, rate_hz: float, exercise: str = "auto") -> None:
        self.rate_hz = rate_hz
        self.exercise = exercise
        self.reset()
        self._count = 0
        self._set_index = 0
        self._last_rep_end: float | None = None
        self._last_exercise: str | None = None
        self.current_exercise: str | None = None

        self._ref: np.ndarray | None = None   # tilt, obliquity, heading (deg)
        self._shifts: list[tuple[float, np.ndarray]] = []  # frame corrections to come
        self._reframed_t = -np.inf
        self._near_t = -np.inf
        self._checked_until = -np.inf

    def reset(self) -> None:
        """A long loss of samples: drop the rep in progress (its shape is unknown) and
        settle before the next one; the rest posture is kept."""
        self._state = "idle"          # idle | active | settle
        self._start_t = 0.0
        self._peak = 0.0
        self._peak2 = 0.0
        self._peak2_t = 0.0   # when tilt and obliquity were furthest from the start
        self._peak_t = 0.0
        self._back_since: float | None = None
        self._still_since: float | None = None
        self._stable_since: float | None = None
        self._low_since: float | None = None     # stable and below half the peak since
        # The steady holds of the rep in progress, one per still spell (the newest tick
        # of it): (time, deviation, posture, held for s, spell start).
        self._holds: list[tuple[float, float, np.ndarray, float, float]] = []
        self._peak_at_stable = 0.0
        self._settled_from: float | None = None  # first still moment since settling began
        self._retro_from: float | None = None    # ...kept while the first rest may be a hold
        self._rest_since = -np.inf               # the first rest after settling began
        # The rest the pelvis left for a stance it then held (posture, when it left, and
        # whether a rep was reported for that move): see _back_to_left_rest.
        self._left_rest: tuple[np.ndarray, float, bool] | None = None
        self._return_since: float | None = None
        if getattr(self, "_ref", None) is not None:
            self._state = "settle"

    @property
    def state(self) -> str:
        return self._state

    @property
    def last_rep_end_s(self) -> float | None:
        """End time of the last reported rep (None before the first)."""
        return self._last_rep_end

    def process(self, hist, now_s: float, in_gait: bool) -> list[Rep]:
        t = hist.col("time_s")
        if t.size < 3 or not np.isfinite(hist.col("tilt_deg")[-1]):
            return []
        if in_gait:
            if self._state == "active":
                self._state = "settle"
            self._left_rest = None
            self._still_since = None
            self._checked_until = now_s
            return []
        k = max(1, int(STILL_SMOOTH_S * self.rate_hz))
        kl = int(2.0 * self.rate_hz)
        ke = int(END_ACC_PAST_S * self.rate_hz)
        i0 = max(int(np.searchsorted(t, max(self._checked_until, t[0]), side="right")), k)
        if i0 >= t.size:
            return []
        tilt = hist.col("tilt_deg")
        obl = hist.col("obliquity_deg")
        head = hist.col("heading_deg")
        gyr = hist.col("gyr_norm_rps")
        acc = hist.rows("up_mps2", "left_mps2")
        h_ref = self._ref[2] if self._ref is not None else float(head[-1])
        # The state machine steps at TICK_HZ: rep times to a few hundredths of a second
        # are plenty, and a per-sample loop was most of the analysis time.
        dec = max(1, int(round(self.rate_hz / TICK_HZ)))
        il = list(range(i0 + (-(hist.first_index + i0)) % dec, t.size, dec))
        tl, ol, tt = tilt[il].tolist(), obl[il].tolist(), t[il].tolist()
        # Heading relative to the rest heading, wrapped: immune to a wrap at +-180.
        hl = _wrap_deg(head[il] - h_ref).tolist()
        sl = [self._still_at(gyr, acc, i, k, kl) for i in il]

        def rest_at(i: int, span_s: float = REST_S) -> np.ndarray:
            lo = max(0, i + 1 - int(round(span_s * self.rate_hz)))
            dh = _wrap_deg(head[lo:i + 1] - h_ref)
            return np.array([np.nanmean(tilt[lo:i + 1]), np.nanmean(obl[lo:i + 1]),
                             h_ref + np.nanmean(dh)])

        out: list[Rep] = []
        for m in range(len(il)):
            i, ti = il[m], tt[m]
            while self._shifts and self._shifts[0][0] <= ti:
                self._apply_shift(self._shifts.pop(0)[1], ti)
            if not math.isfinite(tl[m]):
                continue
            # Just after a posture change the last 2 s of acceleration still hold the move
            # itself, and the first rep often follows within a second: there the gyro and
            # steady angles (checked below) decide alone.
            # After a frame correction the acceleration's past is in the old frame too.
            still = (sl[m] if self._state != "settle" and ti - self._reframed_t > kl / self.rate_hz
                     else self._gyro_still(gyr, i, k))
            if still:
                if self._still_since is None:
                    self._still_since = ti
            else:
                self._still_since = None
            still_for = ti - self._still_since if self._still_since is not None else 0.0
            d = self._dev_rel(tl[m], ol[m], hl[m], h_ref) if self._ref is not None else 0.0
            if self._state in ("idle", "settle"):
                near = self._ref is not None and d < 0.5 * START_DEG
                need = SETTLE_S if self._state == "settle" else (REST_S if near else NEW_REST_S)
                # Only a steady posture is rest: a slow start of a rep (a kickback) is
                # "still" to the gyro and must not drag the rest posture along.
                if self._state == "settle" and still and self._settled_from is None:
                    self._settled_from = ti
                if still_for >= need and self._stable(tilt, obl, i, REST_S, REST_STEADY_DEG):
                    settling = self._state == "settle"
                    self._ref = rest_at(i)
                    if settling:
                        self._left_rest = None
                    self._near_t = ti
                    self._state = "idle"
                    d = self._dev_rel(tl[m], ol[m], hl[m], h_ref)
                    if settling:
                        self._rest_since = ti - REST_S
                        self._retro_from = self._settled_from
                        rep = (None if self._retro_from is None else
                               self._rep_before_rest(hist, self._retro_from, ti, now_s))
                        if rep is not None:
                            out.append(rep)
                            self._retro_from = None
                    self._settled_from = None
                if self._state == "idle" and self._ref is not None and d < 0.5 * START_DEG:
                    self._near_t = ti
                if self._state == "idle" and self._ref is not None and d > START_DEG:
                    self._state = "active"
                    # The rep starts where the pelvis last sat at its rest posture.
                    self._start_t = self._near_t
                    self._peak, self._peak_t = d, ti
                    self._peak2, self._peak2_t = self._dev2(tl[m], ol[m]), ti
                    self._back_since = self._stable_since = self._low_since = None
                    self._holds = []
                    self._return_since = None
                continue
            # active
            if d > POSTURE_CHANGE_DEG or ti - self._start_t > MAX_REP_S:
                self._state = "settle"
                self._left_rest = None
                continue
            if d > self._peak:
                self._peak, self._peak_t = d, ti
            d2 = self._dev2(tl[m], ol[m])
            if d2 > self._peak2:
                self._peak2, self._peak2_t = d2, ti
            # Back at rest; or tilt and obliquity back while the feet turned a little
            # (the heading of a new stance is not a rep).
            back = (d < max(END_MIN_DEG, END_FRACTION * self._peak)
                    or (d2 < max(END_MIN_DEG, END_FRACTION * self._peak2)
                        and abs(hl[m] - (self._ref[2] - h_ref)) < STANCE_TURN_DEG
                        and still_for >= END_STILL_S))
            # A long hold shifted by little: sway can take it that close to the start.
            if (back and ti - self._start_t >= STANCE_MIN_S
                    and END_FRACTION * self._peak <= END_MIN_DEG):
                back = self._nearer_start_than_hold(hist, i, ti, d2)
            # The end of a rep: the acceleration compared with a shorter past than the
            # rest test's, which would still hold the rep's own motion (a short pause
            # between two lunges would go unseen and merge them).
            stable = ((sl[m] or self._still_at(gyr, acc, i, k, ke) or self._calm(gyr, acc, i, k))
                      and self._stable(tilt, obl, i))
            if stable and still_for >= REST_S and self._wrong_rest(tl[m]):
                # Still in a posture nearer the neutral one than the rest posture: that
                # was the hold of a rep (e.g. the top of a bridge) taken for rest. If
                # that rest was the first in a new posture, the rep it held may be
                # found whole now, from the true rest.
                self._ref = rest_at(i)
                self._near_t = ti
                self._state = "idle"
                if self._retro_from is not None:
                    rep = self._rep_before_rest(hist, self._retro_from, ti, now_s)
                    if rep is not None:
                        out.append(rep)
                    self._retro_from = None
                continue
            if stable and self._stable(tilt, obl, i, REST_S, REST_STEADY_DEG):
                since = self._stable_since if self._stable_since is not None else ti
                hold = (ti, d, rest_at(i), ti - since, since)
                if self._holds and self._holds[-1][4] == since:
                    self._holds[-1] = hold
                else:
                    self._holds = self._holds[-(MAX_HOLDS - 1):] + [hold]
            if not stable:
                self._stable_since = None
            elif self._stable_since is None:
                self._stable_since = ti
                self._peak_at_stable = self._peak
            # Settled for a while well below the peak: the rep is over even if the new
            # rest posture is not the old one (a knee or hand moved between reps). The
            # peak before settling: a peak that sway sets during a long hold (a
            # single-leg stance) must not make the hold itself look like the return.
            # Counted from when it got there: a slow return from a steady hold can stay
            # "stable" all the way.
            if self._stable_since is None or d >= 0.5 * self._peak_at_stable:
                self._low_since = None
            elif self._low_since is None:
                self._low_since = ti
            settled = self._low_since is not None and ti - self._low_since >= NEW_REST_S
            if settled:
                self._back_since = self._low_since
            if (back and stable) or settled:
                if self._back_since is None:
                    self._back_since = ti
                if ti - self._back_since >= END_STILL_S:
                    end_posture = rest_at(i, END_STILL_S)
                    left = (self._ref, self._start_t, self._last_rep_end)
                    rebased = self._rebase_on_hold(end_posture)
                    rep = self._finish(hist, self._back_since, now_s, end_posture, rebased)
                    if rep is not None:
                        out.append(rep)
                        self._retro_from = None
                    self._remember_left_rest(hist, left, end_posture, rep)
                    # Feet may land a little elsewhere: the settled end posture is the
                    # rest posture of the next rep.
                    self._state = "idle"
                    self._ref = rest_at(i, END_STILL_S)
                    self._near_t = ti
            else:
                self._back_since = None
                ended, rep = self._back_to_left_rest(hist, ti, tl[m], ol[m], d2, stable, now_s)
                if rep is not None:
                    out.append(rep)
                    self._retro_from = None
                if ended:
                    self._state = "idle"
                    self._ref = rest_at(i, END_STILL_S)
                    self._near_t = ti
        self._checked_until = float(t[-1])
        return out

    def _stable(self, tilt: np.ndarray, obl: np.ndarray, i: int, span_s: float = END_STABLE_S,
                max_deg: float = END_STABLE_DEG) -> bool:
        """Tilt and obliquity each moved less than max_deg over the last span_s."""
        a = max(0, i - int(span_s * self.rate_hz))
        return bool(np.ptp(tilt[a:i + 1]) < max_deg and np.ptp(obl[a:i + 1]) < max_deg)

    def _wrong_rest(self, tilt: float) -> bool:
        """The rest posture is further from its posture's neutral tilt than the pelvis is
        now by more than NEUTRAL_MARGIN_DEG (reps move away from neutral)."""
        neutral = NEUTRAL_TILT_DEG[posture_of(float(self._ref[0]))]
        return abs(tilt - neutral) + NEUTRAL_MARGIN_DEG < abs(self._ref[0] - neutral)

    @staticmethod
    def _gyro_still(gyr: np.ndarray, i: int, k: int) -> bool:
        return bool(_add(gyr[i + 1 - k:i + 1]) < STILL_RPS * k)

    @staticmethod
    def _still_at(gyr: np.ndarray, acc: np.ndarray, i: int, k: int, kl: int) -> bool:
        """Still at sample i: a low mean gyro norm over the last k samples and little
        change of acceleration against the kl samples before them (immune to sensor bias
        and to the gravity leak of small tilt errors, which a plain magnitude is not)."""
        a = i + 1 - k
        if _add(gyr[a:i + 1]) >= STILL_RPS * k:
            return False
        lo = max(0, a - kl)
        if a <= lo:
            return False
        change = np.abs(_add(acc[:, a:i + 1], axis=1) / k - _add(acc[:, lo:a], axis=1) / (a - lo))
        return bool(_add(change) < STILL_ACC_MPS2)

    @staticmethod
    def _calm(gyr: np.ndarray, acc: np.ndarray, i: int, k: int) -> bool:
        """Still by the gyro, and the acceleration steady within the last k samples
        (each axis spans under STILL_ACC_MPS2): a pause too short for the comparison
        with the past, which still holds the movement before it."""
        a = i + 1 - k
        if _add(gyr[a:i + 1]) >= STILL_RPS * k:
            return False
        w = acc[:, a:i + 1]
        return bool(np.all(w.max(axis=1) - w.min(axis=1) < STILL_ACC_MPS2))

    def _dev_rel(self, tilt: float, obl: float, hrel: float, h_ref: float) -> float:
        r = self._ref
        return math.sqrt((tilt - r[0]) ** 2 + (obl - r[1]) ** 2 + (hrel - (r[2] - h_ref)) ** 2)

    def _dev2(self, tilt: float, obl: float) -> float:
        r = self._ref
        return math.sqrt((tilt - r[0]) ** 2 + (obl - r[1]) ** 2)

    def _rebase_on_hold(self, end_posture: np.ndarray) -> bool:
        """A rep that began with a held change of stance (lifting the free foot before
        the first single-leg squat) and returned to that stance, not to the old rest:
        measure it from the end of that hold, against the held posture."""
        low = [h for h in self._holds
               if h[0] <= self._peak_t and h[1] < HOLD_FRACTION * self._peak]
        if not low:
            return False
        t_h, d_h, posture, held_s, _ = low[-1]
        moved = math.hypot(posture[0] - self._ref[0], posture[1] - self._ref[1])
        back = math.hypot(end_posture[0] - posture[0], end_posture[1] - posture[1])
        # A hold as long as a rest is one even if the rep ends elsewhere (the free foot
        # put down after one set, then lifted for the next).
        if (d_h < HOLD_FRACTION * self._peak and moved > END_MIN_DEG
                and (back < END_MIN_DEG or held_s >= NEW_REST_S)):
            self._ref, self._start_t = posture, t_h
            return True
        return False

    def _nearer_start_than_hold(self, hist, i: int, ti: float, d2: float) -> bool:
        """The pelvis (d2 from the start posture) is less than half as far from the start
        as from the mean posture of the hold."""
        a = i - int((ti - self._start_t) * self.rate_hz)
        if a < 0 or i - a < 12:
            return True
        held = _mean_posture(hist, a, i, middle=True)
        return d2 < 0.5 * math.hypot(hist.col("tilt_deg")[i] - held[0],
                                     hist.col("obliquity_deg")[i] - held[1])

    def _remember_left_rest(self, hist, left: tuple[np.ndarray, float, float | None],
                            end_posture: np.ndarray, rep: Rep | None) -> None:
        """An excursion ended away from the rest it left: keep that rest, the pelvis may
        come back to it (a single-leg stance whose small shift sway took for the end)."""
        ref, start_t, prev_end = left
        t = hist.col("time_s")
        gyr = hist.col("gyr_norm_rps")
        candidates = [ref]
        # A slow start of the shift drags the rest along and its start is found late: of
        # the still seconds before it (since the last rep), the one furthest from the
        # stance is the rest.
        for k in (1, 2):
            lo = start_t - k * START_POSTURE_S
            if prev_end is not None and lo < prev_end:
                break
            i0, i1 = np.searchsorted(t, lo), np.searchsorted(t, lo + START_POSTURE_S)
            if i1 - i0 < 3 or float(np.mean(gyr[i0:i1])) >= STILL_RPS:
                break
            c = np.array([*_mean_posture(hist, i0, i1), ref[2]])
            if math.hypot(c[0] - ref[0], c[1] - ref[1]) < START_DEG:
                candidates.append(c)
        ref = max(candidates, key=lambda c: math.hypot(end_posture[0] - c[0],
                                                       end_posture[1] - c[1]))
        if math.hypot(end_posture[0] - ref[0], end_posture[1] - ref[1]) <= STANCE_MOVED_DEG:
            if rep is not None:
                self._left_rest = None
        elif rep is not None:
            self._left_rest = (ref, rep.start_time_s, True)
        elif (self._left_rest is None  # or it was left again: the stance starts later
              or math.hypot(ref[0] - self._left_rest[0][0],
                            ref[1] - self._left_rest[0][1]) < 0.5 * START_DEG):
            self._left_rest = (ref, start_t, False)

    def _back_to_left_rest(self, hist, ti: float, tilt: float, obl: float, d2: float,
                           stable: bool, now_s: float) -> tuple[bool, Rep | None]:
        """Whether the excursion in progress ended back at the rest left before a held
        stance (and the rep of that whole hold, when none was reported for it).

        A single-leg stance shifts the pelvis by as little as 1 deg, about what sway
        moves it during the hold: sway can end the hold early, or the hold's steady start
        be taken for the rest. The return to the rest left then looks like an excursion
        from the stance that never comes back, and would swallow the next rep."""
        lr = self._left_rest
        if lr is None:
            return False, None
        posture, left_t, reported = lr
        if ti - left_t > MAX_REP_S:
            self._left_rest = None
            return False, None
        da = math.hypot(tilt - posture[0], obl - posture[1])
        # Only the move back itself: a rep that went further (a lunge from a stance a
        # step beside that rest) ends as any rep does.
        gone = math.hypot(self._ref[0] - posture[0], self._ref[1] - posture[1]) + START_DEG
        if not (stable and da < RETURN_MAX_DEG and da < 0.5 * d2 and self._peak2 < gone):
            self._return_since = None
            return False, None
        if self._return_since is None:
            self._return_since = ti
        end_t = self._return_since
        if ti - end_t < RETURN_STILL_S:
            return False, None
        # Only from a stance held away from that rest (its middle half on average), and
        # nearer the stance than the rest when it left for this: not from sway.
        t = hist.col("time_s")
        a, b = int(np.searchsorted(t, left_t)), int(np.searchsorted(t, end_t, side="right"))
        if b - a < 8:
            return False, None
        held = _mean_posture(hist, a, b, middle=True)
        away = math.hypot(held[0] - posture[0], held[1] - posture[1])
        if (away < HELD_AWAY_DEG
                or math.hypot(held[0] - self._ref[0], held[1] - self._ref[1]) >= away):
            return False, None
        if reported:
            self._left_rest = None
            return True, None
        if end_t - left_t < STANCE_MIN_S or self.exercise not in ("auto", "single-leg-stance"):
            return True, None  # the stance may still be held: keep the rest it left
        self._left_rest = None
        dev = np.hypot(hist.col("tilt_deg")[a:b] - posture[0],
                       hist.col("obliquity_deg")[a:b] - posture[1])
        p = int(np.nanargmax(dev))
        self._ref, self._start_t = posture, left_t
        self._peak, self._peak_t = float(dev[p]), float(t[a + p])
        self._peak2, self._peak2_t = self._peak, self._peak_t
        self._holds = []
        return True, self._finish(hist, end_t, now_s, posture, rebased=True)

    def _rep_before_rest(self, hist, since: float, until: float, now_s: float) -> Rep | None:
        """A rep made before the first rest in a new posture could be taken (the first
        kickback 0.5 s after getting onto hands and knees): an excursion from this rest
        and back, between the settling after the posture change and the rest."""
        t = hist.col("time_s")
        a, b = int(np.searchsorted(t, since)), int(np.searchsorted(t, until))
        if b - a < 3:
            return None
        r = self._ref
        dev = np.sqrt((hist.col("tilt_deg")[a:b] - r[0]) ** 2
                      + (hist.col("obliquity_deg")[a:b] - r[1]) ** 2
                      + _wrap_deg(hist.col("heading_deg")[a:b] - r[2]) ** 2)
        # From the end of the posture change: the first moment near this rest after the
        # last one far from it (or a NaN) before that; near within ARRIVED_DEG, as a
        # frame correction since can have moved the angles by 2 deg (and not after the
        # last far moment overall: a bridge's 25 deg lift is one too).
        big = np.flatnonzero(~(dev < RETRO_MAX_DEG))
        arrived = np.flatnonzero(dev < ARRIVED_DEG)
        if arrived.size == 0:
            return None
        before_arrival = big[big < arrived[0]]
        lo = int(before_arrival[-1]) + 1 if before_arrival.size else 0
        lo += int(np.flatnonzero(dev[lo:] < ARRIVED_DEG)[0])
        if b - a - lo < 3 or not np.all(np.isfinite(dev[lo:])):
            return None
        p = lo + int(np.argmax(dev[lo:]))
        peak = float(dev[p])
        before = np.flatnonzero(dev[lo:p] < max(START_DEG, END_FRACTION * peak))
        # Back at the rest (not only within 30 % of the peak, mid-descent: a bridge's
        # sacrum would not be down yet, which reads as a change of level).
        after = np.flatnonzero(dev[p:] < min(max(END_MIN_DEG, END_FRACTION * peak), START_DEG))
        if peak < MIN_PEAK_DEG or before.size == 0 or after.size == 0:
            return None
        i0, i1 = a + lo + int(before[-1]), a + p + int(after[0]) + 1
        self._start_t = float(t[i0])
        self._peak, self._peak_t = peak, float(t[a + p])
        d2 = np.hypot(hist.col("tilt_deg")[i0:i1] - r[0], hist.col("obliquity_deg")[i0:i1] - r[1])
        p2 = int(np.nanargmax(d2))
        self._peak2, self._peak2_t = float(d2[p2]), float(t[i0 + p2])
        self._holds = []
        return self._finish(hist, float(t[i1 - 1]), now_s, r, rebased=False)

    def _settle_reference(self, hist, b: int) -> bool:
        """The start posture as the mean over up to START_POSTURE_S before the start
        (not into the last rep, nor before the rest after a posture change): sway at
        rest is not posture."""
        t = hist.col("time_s")
        lo = max(self._start_t - START_POSTURE_S, self._rest_since)
        if self._last_rep_end is not None:
            lo = max(lo, self._last_rep_end)
        i0, i1 = int(np.searchsorted(t, lo)), int(np.searchsorted(t, self._start_t, side="right"))
        if i1 - i0 < 3 or i0 == 0:
            return False
        self._ref = np.array([*_mean_posture(hist, i0, i1), self._ref[2]])
        # Sway can cross the start threshold before the rep itself begins: the rep then
        # starts where the pelvis was last near that settled posture before its peak
        # (not in a hold: sway during it is not a late start). Its tilt and obliquity
        # peak: a drifting heading (a poor gyro) can put the combined one at the end.
        p = min(int(np.searchsorted(t, self._peak2_t)), b - 3)
        if p > i1 and t[b - 1] - self._start_t < STANCE_MIN_S:
            dev = np.hypot(hist.col("tilt_deg")[i1:p] - self._ref[0],
                           hist.col("obliquity_deg")[i1:p] - self._ref[1])
            near = np.flatnonzero(dev < 0.5 * START_DEG)
            # ...only sway before it, not the rep's own first phase (a hip hike drops
            # the free side 7 deg, then hikes it past the start posture).
            if (near.size and t[i1 + near[-1]] - self._start_t > REFINE_MIN_S
                    and dev[:near[-1] + 1].max() < max(MIN_PEAK_DEG, END_FRACTION * self._peak2)):
                self._start_t = float(t[i1 + near[-1]])
                return self._settle_reference(hist, b)
        return True

    def _deviations(self, hist, b: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """(first index, deviation from the rest posture (3, n), its range, its signed
        peak) over the rep from its start to sample b."""
        a = int(np.searchsorted(hist.col("time_s"), self._start_t))
        ref = self._ref
        dhead = _wrap_deg(hist.col("heading_deg")[a:b] - ref[2])
        dev = np.vstack((hist.col("tilt_deg")[a:b] - ref[0],
                         hist.col("obliquity_deg")[a:b] - ref[1], dhead))
        return a, dev, np.ptp(dev, axis=1), dev[np.arange(3), np.argmax(np.abs(dev), axis=1)]

    def _rebase_on_stance(self, hist, end_posture: np.ndarray) -> bool:
        """A single-leg squat is done from a single-leg stance and returns to it. When
        the first of a set began at the two-leg rest (lifting the free foot shifts the
        pelvis, then the squat follows at once, with no steady hold to rest on), it
        starts where the pelvis last sat at its end posture before the peak."""
        r = self._ref
        if math.hypot(end_posture[0] - r[0], end_posture[1] - r[1]) <= STANCE_MOVED_DEG:
            return False
        t = hist.col("time_s")
        a, p = int(np.searchsorted(t, self._start_t)), int(np.searchsorted(t, self._peak_t))
        near = np.flatnonzero(np.hypot(hist.col("tilt_deg")[a:p] - end_posture[0],
                                       hist.col("obliquity_deg")[a:p] - end_posture[1])
                              < END_MIN_DEG)
        if near.size == 0:
            return False
        self._start_t = float(t[a + near[-1]])
        self._ref = np.array([end_posture[0], end_posture[1], r[2]])
        return True

    def _finish(self, hist, end_t: float, now_s: float, end_posture: np.ndarray,
                rebased: bool) -> Rep | None:
        """The rep from its start to end_t, or None when it is no rep. `rebased`: its
        start was moved onto a held stance, which is then its start posture."""
        dur = end_t - self._start_t
        # A stance held away from rest is one however small its shift (a level pelvis
        # on one leg is the aim); a brief excursion that small is sway.
        min_peak = START_DEG if dur >= STANCE_MIN_S else MIN_PEAK_DEG
        if self._peak < min_peak or dur < MIN_REP_S:
            return None
        t = hist.col("time_s")
        b = int(np.searchsorted(t, end_t, side="right"))
        if b - int(np.searchsorted(t, self._start_t)) < 3 or self._changes_level(hist, b):
            return None  # (too few samples held to measure it: an end older than the history)
        a, dev, rom, peak = self._deviations(hist, b)
        posture = posture_of(float(self._ref[0]))
        exercise = self.exercise if self.exercise in EXERCISE_INFO else classify_rep(
            posture, dur, rom[0], rom[1], rom[2], peak[0])
        if exercise is None:
            return None
        if exercise == "single-leg-squat" and self._rebase_on_stance(hist, end_posture):
            rebased = True
        # A start moved onto a held or reached stance keeps that stance as its posture
        # (the second before it is the change of stance).
        if rebased or self._settle_reference(hist, b):
            if b - int(np.searchsorted(t, self._start_t)) < 3:
                return None
            a, dev, rom, peak = self._deviations(hist, b)
        dur = end_t - self._start_t
        ref = self._ref
        side = self._side(exercise, dev, hist, a, b, ref)
        sgn = {"right": 1.0, "left": -1.0}.get(side or "", 0.0)
        drop = float(np.max(sgn * dev[1])) if sgn else float(np.max(np.abs(dev[1])))
        speed = np.linalg.norm(np.gradient(dev, axis=1), axis=0) * self.rate_hz
        wobble = wobble_deg(dev[1:], self.rate_hz)
        if (self._last_rep_end is None or self._start_t - self._last_rep_end > 8.0
                or exercise != self._last_exercise):
            self._set_index += 1
        self._last_rep_end, self._last_exercise = end_t, exercise
        self.current_exercise = exercise
        self._count += 1
        return Rep(index=self._count, set_index=self._set_index, exercise=exercise, side=side,
                   start_time_s=self._start_t, turn_time_s=self._peak2_t, end_time_s=end_t,
                   duration_s=dur, tilt_rom_deg=float(rom[0]), obliquity_rom_deg=float(rom[1]),
                   rotation_rom_deg=float(rom[2]), tilt_peak_dev_deg=float(peak[0]),
                   obliquity_peak_dev_deg=float(peak[1]), rotation_peak_dev_deg=float(peak[2]),
                   contralateral_drop_deg=drop, wobble_deg=wobble, smoothness=sparc(speed, self.rate_hz),
                   reported_time_s=now_s)

    def shift_reference(self, time_s: float, step_deg: np.ndarray) -> None:
        """The angles read step_deg (tilt, obliquity, heading) more from time_s on, for
        the same pose: move the rest posture with them when the ticks get there."""
        self._shifts.append((time_s, np.asarray(step_deg, dtype=float)))

    def _apply_shift(self, step: np.ndarray, ti: float) -> None:
        if self._ref is not None:
            self._ref = self._ref + step
        self._reframed_t = ti

    def _changes_level(self, hist, b: int) -> bool:
        """The body ended at another height than it started (a step up or down)."""
        t = hist.col("time_s")
        a = int(np.searchsorted(t, self._start_t - LEVEL_LEAD_S))
        k = max(1, int(STILL_SMOOTH_S * self.rate_hz))
        # Only from a still start (and one the history still holds): a moving start
        # would read as a drift of height.
        if a == 0 or b - a < 3 or not self._gyro_still(hist.col("gyr_norm_rps"), a + k - 1, k):
            return False
        net, furthest = displacement_m(t[a:b], hist.col("up_mps2")[a:b])
        bound = max(LEVEL_MIN_M, LEVEL_DRIFT_MPS2 * (t[b - 1] - t[a]) ** 2)
        return (abs(furthest) > bound
                and abs(furthest - net) < LEVEL_RETURN_FRACTION * abs(furthest))

    @staticmethod
    def _sideways_m(hist, from_s: float, to_s: float) -> float:
        """Net displacement to the left (m) from from_s to to_s, both at rest."""
        t = hist.col("time_s")
        a, b = int(np.searchsorted(t, from_s)), int(np.searchsorted(t, to_s, side="right"))
        return displacement_m(t[a:b], hist.col("left_mps2")[a:b])[0] if b - a >= 3 else 0.0

    def _side(self, exercise: str, dev: np.ndarray, hist, a: int, b: int,
              ref: np.ndarray) -> Side | None:
        cue = EXERCISE_INFO[exercise].side_cue
        value = 0.0
        if cue == "rotation":
            value = -dev[2][np.argmax(np.abs(dev[2]))]
        elif cue == "first-obliquity":
            big = np.flatnonzero(np.abs(dev[1]) > 0.5 * np.abs(dev[1]).max())
            value = dev[1][big[0]] if big.size else 0.0
        elif cue == "rest-obliquity":
            value = -ref[1]
        elif cue == "kickback":
            value = dev[1][np.argmax(np.abs(dev[1]))] - dev[2][np.argmax(np.abs(dev[2]))]
        elif cue == "lateral-shift":
            # Onto the stance leg at the start (from rest to the steady stance); when that
            # is unclear, back at the end too (the end is found as the angles come back,
            # often before the sideways move is over).
            t = hist.col("time_s")
            start, end = float(t[a]), float(t[b - 1])
            before = max(start - SHIFT_SPAN_S[0], self._rest_since,
                         self._last_rep_end or -np.inf)
            value = -self._sideways_m(hist, before, start + SHIFT_SPAN_S[1])
            if abs(value) < SHIFT_CLEAR_M:
                value += self._sideways_m(hist, end - SHIFT_SPAN_S[2], float(t[-1]))
        if cue == "none" or value == 0.0 or not np.isfinite(value):
            return None
        return "right" if value > 0 else "left"
