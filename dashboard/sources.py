"""What the connection panel can connect to: the virtual sensor presets, and Bluetooth
devices through an injected scanner and source factory (see DashboardConfig)."""

from __future__ import annotations

import importlib.util

from imu.errors import SettingsError
from imu.simulate import VirtualSensor, preset_names
from imu.sources import LiveSource

from dashboard.config import DashboardConfig, DeviceChoice

VIRTUAL_PREFIX = "virtual:"


def virtual_key(preset: str) -> str:
    return VIRTUAL_PREFIX + preset


def virtual_choices() -> list[DeviceChoice]:
    """One entry per shipped simulator preset."""
    return [DeviceChoice(virtual_key(p), f"Virtual sensor: {p}", "simulated, loops")
            for p in preset_names()]


def panel_choices(config: DashboardConfig) -> list[DeviceChoice]:
    """The device list at start: the configured devices, then the virtual presets."""
    return list(config.devices) + virtual_choices()


def open_source(key: str, config: DashboardConfig) -> LiveSource:
    """The live source for a device key (virtual presets here, others via the config)."""
    if key.startswith(VIRTUAL_PREFIX):
        preset = key[len(VIRTUAL_PREFIX):]
        if preset not in preset_names():
            raise SettingsError(f"Unknown virtual sensor preset '{preset}'.")
        return VirtualSensor(preset, speed=config.virtual_speed, loop=True)
    if config.source_factory is None:
        raise SettingsError("Bluetooth devices cannot be opened: "
                            + (config.scanner_unavailable_reason or "no Bluetooth support."))
    return config.source_factory(key)


def bluetooth_module_present() -> bool:
    """True when the BLE connection layer (imu.ble) is part of this installation."""
    return importlib.util.find_spec("imu.ble") is not None
