"""Repetitions: excursions of the pelvis away from a resting posture and back.

The resting posture is learned while the pelvis is still. A rep starts when the
pelvis leaves it (combined angular deviation above START_DEG), turns at the largest
deviation, and ends when it is back near the rest posture and still again. Posture
changes (lying down, getting up: deviations above POSTURE_CHANGE_DEG) and gait are
not reps. Per rep: per-angle range of motion and signed peak deviation from the start
posture, the working side's contralateral drop, tempo and smoothness (SPARC).
"""

from __future__ import annotations

import numpy as np

from imu.events.exercises import EXERCISE_INFO, classify_rep, posture_of
from imu.events.model import Rep, Side

STILL_RPS = 0.2            # gyro norm, smoothed: below this the pelvis is still...
STILL_ACC_MPS2 = 0.35      # ...and so is the sacrum (mean |acceleration|, smoothed)
STILL_SMOOTH_S = 0.25
REST_S = 0.4               # stillness needed to refine the rest posture
NEW_REST_S = 2.0           # stillness elsewhere needed to take a new rest posture
START_DEG = 1.2
MIN_PEAK_DEG = 1.8
END_FRACTION = 0.3
END_MIN_DEG = 0.9
END_STILL_S = 0.25
MIN_REP_S = 0.8
MAX_REP_S = 90.0
POSTURE_CHANGE_DEG = 45.0
SETTLE_S = 1.0


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
        self._ref_time = -np.inf
        self._checked_until = -np.inf

    def reset(self) -> None:
        """A long loss of samples: drop the rep in progress (its shape is unknown) and
        settle before the next one; the rest posture is kept."""
        self._state = "idle"          # idle | active | settle
        self._start_t = 0.0
        self._peak = 0.0
        self._peak_t = 0.0
        self._back_since: float | None = None
        self._still_since: float | None = None
        if getattr(self, "_ref", None) is not None:
            self._state = "settle"

    @property
    def state(self) -> str:
        return self._state

    @property
    def last_rep_end_s(self) -> float | None:
        """End time of the last reported rep (None before the first)."""
        return self._last_rep_end

    def process(self, hist, now_s: float, activity, in_gait: bool) -> list[Rep]:
        t = hist.col("time_s")
        tilt = hist.col("tilt_deg")
        if t.size < 3 or not np.isfinite(tilt[-1]):
            return []
        obl = hist.col("obliquity_deg")
        head = np.degrees(np.unwrap(np.radians(hist.col("heading_deg"))))
        gyr = hist.col("gyr_norm_rps")
        k = max(1, int(STILL_SMOOTH_S * self.rate_hz))
        i0 = int(np.searchsorted(t, max(self._checked_until, t[0]), side="right"))
        i0 = max(i0, k)
        out: list[Rep] = []
        if in_gait:
            if self._state == "active":
                self._state = "settle"
            self._still_since = None
            self._checked_until = now_s
            return out
        csum = np.concatenate(([0.0], np.cumsum(gyr)))
        # Acceleration change against the preceding ~2 s: immune to sensor bias and
        # to the gravity leak of small tilt errors, which a plain magnitude is not.
        acc = np.vstack((hist.col("up_mps2"), np.nan_to_num(hist.col("fwd_mps2")),
                         np.nan_to_num(hist.col("left_mps2"))))
        asum = np.concatenate((np.zeros((3, 1)), np.cumsum(acc, axis=1)), axis=1)
        kl = int(2.0 * self.rate_hz)
        for i in range(i0, t.size):
            if not np.isfinite(tilt[i]):
                continue
            lo = max(0, i + 1 - k - kl)
            short = (asum[:, i + 1] - asum[:, i + 1 - k]) / k
            longm = (asum[:, i + 1 - k] - asum[:, lo]) / max(1, i + 1 - k - lo)
            still = ((csum[i + 1] - csum[i + 1 - k]) / k < STILL_RPS
                     and float(np.abs(short - longm).sum()) < STILL_ACC_MPS2)
            if still:
                if self._still_since is None:
                    self._still_since = float(t[i])
            else:
                self._still_since = None
            still_for = t[i] - self._still_since if self._still_since is not None else 0.0
            if self._state in ("idle", "settle"):
                near = self._ref is not None and self._dev(tilt[i], obl[i], head[i]) < 0.5 * START_DEG
                need = SETTLE_S if self._state == "settle" else (REST_S if near else NEW_REST_S)
                if still_for >= need:
                    a = int(np.searchsorted(t, t[i] - REST_S))
                    self._ref = np.array([tilt[a:i + 1].mean(), obl[a:i + 1].mean(),
                                          head[a:i + 1].mean()])
                    self._ref_time = float(t[i])
                    self._state = "idle"
                if self._state == "idle" and self._ref is not None:
                    d = self._dev(tilt[i], obl[i], head[i])
                    if d > START_DEG:
                        self._state = "active"
                        self._start_t = self._ref_time
                        self._peak, self._peak_t = d, float(t[i])
                        self._back_since = None
                continue
            # active
            d = self._dev(tilt[i], obl[i], head[i])
            if d > POSTURE_CHANGE_DEG or t[i] - self._start_t > MAX_REP_S:
                self._state = "settle"
                continue
            if d > self._peak:
                self._peak, self._peak_t = d, float(t[i])
            back = d < max(END_MIN_DEG, END_FRACTION * self._peak)
            if back and still:
                if self._back_since is None:
                    self._back_since = float(t[i])
                if t[i] - self._back_since >= END_STILL_S:
                    rep = self._finish(hist, t, tilt, obl, head, self._back_since, now_s)
                    if rep is not None:
                        out.append(rep)
                    self._state = "idle"
                    a = int(np.searchsorted(t, t[i] - END_STILL_S))
                    self._ref = np.array([tilt[a:i + 1].mean(), obl[a:i + 1].mean(),
                                          head[a:i + 1].mean()])
                    self._ref_time = float(t[i])
            else:
                self._back_since = None
        self._checked_until = float(t[-1])
        return out

    def _dev(self, tilt: float, obl: float, head: float) -> float:
        r = self._ref
        return float(np.sqrt((tilt - r[0]) ** 2 + (obl - r[1]) ** 2 + (head - r[2]) ** 2))

    def _finish(self, hist, t, tilt, obl, head, end_t: float, now_s: float) -> Rep | None:
        dur = end_t - self._start_t
        if self._peak < MIN_PEAK_DEG or dur < MIN_REP_S:
            return None
        a = int(np.searchsorted(t, self._start_t))
        b = int(np.searchsorted(t, end_t, side="right"))
        if a < 0 or b - a < 3:
            return None
        ref = self._ref
        dev = np.vstack((tilt[a:b] - ref[0], obl[a:b] - ref[1], head[a:b] - ref[2]))
        rom = np.ptp(dev, axis=1)
        peak = dev[np.arange(3), np.argmax(np.abs(dev), axis=1)]
        posture = posture_of(float(ref[0]))
        exercise = self.exercise if self.exercise in EXERCISE_INFO else classify_rep(
            posture, dur, rom[0], rom[1], rom[2], peak[0])
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
                   start_time_s=self._start_t, turn_time_s=self._peak_t, end_time_s=end_t,
                   duration_s=dur, tilt_rom_deg=float(rom[0]), obliquity_rom_deg=float(rom[1]),
                   rotation_rom_deg=float(rom[2]), tilt_peak_dev_deg=float(peak[0]),
                   obliquity_peak_dev_deg=float(peak[1]), rotation_peak_dev_deg=float(peak[2]),
                   contralateral_drop_deg=drop, wobble_deg=wobble, smoothness=sparc(speed, self.rate_hz),
                   reported_time_s=now_s)

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
            left = hist.col("left_mps2")
            n = min(b - a, int(1.5 * self.rate_hz))
            pre = left[max(0, a - int(REST_S * self.rate_hz)):a + 1]
            acc = left[a:a + n] - (pre.mean() if pre.size else 0.0)
            disp = np.cumsum(np.cumsum(acc)) / self.rate_hz ** 2
            value = -disp[np.argmax(np.abs(disp))] if disp.size else 0.0
        if cue == "none" or value == 0.0 or not np.isfinite(value):
            return None
        return "right" if value > 0 else "left"
