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
    sampled_s: float = 0.0     # host monotonic time the last sample was taken


class DeviceClock:
    """The virtual sensor's clock: seconds since it powered on.

    Its oscillator runs at `speed` device seconds per host second (monotonic clock),
    times (1 + drift): the samples are paced by the oscillator, as a real sensor's are,
    so a drifting sensor also samples at a slightly different rate in host time.
    Jumps (the firmware setting its clock) move the timestamps but not the pacing.
    """

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = float(speed)
        self.drift_ppm = 0.0
        self.jump_s = 0.0
        self._host0 = time.monotonic()
        self._ticks0 = 0.0
        self._rate = self.speed

    def ticks(self) -> float:
        """Oscillator seconds since power-on (continuous: what paces the samples)."""
        return self._ticks0 + (time.monotonic() - self._host0) * self._rate

    def now(self) -> float:
        """What the device's timestamps read (oscillator plus any jumps)."""
        return self.ticks() + self.jump_s

    def set_drift(self, ppm: float) -> None:
        """From now on the oscillator is off by `ppm` (continuously: no step)."""
        self._ticks0, self._host0 = self.ticks(), time.monotonic()
        self.drift_ppm = float(ppm)
        self._rate = self.speed * (1.0 + self.drift_ppm * 1e-6)

    def jump(self, seconds: float) -> None:
        """The timestamps step by `seconds` (forward or back); sampling goes on."""
        self.jump_s += float(seconds)

    def host_seconds(self, device_s: float) -> float:
        """How long `device_s` device seconds last on the host clock."""
        return max(0.0, float(device_s)) / self._rate

    async def sleep(self, device_s: float) -> None:
        await asyncio.sleep(self.host_seconds(device_s))


class SampleFeed:
    """Paced packets of a simulated session, looping, continuing the device counters."""

    def __init__(self, result: SimulationResult, clock: DeviceClock, seq_offset: int) -> None:
        self.result = result
        self._clock = clock
        self._seq_offset = seq_offset
        self._time_offset = clock.ticks()
        self.next_seq = seq_offset

    async def packets(self) -> AsyncIterator[Packet]:
        clock = self._clock
        sensor = VirtualSensor(self.result, speed=1.0, loop=True, clock=clock.ticks,
                               async_sleep=clock.sleep)
        errors = self.result.errors
        async for block in sensor:
            dev = device_samples(block, errors)
            seq = dev.seq + self._seq_offset
            self.next_seq = int(seq[-1]) + 1
            # The sensor may emit late (a busy host): when the sample was really taken.
            late_s = clock.host_seconds(clock.ticks() - float(block.time_s[-1]) - self._time_offset)
            yield Packet(seq, block.time_s + self._time_offset + clock.jump_s, block.acc_mps2,
                         block.gyr_rps, dev.acc_counts, dev.gyr_counts, time.monotonic() - late_s)
