"""The device calibration recording, simulated: the sensor laid still on each of its six
faces in turn, as `pelvis-monitor calibrate-device` asks (docs/calibration.md).

The same seed draws the same device (offsets, scale and cross-axis errors) as a session
simulated with that seed, so a bench can calibrate a device and then analyse a session
recorded with it.
"""

from __future__ import annotations

import numpy as np

from imu.simulate.curves import smootherstep
from imu.simulate.motion import FINE_RATE_HZ, Motion
from imu.simulate.script import SensorSettings
from imu.simulate.sensor_errors import SensorErrorModel
from imu.simulate.session import SimulationResult, simulate_motion

# (tilt, obliquity) in degrees: each sensor axis up once and down once (the sensor frame
# is the pelvis frame here: mounting "upright"). Obliquity runs on past 180 so that each
# turn is a quarter turn about one axis.
_FACES_DEG = ((0.0, 0.0), (0.0, 90.0), (0.0, 180.0), (0.0, 270.0), (0.0, 360.0),
              (90.0, 360.0), (-90.0, 360.0))


def device_faces_motion(hold_s: float = 4.0, turn_s: float = 2.0,
                        rate_hz: float = FINE_RATE_HZ) -> Motion:
    """Hold each face still for hold_s, turning to the next over turn_s."""
    times, tilt, obl = [0.0], [_FACES_DEG[0][0]], [_FACES_DEG[0][1]]
    for face in _FACES_DEG[1:]:
        times += [times[-1] + hold_s, times[-1] + hold_s + turn_s]
        tilt += [tilt[-1], face[0]]
        obl += [obl[-1], face[1]]
    times.append(times[-1] + hold_s)
    tilt.append(tilt[-1])
    obl.append(obl[-1])
    t = np.arange(int(round(times[-1] * rate_hz)) + 1) / rate_hz
    k = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    x = smootherstep((t - np.take(times, k)) / (np.take(times, k + 1) - np.take(times, k)))
    tilt_a, obl_a = np.asarray(tilt), np.asarray(obl)
    tilt_t = tilt_a[k] + x * (tilt_a[k + 1] - tilt_a[k])
    obl_t = obl_a[k] + x * (obl_a[k + 1] - obl_a[k])
    return Motion.from_arrays(rate_hz, np.radians(tilt_t), np.radians(obl_t), np.zeros(t.size))


def simulate_device_faces(seed: int, errors: SensorErrorModel | str = "typical",
                          rate_hz: float = 200.0) -> SimulationResult:
    """The six-face calibration recording of the device that `seed` draws."""
    model = SensorErrorModel.preset(errors) if isinstance(errors, str) else errors
    sensor = SensorSettings(rate_hz=rate_hz, mounting="upright", errors=model,
                            error_preset=errors if isinstance(errors, str) else "custom")
    return simulate_motion(device_faces_motion(), sensor, seed)
