"""Virtual sacral IMU: motion models with ground truth, IMU synthesis, session scripts.

Main entry points:
- `simulate(script_or_preset, seed=..., mounting=...)` -> `SimulationResult` with the
  `SampleBlock` a device would have sent and the `Truth` (angles, events, reps, CPD).
- `load_script(path)`, `parse_text(text)`, `preset_names()`, `load_preset(name)`.
- `VirtualSensor` (imu.simulate.live): the same samples as a paced live source.
See docs/simulator.md.
"""

from imu.simulate.motion import FINE_RATE_HZ, Motion, compose
from imu.simulate.presets import load_preset, preset_names, resolve_script
from imu.simulate.script import (ScriptError, SensorSettings, SessionScript, load_script,
                                 parse_script, parse_text)
from imu.simulate.sensor_errors import ERROR_PRESETS, SensorErrorModel
from imu.simulate.session import SimulationResult, simulate, simulate_motion
from imu.simulate.truth import Truth, write_truth
from imu.simulate.live import VirtualSensor, device_samples

__all__ = [
    "ERROR_PRESETS", "FINE_RATE_HZ", "Motion", "ScriptError", "SensorErrorModel",
    "SensorSettings", "SessionScript", "SimulationResult", "Truth", "compose", "load_preset",
    "load_script", "parse_script", "parse_text", "preset_names", "resolve_script", "simulate",
    "simulate_motion", "write_truth", "VirtualSensor", "device_samples",
]
