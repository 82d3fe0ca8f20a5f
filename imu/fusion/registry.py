"""Filter name -> adapter class. Adapters import their library only when built."""

from __future__ import annotations

from typing import Callable

from imu.errors import SettingsError
from imu.fusion.backend import FilterAdapter
from imu.fusion.settings import FILTER_NAMES, FusionSettings


def _vqf(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    from imu.fusion.vqf_adapter import VqfAdapter
    return VqfAdapter(settings, rate_hz)


def _madgwick(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    from imu.fusion.madgwick_adapter import MadgwickAdapter
    return MadgwickAdapter(settings, rate_hz)


def _mahony(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    from imu.fusion.mahony_adapter import MahonyAdapter
    return MahonyAdapter(settings, rate_hz)


def _ekf(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    from imu.fusion.ekf_adapter import EkfAdapter
    return EkfAdapter(settings, rate_hz)


def _imufusion(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    from imu.fusion.imufusion_adapter import ImufusionAdapter
    return ImufusionAdapter(settings, rate_hz)


ADAPTERS: dict[str, Callable[[FusionSettings, float], FilterAdapter]] = {
    "vqf": _vqf,
    "madgwick": _madgwick,
    "mahony": _mahony,
    "ekf": _ekf,
    "imufusion": _imufusion,
}
# tests/test_fusion.py checks that ADAPTERS and FILTER_NAMES list the same filters.


def build_adapter(settings: FusionSettings, rate_hz: float) -> FilterAdapter:
    """The adapter for settings.filter_name."""
    try:
        factory = ADAPTERS[settings.filter_name]
    except KeyError:  # FusionSettings validates the name; this guards hand-made objects
        raise SettingsError(f"No fusion filter named {settings.filter_name!r}; "
                            f"choose one of {', '.join(FILTER_NAMES)}.") from None
    return factory(settings, rate_hz)
