"""Run a session script end to end: motion -> virtual device -> samples + truth."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from imu import __version__
from imu.errors import SettingsError
from imu.samples import SampleBlock
from imu.simulate.motion import FINE_RATE_HZ, Motion, compose
from imu.simulate.presets import resolve_script
from imu.simulate.script import SensorSettings, SessionScript, build_pieces
from imu.simulate.sensor_errors import SensorErrorModel
from imu.simulate.synthesis import Synthesis, resolve_mounting, synthesize
from imu.simulate.truth import Truth, build_truth, write_truth

# Independent random streams per concern (segments use [seed, 1, index]).
_STREAM_MOUNTING = 2
_STREAM_DEVICE = 3
_STREAM_LINK = 4


@dataclass(frozen=True)
class SimulationResult:
    """The samples a device would have sent, the truth, and how they were made."""

    script: SessionScript
    seed: int
    duration_scale: float
    motion: Motion
    synthesis: Synthesis
    truth: Truth

    @property
    def block(self) -> SampleBlock:
        return self.synthesis.block

    @property
    def rate_hz(self) -> float:
        return self.script.sensor.rate_hz

    @property
    def errors(self) -> SensorErrorModel:
        return self.script.sensor.errors

    def recording_settings(self) -> dict:
        """Device settings for a recording header (no truth: the pipeline must not see it)."""
        s = self.script.sensor
        return {
            "simulated": True,
            "simulator_version": __version__,
            "script": self.script.name,
            "seed": self.seed,
            "duration_scale": self.duration_scale,
            "acc_range_g": s.errors.acc_range_g,
            "gyr_range_dps": s.errors.gyr_range_dps,
            "packet_samples": s.packet_samples,
            "error_preset": s.error_preset,
        }

    def write_truth(self, directory: str | Path) -> list[Path]:
        return write_truth(self.truth, directory)


def simulate(script: SessionScript | str | Path, *, seed: int | None = None,
             mounting: object | None = None, duration_scale: float = 1.0,
             errors: SensorErrorModel | str | None = None,
             rate_hz: float | None = None) -> SimulationResult:
    """Simulate a session from a script, a preset name or a script file.

    seed, mounting ('random', 'upright', ... see `resolve_mounting`), errors (a
    `SensorErrorModel` or preset name) and rate_hz override the script. The same
    inputs always give the same samples and truth.
    """
    sc = resolve_script(script) if not isinstance(script, SessionScript) else script
    sensor = sc.sensor
    if mounting is not None:
        sensor = replace(sensor, mounting=mounting)
    if errors is not None:
        model = SensorErrorModel.preset(errors) if isinstance(errors, str) else errors
        sensor = replace(sensor, errors=model,
                         error_preset=errors if isinstance(errors, str) else "custom")
    if rate_hz is not None:
        sensor = replace(sensor, rate_hz=float(rate_hz))
    sc = replace(sc, sensor=sensor)
    seed = sc.seed if seed is None else int(seed)
    if duration_scale <= 0:
        raise SettingsError(f"duration_scale must be > 0, got {duration_scale}.")
    motion = compose(build_pieces(sc, seed, duration_scale, FINE_RATE_HZ), FINE_RATE_HZ)
    return simulate_motion(motion, sensor, seed, script=sc, duration_scale=duration_scale)


def simulate_motion(motion: Motion, sensor: SensorSettings | None = None, seed: int = 0, *,
                    script: SessionScript | None = None,
                    duration_scale: float = 1.0) -> SimulationResult:
    """Sample any `Motion` (e.g. a custom trajectory from `Motion.from_arrays`) with a device."""
    sensor = sensor or SensorSettings()
    sc = script or SessionScript(name="custom", segments=(), sensor=sensor, seed=seed)
    r_ps = resolve_mounting(sensor.mounting, np.random.default_rng([seed, _STREAM_MOUNTING]))
    synth = synthesize(motion, sensor.rate_hz, r_ps, sensor.errors,
                       np.random.default_rng([seed, _STREAM_DEVICE]),
                       np.random.default_rng([seed, _STREAM_LINK]),
                       packet_samples=sensor.packet_samples,
                       lever_arm_m=np.asarray(sensor.lever_arm_m, dtype=float))
    info = {
        "simulator_version": __version__,
        "script": sc.name,
        "script_source": sc.source,
        "seed": seed,
        "duration_scale": duration_scale,
        "sample_rate_hz": sensor.rate_hz,
        "packet_samples": sensor.packet_samples,
        "lever_arm_m": list(sensor.lever_arm_m),
        "error_preset": sensor.error_preset,
        "error_model": sensor.errors.to_dict(),
        "duration_s": round(motion.duration_s, 6),
    }
    truth = build_truth(motion, synth, info)
    return SimulationResult(sc, seed, duration_scale, motion, synth, truth)
