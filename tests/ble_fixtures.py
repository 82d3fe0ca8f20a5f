"""The virtual sensors of the BLE tests; tests/conftest.py's `emu` fixture runs them once
per test session.

Sensors that tests disturb (dropped links and notifications, injected frames) each
have their own address, so the tests do not depend on their order. Short simulated
sessions (duration_scale) keep the virtual sensors' start-up simulation quick.
"""

import asyncio
from dataclasses import replace

from imu.ble.emulator import VirtualDeviceSpec, emulated_bluez, one_of_each

TEST_TIMEOUT_S = 40.0
FAST = {"duration_scale": 0.25}
EXACT = one_of_each(**FAST)
# errors "none": no simulated loss, so every lost sample is one the test caused.
QUIET = {**FAST, "errors": "none"}
DROP = {
    "open": VirtualDeviceSpec("open", "PelvisIMU-drop", "C0:FF:EE:00:01:01", **QUIET),
    "movesense": VirtualDeviceSpec("movesense", "Movesense 000000000002", "0C:8C:DC:00:01:02",
                                   **QUIET),
    "polar": VirtualDeviceSpec("polar", "Polar Sense 00000003", "A0:9E:1A:00:01:03", **QUIET),
    "witmotion": VirtualDeviceSpec("witmotion", "WT901BLE04", "D4:4E:77:00:01:04", **QUIET),
}
LINK = VirtualDeviceSpec("open", "PelvisIMU-link", "C0:FF:EE:00:02:01", **QUIET)
SLOW = VirtualDeviceSpec("open", "PelvisIMU-slow", "C0:FF:EE:00:02:02", rates_hz=(50, 100),
                         **FAST)
PAIRING = VirtualDeviceSpec("polar", "Polar Sense 0000000P", "A0:9E:1A:00:02:03",
                            require_pairing=True, **FAST)
CLI = replace(LINK, name="PelvisIMU-cli", address="C0:FF:EE:00:03:01")
STALL = replace(LINK, name="PelvisIMU-stall", address="C0:FF:EE:00:04:01")
ALL = [*EXACT, *DROP.values(), LINK, SLOW, PAIRING, CLI, STALL]


def running_emulator():
    """Generator for the session fixture: the emulated BlueZ with ALL sensors."""
    with emulated_bluez(ALL) as running:
        yield running


async def record_across(recorder, source, fault, *, samples: int = 100, watch=None):
    """Record until `samples` arrived, run `fault()` (a coroutine function), wait for a
    reconnection and `samples` more, then stop; the RecordingSummary. `watch(status)`
    sees the status while waiting for the reconnection."""
    stop = asyncio.Event()

    async def director():
        while source.status().samples_received < samples:
            await asyncio.sleep(0.02)
        await fault()
        while source.status().reconnects < 1:
            if watch is not None:
                watch(source.status())
            await asyncio.sleep(0.02)
        resumed = source.status().samples_received
        while source.status().samples_received < resumed + samples:
            await asyncio.sleep(0.02)
        stop.set()

    task = asyncio.create_task(director())
    task.add_done_callback(lambda _: stop.set())  # a failing director stops the recording
    summary = await recorder.run(source, stop)
    await task  # and raises its error here rather than hanging
    return summary
