"""Sensor-to-pelvis alignment, found automatically and causally from the data.

The sensor may sit at the sacrum in any orientation. The pelvis frame (x anterior,
y left, z up) is found in two steps (CONVENTIONS, "Frames"):

1. Vertical: the mean accelerometer direction during quiet standing.
2. Anterior axis, by the first of these that succeeds:
   - functional calibration: forward hip hinges rotate the pelvis about its
     medio-lateral axis; the dominant horizontal gyro axis during the hinges gives
     that axis and the direction in which "up" tips gives its sign;
   - gait: the horizontal acceleration at the sacrum is largest along the
     anterior-posterior axis. Its sign follows from the phase between forward
     acceleration and vertical velocity, which is opposite in walking (inverted
     pendulum: forward speed is highest when the pelvis is lowest) and running
     (spring-mass: forward speed and height are lowest together at mid-stance).
     Checked on real lower-back walking (IPOL, 12 trials, against the start-up
     direction) and on a real sacral running recording (RBDS, against its mounting).

Everything is processed in fixed windows of samples, so the result and the sample
at which it takes effect do not depend on how the input is split into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, asdict
from enum import Enum

import numpy as np

from imu import GRAVITY_MPS2
from imu.errors import SettingsError
from imu.fusion.gait_periodicity import step_periodicity
from imu.rotation import quat_to_matrix


@dataclass(frozen=True)
class CalibrationSettings:
    """Thresholds of the automatic calibration. Defaults suit a sacral IMU on an adult."""

    window_s: float = 0.5
    """Analysis window; decisions happen at window ends."""
    quiet_gyr_rps: float = 0.20
    """Largest angular rate in quiet standing (postural sway stays below ~5 deg/s)."""
    quiet_acc_std_mps2: float = 0.30
    """Largest standard deviation of |acc| within a quiet window."""
    quiet_acc_norm_tol_mps2: float = 2.0
    """|acc| must lie within this of g while standing (rejects a sensor being carried).
    An uncalibrated MEMS part reads up to ~0.15 g off at rest (100 mg offset and 2 %
    scale: the simulator's "poor" device read 10.82 m/s^2), so 1 m/s^2 was too tight."""
    standing_min_s: float = 2.0
    """Shortest quiet run accepted as standing."""
    standing_max_s: float = 10.0
    """Standing is taken from at most this long a quiet run (longer adds nothing)."""
    hinge_start_deg: float = 15.0
    """Inclination from standing vertical at which a hinge begins."""
    hinge_end_deg: float = 7.0
    """Inclination below which the hinge is over (back upright)..."""
    hinge_end_fraction: float = 0.25
    """...or below this share of its peak (but under hinge_start_deg): a sensor with
    large offsets leaves the fused vertical several degrees off standing's, and the
    hinges must not run together."""
    hinge_min_peak_deg: float = 25.0
    """A hinge must tip the pelvis at least this far."""
    hinge_max_duration_s: float = 10.0
    hinges_required: int = 2
    """Hinges needed before the anterior axis is decided."""
    gait_buffer_s: float = 5.0
    """Span of gait analysed for the anterior axis."""
    gait_min_acc_std_mps2: float = 0.8
    """Vertical acceleration variability below which nothing is taken for gait."""
    gait_min_autocorr: float = 0.45
    """Step-periodicity needed (normalised autocorrelation at the step lag)."""
    gait_candidates_required: int = 2
    """Independent gait estimates (gait_candidate_spacing_s apart) that must agree."""
    gait_candidate_spacing_s: float = 1.5
    gait_agreement_deg: float = 20.0
    running_flight_force_mps2: float = 4.9
    """10th percentile of vertical specific force below this (flight phases) means running."""
    evidence_max_gap_s: float = 0.25
    """Longer gaps break a run of evidence; shorter ones (a few lost packets) do not."""
    use_hinges: bool = True
    use_gait: bool = True

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.standing_min_s < self.window_s:
            raise SettingsError("window_s must be > 0 and standing_min_s >= window_s.")
        if self.hinges_required < 1 or self.gait_candidates_required < 1:
            raise SettingsError("hinges_required and gait_candidates_required must be >= 1.")
        if not self.hinge_end_deg < self.hinge_start_deg < self.hinge_min_peak_deg:
            raise SettingsError("Need hinge_end_deg < hinge_start_deg < hinge_min_peak_deg.")


class AnteriorMethod(str, Enum):
    HINGES = "hinges"
    GAIT_WALKING = "gait-walking"
    GAIT_RUNNING = "gait-running"


@dataclass(frozen=True)
class Alignment:
    """The sensor-to-pelvis alignment and how it was found.

    `r_sensor_pelvis` has the pelvis axes (anterior, left, up) expressed in the sensor
    frame as its columns, so v_sensor = r_sensor_pelvis @ v_pelvis.
    """

    r_sensor_pelvis: np.ndarray
    vertical_method: str
    anterior_method: str
    confidence: float
    """0..1: how clear the evidence was (see `detail`)."""
    standing_start_s: float
    standing_end_s: float
    anterior_start_s: float
    anterior_end_s: float
    decided_at_s: float
    valid_from_sample: int
    """Index (from the start of the stream) of the first sample the alignment applies to."""
    detail: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["r_sensor_pelvis"] = np.asarray(self.r_sensor_pelvis).round(9).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Alignment":
        d = dict(d)
        d["r_sensor_pelvis"] = np.asarray(d["r_sensor_pelvis"], dtype=np.float64)
        return cls(**d)


def alignment_matrix(up_sensor: np.ndarray, anterior_sensor: np.ndarray) -> np.ndarray:
    """Pelvis axes in the sensor frame from an up and a (roughly) anterior vector.

    The anterior vector is made exactly perpendicular to up; left = up x anterior.
    """
    up = np.asarray(up_sensor, dtype=np.float64)
    up = up / np.linalg.norm(up)
    a = np.asarray(anterior_sensor, dtype=np.float64)
    a = a - (a @ up) * up
    norm = np.linalg.norm(a)
    if norm < 1e-9:
        raise ValueError("The anterior vector is parallel to vertical; cannot align.")
    a = a / norm
    left = np.cross(up, a)
    return np.column_stack([a, left, up])


def anterior_from_hinges(gyr_outer: np.ndarray, up_deviation_sum: np.ndarray,
                         up_sensor: np.ndarray) -> tuple[np.ndarray, float]:
    """Anterior axis (sensor frame) from hinge statistics, and a 0..1 confidence.

    gyr_outer: sum of w w^T over hinge samples (gyro in sensor frame).
    up_deviation_sum: sum over hinge samples of (current up - standing up), sensor frame.
    A forward hinge tips the anterior axis down, so "up" moves towards posterior.
    """
    up = up_sensor / np.linalg.norm(up_sensor)
    p = np.eye(3) - np.outer(up, up)
    c = p @ gyr_outer @ p
    evals, evecs = np.linalg.eigh(c)
    ml_axis = evecs[:, 2]
    anterior = np.cross(ml_axis, up)
    tip = p @ up_deviation_sum
    tip_norm = np.linalg.norm(tip)
    if tip_norm < 1e-12:
        return anterior, 0.0
    if anterior @ tip > 0:  # up must have moved backwards
        anterior = -anterior
    # Confidence: how single-axis the rotation was, and how well the tip direction agrees.
    planarity = float(evals[2] / max(evals.sum(), 1e-12))
    agreement = float(-(anterior @ tip) / tip_norm)
    return anterior, float(np.clip(planarity * agreement, 0.0, 1.0))


@dataclass(frozen=True)
class GaitEvidence:
    """Anterior direction from a stretch of gait, in the sensor frame."""

    anterior_sensor: np.ndarray
    running: bool
    strength: float
    step_period_s: float


def anterior_from_gait(acc_earth_mps2: np.ndarray, earth_xy_in_sensor: np.ndarray,
                       rate_hz: float, settings: CalibrationSettings) -> GaitEvidence | None:
    """Anterior direction from a few seconds of gait, or None if this is not gait.

    acc_earth_mps2: (N, 3) specific force in the (heading-arbitrary) earth frame.
    earth_xy_in_sensor: (N, 2, 3) the earth x and y axes expressed in the sensor frame.
    """
    fz = acc_earth_mps2[:, 2]
    if fz.size < 4 * rate_hz or np.std(fz) < settings.gait_min_acc_std_mps2:
        return None
    step_lag = _step_lag(fz - fz.mean(), rate_hz, settings.gait_min_autocorr)
    if step_lag is None:
        return None
    # Use whole strides only, so the principal axes are not biased by a partial cycle.
    n_use = int((fz.size // (2 * step_lag)) * 2 * step_lag)
    h = acc_earth_mps2[-n_use:, :2]
    h = h - h.mean(axis=0)
    evals, evecs = np.linalg.eigh(h.T @ h)
    if evals[1] < 1.05 * evals[0]:
        return None  # no dominant horizontal axis
    d = evecs[:, 1]
    ap = h @ d
    az = fz[-n_use:] - fz[-n_use:].mean()
    vz = np.cumsum(az) / rate_hz
    x = np.arange(vz.size)
    vz = vz - np.polyval(np.polyfit(x, vz, 1), x)
    if np.std(vz) < 1e-9 or np.std(ap) < 1e-9:
        return None
    corr = float(np.corrcoef(ap, vz)[0, 1])
    running = float(np.percentile(fz[-n_use:], 10)) < settings.running_flight_force_mps2
    sign = np.sign(corr) if running else -np.sign(corr)
    forward_earth = sign * d
    exy = earth_xy_in_sensor[-n_use:]
    anterior = (forward_earth[0] * exy[:, 0, :] + forward_earth[1] * exy[:, 1, :]).mean(axis=0)
    eig_contrast = 1.0 - evals[0] / evals[1]
    strength = float(np.clip(abs(corr) * 2.0, 0.0, 1.0) * np.clip(eig_contrast * 3.0, 0.0, 1.0))
    return GaitEvidence(anterior / np.linalg.norm(anterior), running, strength, step_lag / rate_hz)


def _step_lag(x: np.ndarray, rate_hz: float, min_corr: float) -> int | None:
    """Lag (samples) of the step period from the autocorrelation, or None."""
    p = step_periodicity(x, rate_hz)
    if p is None or p.step_corr < min_corr:
        return None
    # A stride (two steps) must repeat too, or this is not gait.
    if 2 * p.lag < x.size and p.stride_corr < min_corr:
        return None
    return p.lag


class _Phase(str, Enum):
    SEEK_STANDING = "seek-standing"
    SEEK_ANTERIOR = "seek-anterior"
    DONE = "done"


@dataclass
class _HingeAccumulator:
    gyr_outer: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    up_dev_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    count: int = 0
    start_s: float = float("nan")
    end_s: float = float("nan")


@dataclass(frozen=True)
class CalibrationProgress:
    """How far the automatic calibration has got, for a guided calibration screen."""

    phase: str
    """'seek-standing', 'seek-anterior' or 'done'."""
    standing_s: float
    """Quiet standing gathered so far (seconds; full once standing was found)."""
    standing_needed_s: float
    hinges_done: int
    hinges_required: int
    in_hinge: bool
    """A hinge is under way right now."""
    gait_s: float
    """Gait gathered for the alternative (anterior axis from walking or running)."""
    gait_needed_s: float


class AlignmentDetector:
    """Streaming, causal detection of quiet standing, hinges and gait.

    Feed it the samples with their fused orientation; it returns the Alignment once,
    at the end of the window in which the evidence became sufficient.
    """

    def __init__(self, rate_hz: float, settings: CalibrationSettings = CalibrationSettings()) -> None:
        self.rate_hz = float(rate_hz)
        self.settings = settings
        self.window_n = max(2, int(round(settings.window_s * rate_hz)))
        self._phase = _Phase.SEEK_STANDING
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._pending_n = 0
        self._samples_seen = 0
        self._last_t: float | None = None
        # standing
        self._quiet_windows: list[tuple[float, float, np.ndarray, int]] = []  # (t0, t1, acc_sum, n)
        self._standing: tuple[float, float, np.ndarray] | None = None
        # hinges
        self._in_hinge = False
        self._hinge_peak_deg = 0.0
        self._hinge_start_s = 0.0
        self._current = _HingeAccumulator()
        self._hinges = _HingeAccumulator()
        self._hinge_count = 0
        # gait
        max_gait = int(round(settings.gait_buffer_s * rate_hz))
        self._gait_acc = np.zeros((0, 3))
        self._gait_axes = np.zeros((0, 2, 3))
        self._gait_t = np.zeros(0)
        self._gait_max = max_gait
        self._gait_candidates: list[tuple[float, GaitEvidence]] = []
        self.alignment: Alignment | None = None

    @property
    def phase(self) -> str:
        return self._phase.value

    def status_message(self) -> str:
        """What the user should do next, in plain words."""
        if self._phase is _Phase.SEEK_STANDING:
            return ("Calibration: stand still, upright, for 5 seconds (no quiet standing found yet); "
                    "then do 3 slow forward hip hinges, or start walking or running.")
        if self._phase is _Phase.SEEK_ANTERIOR:
            return (f"Calibration: standing found; now do 3 slow forward hip hinges "
                    f"({self._hinge_count} of {self.settings.hinges_required} so far), "
                    "or walk or run for about 10 seconds.")
        assert self.alignment is not None
        return (f"Calibrated from quiet standing and {self.alignment.anterior_method} "
                f"(confidence {self.alignment.confidence:.2f}).")

    def progress(self) -> CalibrationProgress:
        """Progress counters behind status_message(), for a progress display."""
        s = self.settings
        if self._standing is not None:
            standing = self._standing[1] - self._standing[0]
        else:
            standing = len(self._quiet_windows) * s.window_s
        return CalibrationProgress(self._phase.value, float(standing), s.standing_min_s,
                                   self._hinge_count, s.hinges_required, self._in_hinge,
                                   float(self._gait_t.size / self.rate_hz), s.gait_buffer_s)

    def update(self, time_s: np.ndarray, acc_mps2: np.ndarray, gyr_rps: np.ndarray,
               quat_wxyz: np.ndarray, gap_before: np.ndarray) -> Alignment | None:
        """Process samples; returns the alignment if it was decided within them."""
        if self._phase is _Phase.DONE or len(time_s) == 0:
            self._samples_seen += len(time_s)
            return None
        self._pending.append((time_s, acc_mps2, gyr_rps, quat_wxyz, gap_before))
        self._pending_n += len(time_s)
        if self._pending_n < self.window_n:
            return None
        t, acc, gyr, q, gap = (np.concatenate(parts) for parts in zip(*self._pending))
        n_full = (t.size // self.window_n) * self.window_n
        rest = tuple(a[n_full:] for a in (t, acc, gyr, q, gap))
        self._pending = [rest] if rest[0].size else []
        self._pending_n = rest[0].size
        found = None
        for i in range(0, n_full, self.window_n):
            sl = slice(i, i + self.window_n)
            found = self._window(t[sl], acc[sl], gyr[sl], q[sl], gap[sl])
            self._samples_seen += self.window_n
            if found is not None:
                self._samples_seen += n_full - (i + self.window_n) + self._pending_n
                self._pending, self._pending_n = [], 0
                break
        return found

    # -- one window -------------------------------------------------------------------
    def _window(self, t, acc, gyr, q, gap) -> Alignment | None:
        s = self.settings
        if gap.any() and self._longest_gap_s(t, gap) > s.evidence_max_gap_s:
            # Do not join evidence across a real outage; standing found before it counts.
            if (self._phase is _Phase.SEEK_STANDING
                    and len(self._quiet_windows) * s.window_s >= s.standing_min_s):
                self._accept_standing()
            self._quiet_windows.clear()
            self._reset_gait_buffer()
        self._last_t = float(t[-1])
        if self._phase is _Phase.SEEK_STANDING:
            return self._seek_standing(t, acc, gyr)
        up = self._standing[2]
        r = quat_to_matrix(q)
        if s.use_hinges:
            found = self._track_hinges(t, gyr, r, up)
            if found is not None:
                return found
        if s.use_gait:
            return self._track_gait(t, acc, r)
        return None

    def _longest_gap_s(self, t, gap) -> float:
        prev = np.concatenate(([np.nan if self._last_t is None else self._last_t], t[:-1]))
        d = (t - prev)[gap]
        d = d[np.isfinite(d)]
        return float(d.max()) if d.size else float("inf")

    def _seek_standing(self, t, acc, gyr) -> Alignment | None:
        s = self.settings
        norms = np.linalg.norm(acc, axis=1)
        quiet = (np.max(np.linalg.norm(gyr, axis=1)) < s.quiet_gyr_rps
                 and np.std(norms) < s.quiet_acc_std_mps2
                 and abs(np.mean(norms) - GRAVITY_MPS2) < s.quiet_acc_norm_tol_mps2)
        if quiet:
            self._quiet_windows.append((float(t[0]), float(t[-1]), acc.sum(axis=0), len(t)))
            max_windows = int(round(s.standing_max_s / s.window_s))
            if len(self._quiet_windows) >= max_windows:
                self._accept_standing()
            return None
        if len(self._quiet_windows) * s.window_s >= s.standing_min_s:
            self._accept_standing()
        else:
            self._quiet_windows.clear()
        return None

    def _accept_standing(self) -> None:
        acc_sum = sum(w[2] for w in self._quiet_windows)
        up = acc_sum / np.linalg.norm(acc_sum)
        self._standing = (self._quiet_windows[0][0], self._quiet_windows[-1][1], up)
        self._quiet_windows.clear()
        self._phase = _Phase.SEEK_ANTERIOR

    def _track_hinges(self, t, gyr, r, up) -> Alignment | None:
        s = self.settings
        up_now = r[:, 2, :]  # earth-up expressed in the sensor frame, per sample
        incl = np.degrees(np.arccos(np.clip(up_now @ up, -1.0, 1.0)))
        i = 0
        n = len(t)
        while i < n:
            if not self._in_hinge:
                above = np.flatnonzero(incl[i:] > s.hinge_start_deg)
                if above.size == 0:
                    return None
                i += int(above[0])
                self._in_hinge = True
                self._hinge_peak_deg = 0.0
                self._hinge_start_s = float(t[i])
                self._current = _HingeAccumulator(start_s=float(t[i]))
            # The peak so far sets the end level; the first sample under it ends the
            # hinge (the level only rises within a window, so test against the peak up
            # to each sample).
            peak = np.maximum.accumulate(np.maximum(incl[i:], self._hinge_peak_deg))
            end_deg = np.minimum(np.maximum(s.hinge_end_deg, s.hinge_end_fraction * peak),
                                 s.hinge_start_deg - 2.0)
            below = np.flatnonzero(incl[i:] < end_deg)
            j = n if below.size == 0 else i + int(below[0])
            if j > i:  # a hinge can end on the first sample of a window
                seg = slice(i, j)
                self._current.gyr_outer += gyr[seg].T @ gyr[seg]
                self._current.up_dev_sum += (up_now[seg] - up).sum(axis=0)
                self._current.count += j - i
                self._hinge_peak_deg = max(self._hinge_peak_deg, float(incl[seg].max()))
            if j == n:
                if t[-1] - self._hinge_start_s > s.hinge_max_duration_s:
                    self._in_hinge = False  # a posture change, not a hinge
                return None
            self._in_hinge = False
            self._current.end_s = float(t[j])
            if self._hinge_peak_deg >= s.hinge_min_peak_deg:
                self._add_hinge(self._current)
                if self._hinge_count >= s.hinges_required:
                    return self._finish_hinges(float(t[j]), int(self._samples_seen + n))
            i = j
        return None

    def _add_hinge(self, h: _HingeAccumulator) -> None:
        acc = self._hinges
        if self._hinge_count == 0:
            acc.start_s = h.start_s
        acc.gyr_outer += h.gyr_outer
        acc.up_dev_sum += h.up_dev_sum
        acc.count += h.count
        acc.end_s = h.end_s
        self._hinge_count += 1

    def _finish_hinges(self, t_now: float, valid_from: int) -> Alignment:
        up = self._standing[2]
        anterior, conf = anterior_from_hinges(self._hinges.gyr_outer, self._hinges.up_dev_sum, up)
        return self._finish(anterior, AnteriorMethod.HINGES.value, conf,
                            self._hinges.start_s, self._hinges.end_s, t_now, valid_from,
                            f"{self._hinge_count} hinges")

    def _reset_gait_buffer(self) -> None:
        self._gait_acc = np.zeros((0, 3))
        self._gait_axes = np.zeros((0, 2, 3))
        self._gait_t = np.zeros(0)

    def _track_gait(self, t, acc, r) -> Alignment | None:
        s = self.settings
        acc_earth = np.einsum("nij,nj->ni", r, acc)
        self._gait_acc = np.concatenate([self._gait_acc, acc_earth])[-self._gait_max:]
        self._gait_axes = np.concatenate([self._gait_axes, r[:, :2, :]])[-self._gait_max:]
        self._gait_t = np.concatenate([self._gait_t, t])[-self._gait_max:]
        if self._gait_t.size < self._gait_max:
            return None
        if self._gait_candidates and t[-1] - self._gait_candidates[-1][0] < s.gait_candidate_spacing_s:
            return None
        ev = anterior_from_gait(self._gait_acc, self._gait_axes, self.rate_hz, s)
        if ev is None:
            self._gait_candidates.clear()
            return None
        up = self._standing[2]
        ev = GaitEvidence(alignment_matrix(up, ev.anterior_sensor)[:, 0], ev.running,
                          ev.strength, ev.step_period_s)
        if self._gait_candidates:
            prev = self._gait_candidates[-1][1]
            angle = np.degrees(np.arccos(np.clip(prev.anterior_sensor @ ev.anterior_sensor, -1, 1)))
            if angle > s.gait_agreement_deg or prev.running != ev.running:
                self._gait_candidates.clear()
        self._gait_candidates.append((float(t[-1]), ev))
        if len(self._gait_candidates) < s.gait_candidates_required:
            return None
        evs = [e for _, e in self._gait_candidates]
        anterior = np.mean([e.anterior_sensor for e in evs], axis=0)
        conf = float(np.mean([e.strength for e in evs]))
        method = AnteriorMethod.GAIT_RUNNING if ev.running else AnteriorMethod.GAIT_WALKING
        start = float(self._gait_candidates[0][0] - s.gait_buffer_s)
        return self._finish(anterior, method.value, conf, start, float(t[-1]), float(t[-1]),
                            int(self._samples_seen + len(t)),
                            f"{len(evs)} gait estimates, step period {ev.step_period_s:.2f} s")

    def _finish(self, anterior, method, conf, a0, a1, t_now, valid_from, detail) -> Alignment:
        st0, st1, up = self._standing
        self.alignment = Alignment(
            r_sensor_pelvis=alignment_matrix(up, anterior),
            vertical_method="quiet-standing",
            anterior_method=method,
            confidence=round(conf, 3),
            standing_start_s=st0, standing_end_s=st1,
            anterior_start_s=a0, anterior_end_s=a1,
            decided_at_s=t_now, valid_from_sample=valid_from,
            detail=f"standing {st1 - st0:.1f} s; {detail}",
        )
        self._phase = _Phase.DONE
        return self.alignment
