"""Connecting robustly: bleak-retry-connector's establish_connection, and our reconnection back-off.

bleak-retry-connector (Home Assistant's helper) classifies connection failures and backs
off per class; it is used for each connection attempt. Between attempts after a lost
link, `reconnect_delay_s` decides how long to wait: a pure function of the attempt
number and the error, so it is tested without any radio.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from bleak import BleakClient
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bleak_retry_connector import (BleakClientWithServiceCache, BleakNotFoundError,
                                   establish_connection)

from imu.ble.errors import bluetooth_errors
from imu.ble.scanner import FoundDevice


@dataclass(frozen=True)
class ReconnectPolicy:
    """Back-off between reconnection attempts (seconds)."""

    initial_s: float = 0.5
    """First retry soon: most drops are brief (body shadowing, a turn away from the host)."""
    factor: float = 2.0
    max_s: float = 10.0
    """Never wait longer than this: a sensor back in range should stream again within ~10 s."""
    not_found_min_s: float = 2.0
    """A device that is not advertising is not helped by asking more often than this."""
    max_attempts: int | None = None
    """None = keep trying until stopped (a recording must survive any outage)."""


def reconnect_delay_s(attempt: int, error: BaseException | None,
                      policy: ReconnectPolicy = ReconnectPolicy()) -> float:
    """Seconds to wait before reconnection attempt number `attempt` (0 = the first retry)."""
    delay = min(policy.max_s, policy.initial_s * policy.factor ** max(0, attempt))
    if isinstance(error, (BleakDeviceNotFoundError, BleakNotFoundError)):
        delay = max(delay, policy.not_found_min_s)
    return delay


# bleak's own timeout per attempt; an advertising device connects in well under 1 s, a
# slow host with many devices may need several seconds for service discovery.
CONNECT_TIMEOUT_S = 10.0
# Attempts inside one establish_connection call (it backs off between them itself).
ATTEMPTS_PER_CONNECT = 2


async def connect(device: FoundDevice, on_disconnect: Callable[[], None], *,
                  pair: bool = False) -> BleakClient:
    """A connected client for a scanned device (retries inside, raises the last error)."""
    if device.ble_device is None:
        raise BleakError(f"{device.describe()} has no scan record to connect with.")
    async with bluetooth_errors():
        return await asyncio.wait_for(
            establish_connection(BleakClientWithServiceCache, device.ble_device, device.name or device.address,
                                 disconnected_callback=lambda _client: on_disconnect(),
                                 max_attempts=ATTEMPTS_PER_CONNECT, pair=pair),
            timeout=CONNECT_TIMEOUT_S * (ATTEMPTS_PER_CONNECT + 1))
