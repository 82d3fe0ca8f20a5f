"""Sensor fusion: IMU samples -> sensor orientation q_earth_sensor (w, x, y, z, earth z up).

Public API (others code against these names):

    FILTER_NAMES, DEFAULT_FILTER, FusionSettings, FusionStatus,
    OrientationFilter, make_filter, fuse

One module per filter library (`vqf_adapter`, `madgwick_adapter`, `mahony_adapter`,
`ekf_adapter`, `imufusion_adapter`) behind `registry`; only these import the filter
libraries, and each converts its library's conventions at its own boundary.
See docs/fusion.md for conventions, gap handling and the BROAD benchmark.
"""

from imu.fusion.filter import OrientationFilter, fuse, make_filter
from imu.fusion.settings import DEFAULT_FILTER, FILTER_NAMES, FusionSettings, FusionStatus

__all__ = [
    "DEFAULT_FILTER",
    "FILTER_NAMES",
    "FusionSettings",
    "FusionStatus",
    "OrientationFilter",
    "fuse",
    "make_filter",
]
