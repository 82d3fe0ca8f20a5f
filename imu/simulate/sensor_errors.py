"""MEMS error model of a cheap 6-axis IMU and the BLE link (clock, jitter, lost packets).

Defaults ('typical') follow the datasheet figures of the parts a sacral clip would use
(Bosch BMI270, TDK ICM-42688-P; see docs/simulator.md for the figures and sources).
Each parameter is a 1-sigma spread from which one device is drawn per session
(`draw_errors`), so a seed fixes the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from scipy.signal import lfilter

from imu import GRAVITY_MPS2
from imu.errors import SettingsError

INT16_MAX = 32767
INT16_MIN = -32768


@dataclass(frozen=True)
class SensorErrorModel:
    """Sensor and link error parameters (1-sigma spreads unless stated)."""

    acc_noise_ug_per_rthz: float = 160.0      # BMI270 typ. 160 ug/sqrt(Hz)
    gyr_noise_mdps_per_rthz: float = 7.0      # BMI270 typ. 7 mdps/sqrt(Hz) (performance mode)
    acc_bias_mg: float = 20.0                 # turn-on zero-g offset, per axis
    gyr_bias_dps: float = 0.5                 # zero-rate offset, per axis (BMI270 typ. +-0.5)
    acc_bias_drift_mg: float = 1.0            # slow wander (first-order Gauss-Markov)
    gyr_bias_drift_dps: float = 0.05
    bias_drift_tau_s: float = 600.0
    acc_scale_error_pct: float = 0.5
    gyr_scale_error_pct: float = 0.5
    acc_cross_axis_pct: float = 0.5
    gyr_cross_axis_pct: float = 0.5
    acc_range_g: float = 16.0
    gyr_range_dps: float = 2000.0
    quantize: bool = True                     # int16 at the range's LSB
    clock_drift_ppm: float | None = None      # None: drawn uniformly in +-clock_drift_max_ppm
    clock_drift_max_ppm: float = 50.0
    timestamp_jitter_us: float = 50.0         # reported timestamp jitter (1-sigma)
    packet_loss_fraction: float = 0.002       # long-run fraction of packets lost
    loss_burst_packets: float = 3.0           # mean length of a loss burst (packets)
    outages: tuple[tuple[float, float], ...] = ()  # link outages (start_s, duration_s)

    @classmethod
    def preset(cls, name: str) -> "SensorErrorModel":
        """'none' (ideal sensor and link), 'typical' or 'poor'."""
        if name not in ERROR_PRESETS:
            raise SettingsError(f"Unknown sensor error preset {name!r}; known: "
                                f"{', '.join(ERROR_PRESETS)}.")
        return ERROR_PRESETS[name]

    @property
    def acc_lsb_mps2(self) -> float:
        return self.acc_range_g * GRAVITY_MPS2 / 32768.0

    @property
    def gyr_lsb_rps(self) -> float:
        return float(np.radians(self.gyr_range_dps)) / 32768.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outages"] = [list(o) for o in self.outages]
        return d


ERROR_FIELDS = {f.name for f in fields(SensorErrorModel)}

ERROR_PRESETS: dict[str, SensorErrorModel] = {
    "none": SensorErrorModel(
        acc_noise_ug_per_rthz=0.0, gyr_noise_mdps_per_rthz=0.0, acc_bias_mg=0.0,
        gyr_bias_dps=0.0, acc_bias_drift_mg=0.0, gyr_bias_drift_dps=0.0,
        acc_scale_error_pct=0.0, gyr_scale_error_pct=0.0, acc_cross_axis_pct=0.0,
        gyr_cross_axis_pct=0.0, quantize=False, clock_drift_ppm=0.0, timestamp_jitter_us=0.0,
        packet_loss_fraction=0.0),
    "typical": SensorErrorModel(),
    # An older / uncalibrated part on a congested link.
    "poor": SensorErrorModel(
        acc_noise_ug_per_rthz=300.0, gyr_noise_mdps_per_rthz=14.0, acc_bias_mg=60.0,
        gyr_bias_dps=3.0, acc_bias_drift_mg=3.0, gyr_bias_drift_dps=0.2,
        acc_scale_error_pct=2.0, gyr_scale_error_pct=2.0, acc_cross_axis_pct=2.0,
        gyr_cross_axis_pct=2.0, clock_drift_max_ppm=500.0, timestamp_jitter_us=300.0,
        packet_loss_fraction=0.02, loss_burst_packets=5.0),
}


@dataclass(frozen=True)
class DrawnErrors:
    """The constant errors of one simulated device (what a calibration would estimate)."""

    acc_bias_mps2: np.ndarray        # (3,)
    gyr_bias_rps: np.ndarray         # (3,)
    acc_matrix: np.ndarray           # (3, 3): measured = acc_matrix @ true (+ bias ...)
    gyr_matrix: np.ndarray           # (3, 3)
    clock_drift_ppm: float

    def to_dict(self) -> dict:
        return {
            "acc_bias_mps2": [round(float(v), 9) for v in self.acc_bias_mps2],
            "gyr_bias_rps": [round(float(v), 9) for v in self.gyr_bias_rps],
            "acc_matrix": [[round(float(v), 9) for v in row] for row in self.acc_matrix],
            "gyr_matrix": [[round(float(v), 9) for v in row] for row in self.gyr_matrix],
            "clock_drift_ppm": round(float(self.clock_drift_ppm), 6),
        }


def _matrix(rng: np.random.Generator, scale_pct: float, cross_pct: float) -> np.ndarray:
    m = np.eye(3) + np.diag(rng.standard_normal(3) * scale_pct / 100.0)
    off = rng.standard_normal((3, 3)) * cross_pct / 100.0
    np.fill_diagonal(off, 0.0)
    return m + off


def draw_errors(model: SensorErrorModel, rng: np.random.Generator) -> DrawnErrors:
    """Draw one device's constant errors (fixed draw order: deterministic per seed)."""
    g = GRAVITY_MPS2
    acc_bias = rng.standard_normal(3) * model.acc_bias_mg * 1e-3 * g
    gyr_bias = np.radians(rng.standard_normal(3) * model.gyr_bias_dps)
    acc_m = _matrix(rng, model.acc_scale_error_pct, model.acc_cross_axis_pct)
    gyr_m = _matrix(rng, model.gyr_scale_error_pct, model.gyr_cross_axis_pct)
    drift = rng.uniform(-1.0, 1.0) * model.clock_drift_max_ppm
    if model.clock_drift_ppm is not None:
        drift = float(model.clock_drift_ppm)
    return DrawnErrors(acc_bias, gyr_bias, acc_m, gyr_m, float(drift))


def _gauss_markov(rng: np.random.Generator, n: int, sigma: float, tau_s: float,
                  dt_s: float) -> np.ndarray:
    """(n, 3) stationary first-order Gauss-Markov process with std sigma."""
    if sigma == 0 or n == 0:
        return np.zeros((n, 3))
    phi = float(np.exp(-dt_s / tau_s))
    w = rng.standard_normal((n, 3)) * sigma * np.sqrt(1.0 - phi * phi)
    zi = (rng.standard_normal(3) * sigma * phi)[None, :]
    out, _ = lfilter([1.0], [1.0, -phi], w, axis=0, zi=zi)
    return out


def apply_imu_errors(acc_true: np.ndarray, gyr_true: np.ndarray, model: SensorErrorModel,
                     drawn: DrawnErrors, rng: np.random.Generator,
                     rate_hz: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Measured (acc, gyr) from ideal sensor-frame signals; also the count of clipped samples.

    measured = M (true) + bias + bias wander + white noise, then clipped to the range and
    rounded to int16 counts at the range's LSB (returned in SI units).
    """
    n = acc_true.shape[0]
    dt = 1.0 / rate_hz
    g = GRAVITY_MPS2
    acc = acc_true @ drawn.acc_matrix.T + drawn.acc_bias_mps2
    gyr = gyr_true @ drawn.gyr_matrix.T + drawn.gyr_bias_rps
    acc += _gauss_markov(rng, n, model.acc_bias_drift_mg * 1e-3 * g, model.bias_drift_tau_s, dt)
    gyr += _gauss_markov(rng, n, np.radians(model.gyr_bias_drift_dps), model.bias_drift_tau_s, dt)
    # White noise: density times sqrt of the noise bandwidth (ODR / 2).
    bw = np.sqrt(rate_hz / 2.0)
    if model.acc_noise_ug_per_rthz:
        acc += rng.standard_normal((n, 3)) * model.acc_noise_ug_per_rthz * 1e-6 * g * bw
    if model.gyr_noise_mdps_per_rthz:
        gyr += rng.standard_normal((n, 3)) * np.radians(model.gyr_noise_mdps_per_rthz * 1e-3) * bw
    clipped = 0
    out = []
    for x, lsb in ((acc, model.acc_lsb_mps2), (gyr, model.gyr_lsb_rps)):
        lo, hi = INT16_MIN * lsb, INT16_MAX * lsb
        clipped += int(np.count_nonzero((x < lo) | (x > hi)))
        x = np.clip(x, lo, hi)
        if model.quantize:
            x = np.round(x / lsb) * lsb
        out.append(np.ascontiguousarray(x))
    return out[0], out[1], clipped


def sample_clock(duration_s: float, rate_hz: float, drift_ppm: float,
                 start_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(device_time_s, true_time_s) of every sample the device takes within the motion.

    The device clock runs fast by drift_ppm: it stamps sample k at k / rate_hz on its own
    clock, which is true time * (1 + drift_ppm * 1e-6).
    """
    factor = 1.0 + drift_ppm * 1e-6
    n = int(np.floor((duration_s - start_s) * factor * rate_hz + 1e-9)) + 1
    device = np.arange(n) / rate_hz
    return device + start_s * factor, start_s + device / factor


def jittered(device_time_s: np.ndarray, model: SensorErrorModel, rng: np.random.Generator,
             rate_hz: float) -> np.ndarray:
    """Reported timestamps: device time plus jitter (kept below 0.4 interval: still ordered)."""
    if model.timestamp_jitter_us == 0:
        return device_time_s.copy()
    j = rng.standard_normal(device_time_s.shape[0]) * model.timestamp_jitter_us * 1e-6
    lim = 0.4 / rate_hz
    return device_time_s + np.clip(j, -lim, lim)


def packet_keep_mask(n: int, packet_samples: int, model: SensorErrorModel,
                     rng: np.random.Generator, device_time_s: np.ndarray) -> np.ndarray:
    """Which samples arrive: whole packets are lost in bursts (Gilbert-Elliott), plus outages.

    The first packet always arrives, so a recording never starts with a gap.
    """
    n_packets = -(-n // packet_samples)
    lost = np.zeros(n_packets, dtype=bool)
    loss = model.packet_loss_fraction
    if loss > 0:
        if not 0 < loss < 0.5:
            raise SettingsError(f"packet_loss_fraction must be in [0, 0.5), got {loss}.")
        p_leave = 1.0 / max(model.loss_burst_packets, 1.0)
        p_enter = loss * p_leave / (1.0 - loss)
        # Alternate good and bad runs with geometric lengths, enough to cover all packets.
        m = int(n_packets * p_enter * 2 + 20)
        while True:
            good = rng.geometric(p_enter, size=m)
            bad = rng.geometric(p_leave, size=m)
            runs = np.empty(2 * m, dtype=np.int64)
            runs[0::2], runs[1::2] = good, bad
            ends = np.cumsum(runs)
            if ends[-1] >= n_packets:
                break
            m *= 2
        starts = ends - runs
        for s, e in zip(starts[1::2], ends[1::2]):
            if s >= n_packets:
                break
            lost[s:min(e, n_packets)] = True
    keep = np.repeat(~lost, packet_samples)[:n]
    for start_s, dur_s in model.outages:
        keep &= ~((device_time_s >= start_s) & (device_time_s < start_s + dur_s))
    keep[:packet_samples] = True
    return keep


def with_overrides(base: SensorErrorModel, overrides: dict) -> SensorErrorModel:
    """The model with some fields replaced (outages given as lists become tuples)."""
    vals = dict(overrides)
    if "outages" in vals:
        vals["outages"] = tuple(tuple(float(x) for x in o) for o in vals["outages"])
    return replace(base, **vals)
