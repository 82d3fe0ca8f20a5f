"""Recognising each supported sensor from its advertisement."""

import pytest

from imu.devices import identify, open_profile, unsupported_reason, witmotion


@pytest.mark.parametrize("name, uuids, profile", [
    ("PelvisIMU-3F2A", [], "open"),
    (None, [open_profile.SERVICE_UUID.upper()], "open"),       # UUID only, any case
    ("WT901BLE68", [], "witmotion"),                            # vendor SDK filters on "WT"
    (None, [witmotion.SERVICE_UUID], "witmotion"),
    ("Movesense 220330000123", ["0000fdf3-0000-1000-8000-00805f9b34fb"], "movesense"),
    ("Polar Sense B5A1C2D3", ["0000180d-0000-1000-8000-00805f9b34fb"], "polar"),
    ("Polar H10 1A2B3C4D", ["fb005c80-02e7-f387-1cad-8acd2d8df0c8"], None),
    ("Mi Band 7", ["0000180d-0000-1000-8000-00805f9b34fb"], None),
    (None, [], None),
])
def test_identify(name, uuids, profile):
    assert identify(name, uuids) == profile


def test_accelerometer_only_polar_sensors_are_named_as_unsupported():
    assert "no gyroscope" in unsupported_reason("Polar OH1 0A0B0C0D")
    assert unsupported_reason("Polar Sense B5A1C2D3") is None
    assert unsupported_reason(None) is None
