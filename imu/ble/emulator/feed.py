"""Simulated samples for a virtual sensor, paced like the real device produces them.

A virtual sensor samples from its first start until the emulator exits, also while
nobody listens (as the open profile specifies and real sensors do): its sample counter
and clock keep running through a disconnection, so a reconnecting client sees exactly
how many samples it missed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import AsyncIterator

import numpy as np

from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.simulate import SensorErrorModel, SimulationResult, resolve_script, simulate
from imu.simulate.live import VirtualSensor, device_samples


def simulation_for(spec: VirtualDeviceSpec, rate_hz: float, acc_range_g: float,
                   gyr_range_dps: float, packet_samples: int) -> SimulationResult:
    """The simulated session a virtual sensor streams (tests recompute it to compare).

    The sensor's ranges are applied to the error model, so the simulated samples lie on
    the device's int16 grid.
    """
    script = resolve_script(spec.preset)
    errors: SensorErrorModel = (SensorErrorModel.preset(spec.errors) if spec.errors
                                else script.sensor.errors)
    errors = replace(errors, acc_range_g=float(acc_range_g), gyr_range_dps=float(gyr_range_dps))
    script = replace(script, sensor=replace(script.sensor, packet_samples=int(packet_samples)))
    return simulate(script, seed=spec.seed, duration_scale=spec.duration_scale, errors=errors,
                    rate_hz=rate_hz)


@dataclass(frozen=True)
class Packet:
    """The samples of one notification, as the firmware holds them."""

    seq: np.ndarray            # int64 sample counter (continues over restarts and loops)
    time_s: np.ndarray         # device clock, seconds since the sensor powered on
    acc_mps2: np.ndarray       # (n, 3) on the device's grid
    gyr_rps: np.ndarray
    acc_counts: np.ndarray     # int16 (n, 3) at the configured range
    gyr_counts: np.ndarray


class DeviceClock:
    """Seconds since the virtual sensor powered on (host monotonic clock)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0


class SampleFeed:
    """Paced packets of a simulated session, looping, continuing the device counters."""

    def __init__(self, result: SimulationResult, clock: DeviceClock, seq_offset: int) -> None:
        self.result = result
        self._clock = clock
        self._seq_offset = seq_offset
        self._time_offset = clock.now()
        self.next_seq = seq_offset

    async def packets(self) -> AsyncIterator[Packet]:
        sensor = VirtualSensor(self.result, speed=1.0, loop=True, clock=time.monotonic,
                               async_sleep=asyncio.sleep)
        errors = self.result.errors
        async for block in sensor:
            dev = device_samples(block, errors)
            seq = dev.seq + self._seq_offset
            self.next_seq = int(seq[-1]) + 1
            yield Packet(seq, block.time_s + self._time_offset, block.acc_mps2, block.gyr_rps,
                         dev.acc_counts, dev.gyr_counts)
