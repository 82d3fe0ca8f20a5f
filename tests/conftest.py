"""Shared fixtures: where the development data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    env = os.environ.get("PELVIS_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"development data not found at {d} (set PELVIS_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def emu():
    """The emulated BlueZ with the BLE tests' virtual sensors (tests/ble_fixtures.py),
    started once for all BLE test modules."""
    from tests.ble_fixtures import running_emulator

    yield from running_emulator()
