"""VQF (Laidig & Seel 2023) through the compiled `vqf.VQF` class.

Why this adapter is fast and split-invariant: each run goes to `VQF.updateBatch`,
whose C++ loop is bit-identical to calling `update` per sample, so any block
split gives the same bits. VQF's earth frame is ENU (z up), its quaternion is
q_earth_sensor, w-first: no conversion needed (checked by the contract tests).

Additions for a body-worn sensor (docs/fusion.md, "Body-worn additions"). Each acts
between samples at indices fixed by the samples alone (never by the block split), by
cutting the batch there:
- quiet-spell gyro bias (`imu.fusion.quiet_bias`), which postural sway does not fool
  (`vqf_quiet_bias`);
- turn hold (`imu.fusion.turn_hold`): while a walking or running body turns, VQF gets
  all-zero accelerometer samples, which it skips (gyro only). A "shadow" VQF fed the real
  samples runs alongside; if the hold was no turn after all, the filter continues from
  the shadow's state (`vqf_turn_hold`);
- after a turn, the accelerometer offset's share of the vertical is moved with the body
  (`imu.fusion.turn_offset`), with the offset learnt from the turns before: a gyro-only
  "probe" VQF measures how far the accelerometer then still moves the vertical;
- samples that bridge a gap have the bias removed over their whole interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.fusion.acc_offset import STILL_GYR_DEV_RPS, STILL_MAX_TURN_DEG, AccOffsetEstimator
from imu.fusion.backend import AdapterHealth, FilterAdapter, gyro_tuple
from imu.fusion.quiet_bias import BiasEstimate, QuietBiasEstimator, WindowCutter
from imu.fusion.settings import FusionSettings
from imu.fusion.turn_hold import TurnDetector, TurnHolds, TurnHoldSettings
from imu.fusion.turn_offset import TurnOffsetLearner, turn_shift
from imu.rotation import quat_multiply, quat_to_matrix, rotate

# VQF state arrays that hold low-pass filter memories. NaN restarts a filter: VQF then
# averages the next samples for tau seconds before filtering (its own start-up).
_ACC_FILTER_STATE = ("accLpState",)
_REST_FILTER_STATE = ("restGyrLpState", "restAccLpState")
# Samples whose interval exceeds this many nominal intervals (a bridged gap) are fed one
# at a time, so that the bias is removed over their whole interval.
_LONG_SAMPLE_FACTOR = 1.5
# The probe runs this many accelerometer time constants after a turn: VQF's low-pass has
# then made up all but a few percent of the shift the turn called for.
_PROBE_TAUS = 3.0
# Expected error (1 sigma) of one turn's measured shift: the gyro's 0.5 % scale and
# cross-axis errors over half a turn, and speed changes after it (about 1 deg).
_PROBE_NOISE_RAD = float(np.radians(1.0))
_E_Z = np.array([0.0, 0.0, 1.0])


@dataclass
class _Probe:
    """Gyro-only copy of the filter from a turn's end, to measure the shift after it."""

    vqf: object
    r0: np.ndarray
    r1: np.ndarray
    end_at: int  # absolute sample index at which the shift is measured


class VqfAdapter(FilterAdapter):
    """VQF 6D/9D with real-interval gyro scaling, gap restarts and the body-worn additions."""

    def __init__(self, settings: FusionSettings, rate_hz: float) -> None:
        super().__init__(settings, rate_hz)
        self._ts_s = 1.0 / self.rate_hz
        self._vqf = self._new_vqf()
        self._started = False
        self._health = AdapterHealth()
        self._seen = 0  # samples processed: absolute index of the next one
        self._windows = WindowCutter(self.rate_hz)  # shared by the two spell trackers
        self._quiet = QuietBiasEstimator(self.rate_hz) if settings.vqf_quiet_bias else None
        self._prior: tuple[np.ndarray, float] | None = None  # VQF's bias before a spell
        self._prior_spell_s = 0.0
        self._turns: TurnDetector | None = None
        if settings.vqf_turn_hold:
            self._turns = TurnDetector(self.rate_hz, TurnHoldSettings(
                settings.vqf_turn_hold_enter_dps, settings.vqf_turn_hold_leave_dps,
                settings.vqf_turn_hold_max_s))
        self._held = False   # the previous sample was held
        self._shadow = None  # VQF fed the real accelerometer, during a hold
        self._r_hold_start: np.ndarray | None = None
        self._offsets = TurnOffsetLearner()
        self._probe: _Probe | None = None
        self._acc_offsets = AccOffsetEstimator()
        self._still = (QuietBiasEstimator(self.rate_hz, STILL_GYR_DEV_RPS, STILL_MAX_TURN_DEG)
                       if settings.vqf_reference_acc_offset else None)
        self._acc_offset: np.ndarray | None = None   # removed from every acc sample
        self._frame_quat: np.ndarray | None = None   # post-multiplied onto the output
        self._probe_n = int(round(_PROBE_TAUS * settings.vqf_tau_acc_s * self.rate_hz))

    def _new_vqf(self):
        from vqf import VQF  # the only place that imports vqf

        s = self.settings
        return VQF(self._ts_s, tauAcc=s.vqf_tau_acc_s, tauMag=s.vqf_tau_mag_s,
                   restBiasEstEnabled=s.vqf_rest_bias_estimation,
                   motionBiasEstEnabled=s.vqf_motion_bias_estimation,
                   magDistRejectionEnabled=s.vqf_mag_dist_rejection,
                   biasClip=s.vqf_bias_clip_dps)

    def _copy(self):
        f = self._new_vqf()
        f.state = self._vqf.state
        return f

    def restart(self, acc_mps2: np.ndarray, mag_uT: np.ndarray | None, keep_heading: bool) -> None:
        if not self._started:
            # A fresh VQF initialises itself from the first sample: its acc low-pass
            # starts by averaging, and every sample's inclination correction makes that
            # average vertical, so the first output is already levelled by acc.
            self._started = True
            return
        # After a gap: restart the acc low-pass (and rest detection, whose window would
        # span the gap) so the next sample re-levels the estimate. Gyro bias, heading
        # (gyrQuat / accQuat heading part) and the 9D magnetic reference are kept.
        # VQF's inclination correction turns about a horizontal axis: heading kept.
        # A hold or probe in progress is dropped: the restart re-levels from acc.
        if self._turns is not None:
            self._turns.reset()
        self._held, self._shadow, self._probe = False, None, None
        self._windows.reset()
        for spells in (self._quiet, self._still):
            if spells is not None:
                spells.reset()
        state = self._vqf.state
        for key in _ACC_FILTER_STATE + _REST_FILTER_STATE:
            state[key] = np.full(np.shape(state[key]), np.nan)
        state["restT"] = 0.0
        state["restDetected"] = False
        self._vqf.state = state

    def process(self, gyr_rps: np.ndarray, acc_mps2: np.ndarray, mag_uT: np.ndarray | None,
                dt_s: np.ndarray) -> np.ndarray:
        # VQF integrates each gyro sample over its fixed Ts. With jittered timestamps the
        # rotation over a real interval is gyr * dt, so feed gyr * (dt / Ts): VQF then
        # integrates (gyr * dt / Ts) * Ts = gyr * dt. dt = 0 (first sample of a run) thus
        # integrates nothing. (VQF's internal bias subtraction still uses Ts: a bias
        # error of b * (Ts - dt) per sample, negligible with clock jitter; samples after
        # a bridged gap are fed one by one with that error removed, see _long_sample.)
        n = len(dt_s)
        gyr = np.ascontiguousarray(gyr_rps * (dt_s / self._ts_s)[:, None])
        acc = np.ascontiguousarray(acc_mps2)
        mag = None if mag_uT is None else np.ascontiguousarray(mag_uT)
        holds = (TurnHolds(np.zeros(n, dtype=bool), {}) if self._turns is None
                 else self._turns.update(gyr_rps, acc_mps2, dt_s))
        no_acc = np.zeros_like(acc)
        starts = set(np.flatnonzero(
            holds.hold & ~np.concatenate(([self._held], holds.hold[:-1]))).tolist())
        windows = (self._windows.update(gyr_rps, acc_mps2, dt_s)
                   if self._quiet is not None or self._still is not None else [])
        bias_at = {} if self._quiet is None else dict(self._quiet.windows(windows))
        still_at = {} if self._still is None else dict(self._still.windows(windows))
        long_at = set(np.flatnonzero(dt_s > _LONG_SAMPLE_FACTOR * self._ts_s).tolist())
        probe_ends = {k + self._probe_n for k, turn in holds.ends.items() if turn}
        if self._probe is not None:
            probe_ends.add(self._probe.end_at - self._seen)
        # Cut the run where something is done between samples: a new bias or offset
        # estimate (after its window), a sample bridging a gap (alone), a hold's start and
        # end, a probe's end.
        cuts = sorted({0, n} | {k + 1 for k in bias_at} | {k + 1 for k in still_at}
                      | long_at | {k + 1 for k in long_at}
                      | starts | set(holds.ends) | {k for k in probe_ends if 0 < k < n})
        quat = np.empty((n, 4))
        for a, b in zip(cuts[:-1], cuts[1:]):
            if self._probe is not None and self._seen + a == self._probe.end_at:
                self._end_probe()
            if a in holds.ends:
                self._end_hold(is_turn=holds.ends[a], at=self._seen + a)
            if a in starts:
                self._start_hold()
            if b - a == 1 and a in long_at:
                gyr[a] = self._long_sample(gyr_rps[a], float(dt_s[a]))
            m = None if mag is None else mag[a:b]
            seg_acc = acc[a:b] - self._acc_offset if self._acc_offset is not None else acc[a:b]
            held = seg_acc.copy()
            held[holds.hold[a:b]] = 0.0  # VQF skips all-zero acc samples: gyro only
            out = self._run(self._vqf, gyr[a:b], held, m)
            if self._shadow is not None:
                self._run(self._shadow, gyr[a:b], seg_acc, m)
            if self._probe is not None:
                self._run(self._probe.vqf, gyr[a:b], no_acc[a:b], m)
            q = out["quat9D" if mag is not None else "quat6D"]
            quat[a:b] = q if self._frame_quat is None else quat_multiply(q, self._frame_quat)
            if b - 1 in bias_at:
                self._apply_quiet_bias(bias_at[b - 1])
            if b - 1 in still_at:
                self._update_acc_offset(still_at[b - 1], self._seen + b)
        self._held = bool(holds.hold[-1])
        self._seen += n
        self._health = AdapterHealth(
            rest_detected=bool(out["restDetected"][-1]) if self._quiet is None else self._quiet.quiet,
            gyro_bias_rps=gyro_tuple(self._vqf.getBiasEstimate()[0]),
            acc_rejected=None if self._turns is None else self._held,
            mag_disturbed=None if mag is None else bool(out["magDistDetected"][-1]),
        )
        return np.ascontiguousarray(quat, dtype=np.float64)

    # -- turn hold -------------------------------------------------------------------
    def _start_hold(self) -> None:
        self._shadow = self._copy()
        self._probe = None  # the next turn comes before the last one could be measured
        self._r_hold_start = quat_to_matrix(np.asarray(self._vqf.getQuat6D()))

    def _end_hold(self, is_turn: bool, at: int) -> None:
        """A turn keeps the held state; anything else resumes as if nothing was held."""
        shadow, self._shadow = self._shadow, None
        if shadow is None or self._r_hold_start is None:
            return
        if not is_turn:
            self._vqf.state = shadow.state
            return
        r0 = self._r_hold_start
        r1 = quat_to_matrix(np.asarray(self._vqf.getQuat6D()))
        # The probe starts before the shift: it measures the whole move the turn calls for.
        self._probe = _Probe(self._copy(), r0, r1, at + self._probe_n)
        if self._offsets.turns:
            self._shift_vertical(turn_shift(r0, r1, self._offsets.offset_mps2))

    def _end_probe(self) -> None:
        """Learn the offset from how far the vertical moved since the turn's end."""
        p, self._probe = self._probe, None
        r_main = quat_to_matrix(np.asarray(self._vqf.getQuat6D()))
        r_probe = quat_to_matrix(np.asarray(p.vqf.getQuat6D()))
        moved = r_main @ (r_main.T @ _E_Z - r_probe.T @ _E_Z)  # earth frame
        self._offsets.add_turn(p.r0, p.r1, moved, _PROBE_NOISE_RAD)

    def _shift_vertical(self, du_earth: np.ndarray) -> None:
        """Move VQF's vertical by du (earth frame, small): shift its acc low-pass.

        VQF turns its estimate each sample so that the low-passed specific force (held in
        the gyro-integrated frame) points up; shifting that low-pass, filter memory
        included (the filter is linear and equal on all axes), moves the estimate at the
        next sample by du without disturbing the filter's dynamics.
        """
        st = self._vqf.state
        last = np.asarray(st["lastAccLp"], dtype=np.float64)
        r = quat_to_matrix(np.asarray(self._vqf.getQuat6D()))
        shift = rotate(np.asarray(st["gyrQuat"]), r.T @ du_earth) * np.linalg.norm(last)
        b = np.asarray(self._vqf.coeffs["accLpB"], dtype=np.float64)
        a = np.asarray(self._vqf.coeffs["accLpA"], dtype=np.float64)
        lp = np.asarray(st["accLpState"], dtype=np.float64).copy()
        for i in range(3):
            lp[2 * i:2 * i + 2] += self._vqf.filterInitialState(float(shift[i]), b, a)
        st["lastAccLp"] = last + shift
        st["accLpState"] = lp
        self._vqf.state = st

    # -- accelerometer offset ---------------------------------------------------------
    def _update_acc_offset(self, est: BiasEstimate, at: int) -> None:
        """Remove the accelerometer offset that quiet postures reveal (imu.fusion.acc_offset).

        Its share along the first quiet posture's gravity never moves the vertical there,
        so it is simply removed. A new share across that gravity (seen lying or kneeling)
        is removed too, with the output turned by the tilt it gave in the first posture
        (which the calibration took in), and the filter's acc low-pass moved at once to
        what it would hold had the new offset been removed all along (the spell is quiet,
        so the low-pass has settled). The output steps there: `at` (the absolute index
        of the first sample read the new way) is listed in `reframes`.
        """
        before = self._acc_offset
        changed = self._acc_offsets.update(est, self.settings.vqf_posture_acc_offset)
        self._acc_offset = self._acc_offsets.offset_mps2
        if not changed:
            return
        self._frame_quat = self._acc_offsets.frame_quat()
        delta = self._acc_offset - (before if before is not None else 0.0)
        st = self._vqf.state
        last = np.asarray(st["lastAccLp"], dtype=np.float64)
        r = quat_to_matrix(np.asarray(self._vqf.getQuat6D()))
        self._shift_vertical(r @ -delta / np.linalg.norm(last))
        self.reframes.append(at)
        # What the turns taught about the offset, and a turn being measured, referred
        # to the samples as they were fed before.
        self._offsets = TurnOffsetLearner()
        self._probe = None

    # -- gyro bias -------------------------------------------------------------------
    def _apply_quiet_bias(self, est: BiasEstimate) -> None:
        """Combine a quiet-spell estimate with what VQF knew before the spell.

        Both are Gaussian estimates of the same bias; their inverse-variance weighted mean
        is the better one. Later estimates of the same spell replace earlier ones (they
        share its samples), so the prior is taken once per spell.
        """
        if self._prior is None or est.spell_s <= self._prior_spell_s:
            bias, sigma = self._vqf.getBiasEstimate()
            self._prior = (np.array(bias, dtype=np.float64), float(sigma))
        self._prior_spell_s = est.spell_s
        b0, s0 = self._prior
        w0, w1 = 1.0 / s0 ** 2, 1.0 / est.sigma_rps ** 2
        bias = (w0 * b0 + w1 * est.bias_rps) / (w0 + w1)
        sigma = float(1.0 / np.sqrt(w0 + w1))
        for f in (self._vqf, self._shadow, None if self._probe is None else self._probe.vqf):
            if f is not None:
                f.setBiasEstimate(bias, sigma)

    @staticmethod
    def _run(f, gyr: np.ndarray, acc: np.ndarray, mag: np.ndarray | None) -> dict:
        if mag is None:
            return f.updateBatch(np.ascontiguousarray(gyr), np.ascontiguousarray(acc))
        return f.updateBatch(np.ascontiguousarray(gyr), np.ascontiguousarray(acc),
                             np.ascontiguousarray(mag))

    def _long_sample(self, gyr_rps: np.ndarray, dt_s: float) -> np.ndarray:
        """The value to feed for a sample integrated over dt >> Ts (a bridged gap).

        VQF computes (fed - bias) * Ts; feeding gyr * dt / Ts + bias * (1 - dt / Ts)
        makes that (gyr - bias) * dt, the bias removed over the whole interval.
        """
        bias = self._vqf.getBiasEstimate()[0]
        ratio = dt_s / self._ts_s
        return gyr_rps * ratio + bias * (1.0 - ratio)

    def health(self) -> AdapterHealth:
        return self._health
