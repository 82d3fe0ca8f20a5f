"""Device profiles: how each supported sensor is recognised, configured and decoded.

One module per device kind, each with pure byte codecs and a `DeviceSession` that
talks through a `GattLink` (imu.ble provides one on bleak; nothing here imports bleak):

- open_profile: the project's own GATT profile (firmware_notes/README.md)
- witmotion: WitMotion BWT901BLECL / WT901BLE (BLE 5.0)
- movesense: Movesense, GATT SensorData Protocol, /Meas/IMU6
- polar (+ polar_pmd): Polar Verity Sense, PMD accelerometer + gyroscope
"""

from __future__ import annotations

from imu.devices import movesense, open_profile, polar, polar_pmd, witmotion
from imu.devices.base import ProfileInfo

PROFILES: dict[str, ProfileInfo] = {
    p.name: p for p in (
        ProfileInfo("open", "PelvisIMU open profile", open_profile.OpenSession,
                    name_prefixes=(open_profile.NAME_PREFIX,),
                    service_uuids=(open_profile.SERVICE_UUID,), default_rate_hz=200.0),
        ProfileInfo("witmotion", "WitMotion BWT901BLE", witmotion.WitSession,
                    name_prefixes=(witmotion.NAME_PREFIX,),
                    service_uuids=(witmotion.SERVICE_UUID,), default_rate_hz=200.0),
        ProfileInfo("movesense", "Movesense (GSP)", movesense.MovesenseSession,
                    name_prefixes=(movesense.NAME_PREFIX,),
                    service_uuids=(movesense.SERVICE_UUID,), default_rate_hz=208.0),
        ProfileInfo("polar", "Polar Verity Sense (PMD)", polar.PolarSession,
                    name_prefixes=(polar.NAME_PREFIX,), service_uuids=(),
                    default_rate_hz=float(polar.DEFAULT_RATE_HZ)),
    )
}
"""Supported profiles by name (the --profile choices besides 'auto')."""

# Devices a user may own that are recognised but cannot drive the pipeline, and why.
UNSUPPORTED = {prefix: "accelerometer only (no gyroscope): pelvic rotation cannot be tracked"
               for prefix in polar.ACC_ONLY_PREFIXES}


def identify(local_name: str | None, service_uuids: list[str] | tuple[str, ...]) -> str | None:
    """The profile name an advertisement belongs to, or None.

    Polar's PMD service is not tried by UUID: H10 and OH1 share it but have no gyroscope.
    """
    if local_name and any(local_name.startswith(p) for p in UNSUPPORTED):
        return None
    for info in PROFILES.values():
        if info.matches(local_name, service_uuids):
            return info.name
    return None


def unsupported_reason(local_name: str | None) -> str | None:
    """Why a recognised-but-unsupported device cannot be used, or None."""
    for prefix, reason in UNSUPPORTED.items():
        if local_name and local_name.startswith(prefix):
            return reason
    return None


__all__ = ["PROFILES", "UNSUPPORTED", "identify", "unsupported_reason", "movesense",
           "open_profile", "polar", "polar_pmd", "witmotion"]
