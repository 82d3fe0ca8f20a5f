"""The streaming orientation filter: one object for live, replay and batch use.

`OrientationFilter.update(block)` accepts blocks of any size, down to one sample,
and returns the same bits as one `fuse()` call over the joined blocks: every
per-sample quantity (interval, start of a run) is computed the same way wherever
the block boundaries fall, and the adapters' loops are split-invariant.

Time handling:
- Irregular intervals: each sample's gyro is integrated over its real interval
  `time_s[k] - time_s[k-1]` (also across block boundaries), not over 1/rate.
- Short gaps (`gap_before` True, at most `gap_bridge_max_s`): bridged like a long
  interval: one angular rate, chosen by `gap_fill` (`imu.fusion.gap_fill`: by default
  the previous stride's rotation over the same stretch in gait, else the rates either
  side interpolated), is integrated over the whole interval.
- Longer gaps: the gyro is not integrated across the gap (there is no rotation data
  for it); the sample after the gap re-initialises the inclination from its
  accelerometer reading, keeping the heading. No samples are ever interpolated.
- Start: the first sample sets the inclination (9D: the whole orientation), so
  there is no convergence transient.
"""

from __future__ import annotations

import numpy as np

from imu.errors import SampleDataError, SettingsError
from imu.fusion.backend import FilterAdapter
from imu.fusion.gap_fill import HISTORY_S, fill_gap
from imu.fusion.registry import build_adapter
from imu.fusion.settings import FusionSettings, FusionStatus
from imu.samples import SampleBlock, nominal_rate_hz


class OrientationFilter:
    """Sensor orientation (q_earth_sensor, w-first, earth z up) from IMU blocks.

    Args:
        settings: which filter and its parameters.
        rate_hz: nominal sample rate in Hz (fixed-step filters such as VQF need it;
            the integration itself uses the real sample intervals).
    """

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        if not isinstance(settings, FusionSettings):
            raise SettingsError(f"settings must be a FusionSettings, got {type(settings).__name__}.")
        rate = float(rate_hz)
        if not (np.isfinite(rate) and rate > 0):
            raise SettingsError(f"rate_hz must be a finite sample rate > 0 Hz, got {rate_hz!r}.")
        self._settings = settings
        self._rate_hz = rate
        self._adapter: FilterAdapter = build_adapter(settings, rate)
        self._last_time_s: float | None = None
        # Raw samples since the last gap (at most HISTORY_S), for filling bridged gaps.
        self._history_n = int(round(HISTORY_S * rate)) + 1
        self._hist_t = np.empty(0)
        self._hist_gyr = np.empty((0, 3))
        self._samples = 0
        self._since_gap = 0
        self._gaps = 0
        self._reinit_in_last_update = False
        self.reframed_at: list[int] = []
        """Indices in the last updated block from which the output reads in a corrected
        frame: the angles step there without any movement (FilterAdapter.reframes)."""

    @property
    def settings(self) -> FusionSettings:
        return self._settings

    @property
    def rate_hz(self) -> float:
        return self._rate_hz

    def update(self, block: SampleBlock) -> np.ndarray:
        """Fuse the next block; returns (N, 4) float64 C-contiguous q_earth_sensor (w, x, y, z)."""
        n = len(block)
        if n == 0:
            return np.empty((0, 4))
        mag = self._checked_mag(block)
        self._check_finite(block, mag)
        t = block.time_s
        dt = np.empty(n)
        dt[1:] = np.diff(t)
        if self._last_time_s is None:
            dt[0] = 0.0
        else:
            dt[0] = t[0] - self._last_time_s
            if not dt[0] > 0:
                raise SampleDataError(
                    f"Block starts at {t[0]!r} s, not after the previous block's last sample "
                    f"at {self._last_time_s!r} s; feed blocks in time order (or start a new filter)."
                )
        # A run starts at the very first sample and after every gap; its first sample
        # integrates no gyro (dt = 0) and re-levels the estimate from its accelerometer.
        run_start = block.gap_before & (dt > self._settings.gap_bridge_max_s)
        first_ever = self._last_time_s is None
        run_start[0] |= first_ever
        gaps_here = int(np.count_nonzero(block.gap_before)) - int(first_ever and block.gap_before[0])
        dt[run_start] = 0.0
        gyr = self._filled_gyro(block, run_start)

        out = np.empty((n, 4))
        starts = np.flatnonzero(run_start)
        bounds = [0, *starts.tolist(), n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b <= a:
                continue
            if run_start[a]:
                keep_heading = not (first_ever and a == 0)
                self._adapter.restart(block.acc_mps2[a], None if mag is None else mag[a], keep_heading)
            out[a:b] = self._adapter.process(gyr[a:b], block.acc_mps2[a:b],
                                             None if mag is None else mag[a:b], dt[a:b])

        self._last_time_s = float(t[-1])
        self.reframed_at = [i - self._samples for i in self._adapter.reframes if i < self._samples + n]
        self._adapter.reframes = [i for i in self._adapter.reframes if i >= self._samples + n]
        self._samples += n
        self._gaps += gaps_here
        self._since_gap = (n - int(starts[-1])) if starts.size else self._since_gap + n
        self._reinit_in_last_update = gaps_here > 0
        return out

    def _filled_gyro(self, block: SampleBlock, run_start: np.ndarray) -> np.ndarray:
        """The block's gyro with the rate of each bridged gap's sample replaced (gap_fill).

        Keeps the last HISTORY_S of gyro since the last run start, evenly spaced (the
        missing samples of bridged gaps filled in), across blocks.
        """
        t, gyr = block.time_s, block.gyr_rps
        bridged = block.gap_before & ~run_start
        events = np.flatnonzero(bridged | run_start)
        out = gyr.copy() if bridged.any() else gyr
        hist_t, hist_g = self._hist_t, self._hist_gyr
        prev = 0
        for k in events.tolist():
            hist_t = np.concatenate((hist_t, t[prev:k]))[-self._history_n:]
            hist_g = np.concatenate((hist_g, gyr[prev:k]))[-self._history_n:]
            if run_start[k]:
                hist_t, hist_g = np.empty(0), np.empty((0, 3))
            else:
                out[k], filled = fill_gap(hist_t, hist_g, float(t[k]), gyr[k], self._rate_hz,
                                          self._settings.gap_fill)
                slots = hist_t[-1] + (t[k] - hist_t[-1]) * np.arange(1, filled.shape[0] + 1) / (
                    filled.shape[0] + 1)
                hist_t = np.concatenate((hist_t, slots))[-self._history_n:]
                hist_g = np.concatenate((hist_g, filled))[-self._history_n:]
            prev = k
        self._hist_t = np.concatenate((hist_t, t[prev:]))[-self._history_n:]
        self._hist_gyr = np.concatenate((hist_g, gyr[prev:]))[-self._history_n:]
        return out

    @property
    def status(self) -> FusionStatus:
        """What the filter currently trusts, for the UI (see FusionStatus)."""
        health = self._adapter.health() if self._samples else None
        return FusionStatus(
            filter_name=self._settings.filter_name,
            use_mag=self._settings.use_mag,
            samples_processed=self._samples,
            samples_since_gap=self._since_gap,
            gaps_seen=self._gaps,
            reinitialised_at_gap=self._reinit_in_last_update,
            rest_detected=None if health is None else health.rest_detected,
            gyro_bias_rps=None if health is None else health.gyro_bias_rps,
            acc_rejected=None if health is None else health.acc_rejected,
            mag_disturbed=None if health is None else health.mag_disturbed,
        )

    def _checked_mag(self, block: SampleBlock) -> np.ndarray | None:
        if not self._settings.use_mag:
            return None
        if block.mag_uT is None:
            raise SampleDataError(
                "FusionSettings.use_mag=True (9D) needs magnetometer samples, but this block "
                "has no mag_uT. Record with the magnetometer on, or use use_mag=False (6D)."
            )
        return block.mag_uT

    @staticmethod
    def _check_finite(block: SampleBlock, mag: np.ndarray | None) -> None:
        # One NaN would poison a recursive filter for the rest of the recording.
        for name, arr in (("acc_mps2", block.acc_mps2), ("gyr_rps", block.gyr_rps), ("mag_uT", mag)):
            if arr is not None and not np.isfinite(arr).all():
                k = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
                raise SampleDataError(
                    f"{name} has a non-finite value at sample {k} (t = {block.time_s[k]!r} s); "
                    f"drop or mark such samples as missing (a gap) before fusion."
                )


def make_filter(settings: FusionSettings, rate_hz: float) -> OrientationFilter:
    """A new streaming filter (same as OrientationFilter(settings, rate_hz))."""
    return OrientationFilter(settings, rate_hz)


def fuse(block: SampleBlock, settings: FusionSettings = FusionSettings(),
         rate_hz: float | None = None) -> np.ndarray:
    """Batch fusion of a whole recording: (N, 4) q_earth_sensor, w-first.

    rate_hz defaults to the nominal rate from the median sample interval. The result
    is bit-identical to streaming the same samples through one OrientationFilter.
    """
    if rate_hz is None:
        if len(block) < 2:
            raise SampleDataError("fuse() needs rate_hz for a block of fewer than two samples "
                                  "(the rate cannot be estimated from one time stamp).")
        rate_hz = nominal_rate_hz(block.time_s)
    return OrientationFilter(settings, rate_hz).update(block)
