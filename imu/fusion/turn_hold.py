"""Turn detection: when to stop trusting the accelerometer's vertical.

An accelerometer-corrected filter takes the low-passed specific force as "up". That is
right as long as the body's mean horizontal acceleration is zero over the filter's time
constant tau; a change of horizontal velocity dv instead tilts the estimate by about
dv / (g tau). A 180-degree turn reverses the velocity, dv = 2 v: on the simulator about
5 deg of tilt after a walking U-turn (1.4 m/s, tau 3 s) and 9 deg running (3.2 m/s),
decaying over seconds. No 6D method can tell the centripetal acceleration behind it from
a tilt, but a turn of a travelling body is plain in the samples: the body turns about
the vertical while its vertical acceleration repeats with every step.

`TurnDetector` measures the heading rate (the gyro along the vertical, both in the
sensor frame) over the last `HEADING_RATE_SPAN_S` and reports, per sample, whether the
accelerometer should be ignored: from when the heading rate exceeds `enter_rate_dps`
while the last `GAIT_SPAN_S` look like walking or running
(`imu.fusion.gait_periodicity.locomotion_step`), until it falls below `leave_rate_dps`
(or after `max_hold_s`), extended to a whole number of strides. Meanwhile the filter
integrates the gyro only (a turn lasts seconds: a few tenths of a degree of drift).
Without locomotion a turn implies no centripetal acceleration (a sensor turned in the
hand, a person pivoting on the spot), so nothing is held: on the hand-held BROAD trials,
holding on every fast rotation nearly tripled the inclination error. Holds in which the
body turned less than MIN_TURN_DEG are reported as no turn, for the filter to undo.

Why whole strides: the low-pass of the specific force balances the body's periodic
accelerations over each stride (forward surge, side sway); leaving out whole strides
keeps that balance wherever in the stride the hold starts. (On the simulator it made no
measurable difference against ending with the heading rate.)

It works in fixed windows of samples counted from the start of the stream and decides
at each window's end for the next window, from the samples alone, so the result does not
depend on how the stream is split into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.fusion.gait_periodicity import locomotion_step

#: Decisions are taken every WINDOW_S (the hold starts at most this late).
WINDOW_S = 0.1
#: The heading rate is averaged over this span: long enough that the pelvis' own rotation
#: back and forth within a stride (about +-30 deg/s walking, +-55 running) averages
#: to about +-20 deg/s, below `enter_rate_dps`, short enough to catch a turn early (a
#: U-turn in 2.5 s peaks at 140 deg/s). A 1 s span cancels the stride better but starts
#: holds later, letting more of the turn's acceleration in: simulated runs scored
#: worse with it (0.1 to 0.2 deg RMSE), and holds that were no turn are undone anyway.
HEADING_RATE_SPAN_S = 0.5
#: Seconds of samples checked for locomotion when a turn starts (several steps).
GAIT_SPAN_S = 3.0
#: A hold counts as a turn only if the body turned at least this far during it (deg);
#: otherwise the filter continues as if nothing had been held. Walking and running
#: U-turns turn 110 to 180 deg within a hold (IPOL, simulator); a sensor swung back and
#: forth by hand at most 61 (BROAD, the only holds its trials produce).
MIN_TURN_DEG = 90.0


@dataclass(frozen=True)
class TurnHolds:
    """What `TurnDetector.update` found in one block."""

    hold: np.ndarray
    """Per sample: True where the accelerometer is to be ignored."""
    ends: dict[int, bool]
    """For each hold ending in the block: index of the first sample after it -> whether
    it was a turn (at least MIN_TURN_DEG); if not, the filter should resume as if the
    samples had not been held."""


@dataclass(frozen=True)
class TurnHoldSettings:
    """Thresholds of the turn hold (see module docstring). Rates in deg/s, times in s."""

    enter_rate_dps: float = 30.0
    leave_rate_dps: float = 15.0
    max_hold_s: float = 8.0


def heading_rate_rps(rotation_rad: np.ndarray, acc_sum: np.ndarray,
                     duration_s: np.ndarray | float) -> np.ndarray:
    """Mean rate of turning about the vertical (rad/s, + = counter-clockwise from above).

    rotation_rad: (..., 3) the summed gyro rotation (gyr * dt) in the sensor frame;
    acc_sum: (..., 3) the summed specific force over the same span, whose direction is
    taken as vertical; duration_s: the span's length. 0 where there is nothing to tell.
    """
    duration = np.asarray(duration_s, dtype=np.float64)
    return _about_vertical(rotation_rad, acc_sum) / np.where(duration > 0, duration, np.inf)


def _about_vertical(rotation_rad: np.ndarray, acc_sum: np.ndarray) -> np.ndarray:
    """The component of rotations along the direction of acc_sum (0 where acc_sum is 0)."""
    norm = np.sqrt((acc_sum * acc_sum).sum(axis=-1))
    return (rotation_rad * acc_sum).sum(axis=-1) / np.where(norm > 0, norm, np.inf)


def _holds_in(intervals: dict[int, tuple[int | None, bool]], first: int, n: int) -> TurnHolds:
    """The holds (absolute start -> (end or None if open, turn)) over samples first..first+n."""
    idx = np.arange(first, first + n)
    mask = np.zeros(n, dtype=bool)
    ends: dict[int, bool] = {}
    for lo, (hi, is_turn) in intervals.items():
        if lo < 0:
            continue
        mask |= (idx >= lo) & (idx < (np.inf if hi is None else hi))
        if hi is not None and first <= hi < first + n:
            ends[hi - first] = is_turn
    return TurnHolds(mask, ends)


class TurnDetector:
    """Streaming per-sample 'hold the accelerometer' mask (see module docstring)."""

    def __init__(self, rate_hz: float, settings: TurnHoldSettings = TurnHoldSettings()) -> None:
        self.rate_hz = float(rate_hz)
        self.settings = settings
        self.window_n = max(1, int(round(WINDOW_S * rate_hz)))
        self.span_windows = max(1, int(round(HEADING_RATE_SPAN_S / WINDOW_S)))
        self.gait_n = int(round(GAIT_SPAN_S * rate_hz))
        self._max_hold_n = int(round(settings.max_hold_s * rate_hz))
        self._enter = np.radians(settings.enter_rate_dps)
        self._leave = np.radians(settings.leave_rate_dps)
        self.reset()

    def reset(self) -> None:
        """Forget the past (after a long gap: the spans must not bridge it)."""
        keep = self.span_windows - 1
        # The last span_windows - 1 finished windows' sums (zeros before any: adding
        # exact zeros changes no sum), then the samples of the unfinished window.
        self._rot = np.zeros((keep, 3))   # summed gyr * dt
        self._acc = np.zeros((keep, 3))   # summed acc
        self._dur = np.zeros(keep)        # summed dt
        self._pend = (np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
        self._recent_acc = np.zeros((0, 3))  # the GAIT_SPAN_S of samples before the pending ones
        self._recent_gyr = np.zeros((0, 3))
        self._seen = 0                    # samples consumed (absolute index of the next one)
        self._hold_from = -1              # absolute sample range of the current hold
        self._hold_until: int | None = -1  # None: open, its end not yet decided
        self._stride_n = 0
        self._turned_rad = 0.0            # heading change during the current hold
        self._is_turn = False
        self._rearm = True                # False after a hold until the heading rate is low

    def update(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, dt_s: np.ndarray) -> TurnHolds:
        """Which samples to hold, and where holds end (see TurnHolds)."""
        n = dt_s.shape[0]
        first = self._seen
        w = self.window_n
        g = np.concatenate((self._pend[0], gyr_rps))
        a = np.concatenate((self._pend[1], acc_mps2))
        d = np.concatenate((self._pend[2], dt_s))
        base = first - self._pend[2].shape[0]   # absolute index of g[0]
        k = d.shape[0] // w
        if k == 0:  # no window closes (most blocks of a live stream): nothing decided
            self._pend = (g, a, d)
            self._seen = first + n
            return _holds_in({self._hold_from: (self._hold_until, self._is_turn)}, first, n)
        # Window sums, always through the same reshape so a window summed in one block or
        # assembled from several gives the same bits.
        rot = np.concatenate((self._rot, (g[:k * w] * d[:k * w, None]).reshape(k, w, 3).sum(axis=1)))
        acc = np.concatenate((self._acc, a[:k * w].reshape(k, w, 3).sum(axis=1)))
        dur = np.concatenate((self._dur, d[:k * w].reshape(k, w).sum(axis=1)))
        span = self.span_windows
        # The sums over each new window and the span_windows - 1 before it, each summed
        # on its own (k is 1 or 2 in a live stream: a loop is cheaper than a strided
        # view), so block splits cannot change the bits.
        span_rot = np.array([rot[i:i + span].sum(axis=0) for i in range(k)])
        span_acc = np.array([acc[i:i + span].sum(axis=0) for i in range(k)])
        span_s = np.array([dur[i:i + span].sum() for i in range(k)])
        rates = np.abs(heading_rate_rps(span_rot, span_acc, span_s))
        turned = _about_vertical(rot[span - 1:], span_acc)  # each window's own turn
        recent_a = np.concatenate((self._recent_acc, a))
        recent_g = np.concatenate((self._recent_gyr, g))
        offset = self._recent_acc.shape[0] - base  # index in recent_* of absolute sample 0
        intervals = {self._hold_from: (self._hold_until, self._is_turn)}  # from: (until, turn)
        for i in range(k):
            end = base + (i + 1) * w  # absolute index of the sample after window i
            self._seen = end
            self._close_window(float(rates[i]), float(turned[i]),
                               recent_a[max(0, offset + end - self.gait_n):offset + end],
                               recent_g[max(0, offset + end - self.gait_n):offset + end])
            intervals[self._hold_from] = (self._hold_until, self._is_turn)
        self._seen = first + n
        keep = span - 1
        self._rot, self._acc, self._dur = rot[rot.shape[0] - keep:], acc[acc.shape[0] - keep:], \
            dur[dur.shape[0] - keep:]
        self._pend = (g[k * w:], a[k * w:], d[k * w:])
        cut = offset + base + k * w
        self._recent_acc = recent_a[max(0, cut - self.gait_n):cut]
        self._recent_gyr = recent_g[max(0, cut - self.gait_n):cut]
        return _holds_in(intervals, first, n)

    def _close_window(self, rate: float, turned_rad: float, recent_acc: np.ndarray,
                      recent_gyr: np.ndarray) -> None:
        """The hold decision at a window's end, from the span's heading rate (rad/s), the
        window's own turn (rad) and the last GAIT_SPAN_S of samples."""
        now = self._seen  # the next sample's index
        if self._hold_until is None:
            self._turned_rad += turned_rad
            if rate < self._leave or now - self._hold_from >= self._max_hold_n:
                self._is_turn = abs(self._turned_rad) >= np.radians(MIN_TURN_DEG)
                strides = -(-(now - self._hold_from) // self._stride_n)  # ceil
                self._hold_until = self._hold_from + strides * self._stride_n
                self._rearm = rate < self._leave
        elif now >= self._hold_until:
            if not self._rearm and rate < self._leave:
                self._rearm = True  # the long turn is over: the next one may hold again
            if self._rearm and rate > self._enter and recent_acc.shape[0] == self.gait_n:
                step = locomotion_step(recent_acc, recent_gyr, self.rate_hz)
                if step is not None:
                    self._hold_from, self._hold_until = now, None
                    self._stride_n = 2 * step
                    self._turned_rad = 0.0
