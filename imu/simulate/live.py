"""The virtual sensor as a live source: packet-sized SampleBlocks at the sample rate.

`VirtualSensor` streams a simulated session packet by packet, as a BLE device would
deliver it (lost packets never arrive; the next one has gap_before set and its
sequence numbers show the loss). Pacing is wall-clock by default, through an injected
clock and sleep (tests pass fakes: nothing patches time), or faster than real time
(`speed`), or unpaced (`speed=None`). Sync and asyncio iteration are both provided.

`device_samples` is the seam for the BLE emulator: it turns a batch into what the
device firmware would put on the air (int16 counts, device timestamps, sequence
numbers); packing those into bytes is the emulator's job.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterator

import numpy as np

from imu.errors import SettingsError
from imu.samples import SampleBlock
from imu.sources import SourceStatus
from imu.simulate.sensor_errors import INT16_MAX, INT16_MIN, SensorErrorModel
from imu.simulate.session import SimulationResult, simulate


@dataclass(frozen=True)
class DeviceSamples:
    """Samples as the device firmware holds them before packing them into a packet."""

    seq: np.ndarray            # int64 sample counter (wrap it to the packet field width)
    timestamp_us: np.ndarray   # int64 device-clock microseconds
    acc_counts: np.ndarray     # int16 (n, 3), LSB = acc_lsb_mps2
    gyr_counts: np.ndarray     # int16 (n, 3), LSB = gyr_lsb_rps
    acc_lsb_mps2: float
    gyr_lsb_rps: float


def device_samples(block: SampleBlock, errors: SensorErrorModel) -> DeviceSamples:
    """What the device would send for these samples: int16 counts at the range LSBs.

    Exact for quantised simulations (the samples already sit on the LSB grid).
    """
    if block.seq is None:
        raise SettingsError("device_samples needs sequence numbers (SampleBlock.seq).")
    a_lsb, g_lsb = errors.acc_lsb_mps2, errors.gyr_lsb_rps
    acc = np.clip(np.round(block.acc_mps2 / a_lsb), INT16_MIN, INT16_MAX).astype(np.int16)
    gyr = np.clip(np.round(block.gyr_rps / g_lsb), INT16_MIN, INT16_MAX).astype(np.int16)
    ts = np.round(block.time_s * 1e6).astype(np.int64)
    return DeviceSamples(block.seq.copy(), ts, acc, gyr, a_lsb, g_lsb)


def packets_of(block: SampleBlock, packet_samples: int) -> list[SampleBlock]:
    """Split delivered samples into the packets they arrived in (by sequence number)."""
    if len(block) == 0:
        return []
    if block.seq is None:
        return block.split(packet_samples)
    pid = block.seq // packet_samples
    cuts = np.flatnonzero(np.diff(pid)) + 1
    bounds = [0, *cuts.tolist(), len(block)]
    return [block.slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


class VirtualSensor:
    """A simulated device streaming SampleBlocks packet by packet.

    Args:
        source: a SimulationResult, or a script / preset name / path to simulate.
        speed: 1.0 = real time, 10.0 = ten times faster, None = as fast as possible.
        clock, sleep, async_sleep: injected time functions (defaults: monotonic clock).
        loop: start over when the session ends (times and seq keep increasing).
        seed, mounting: passed to `simulate` when source is not a SimulationResult.
    """

    def __init__(self, source: SimulationResult | str | Path, *, speed: float | None = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 loop: bool = False, seed: int | None = None,
                 mounting: object | None = None) -> None:
        if speed is not None and not speed > 0:
            raise SettingsError(f"speed must be > 0 (or None for unpaced), got {speed!r}.")
        self.result = source if isinstance(source, SimulationResult) else \
            simulate(source, seed=seed, mounting=mounting)
        self.speed = speed
        self.loop = loop
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self.packet_samples = self.result.script.sensor.packet_samples
        self._packets = packets_of(self.result.block, self.packet_samples)
        self._received = 0
        self._lost = 0
        self._last_seq: int | None = None
        self._state = "connecting"
        self._closed = False
        self._first_wall: float | None = None
        self._last_wall: float | None = None

    def _count(self, pkt: SampleBlock) -> None:
        self._received += len(pkt)
        if pkt.seq is not None and len(pkt):
            if self._last_seq is not None:
                self._lost += max(0, int(pkt.seq[0]) - self._last_seq - 1)
            self._last_seq = int(pkt.seq[-1])
        now = self._clock()
        if self._first_wall is None:
            self._first_wall = now
        self._last_wall = now
        self._state = "streaming"

    def status(self) -> SourceStatus:
        """Counters as a connection panel shows them (the LiveSource interface)."""
        rate = None
        if self._first_wall is not None and self._last_wall is not None \
                and self._last_wall > self._first_wall:
            rate = self._received / (self._last_wall - self._first_wall)
        return SourceStatus(self._state, "Virtual sensor", "virtual", self.rate_hz, rate,
                            self._received, self._lost, 0, None,
                            f"simulated session '{self.result.script.name}'")

    async def aclose(self) -> None:
        """Stop streaming: the iterators end before their next packet."""
        self._closed = True
        self._state = "stopped"

    @property
    def rate_hz(self) -> float:
        return self.result.rate_hz

    @property
    def errors(self) -> SensorErrorModel:
        return self.result.errors

    def packets(self) -> Iterator[SampleBlock]:
        """Every packet in order, without pacing (looping forever if loop=True)."""
        block = self.result.block
        period_s = (self.result.synthesis.n_taken) / self.rate_hz
        seq_step = self.result.synthesis.n_taken
        rep = 0
        while True:
            for pkt in self._packets:
                if rep == 0:
                    yield pkt
                else:
                    yield SampleBlock(pkt.time_s + rep * period_s, pkt.acc_mps2, pkt.gyr_rps,
                                      None, pkt.seq + rep * seq_step, pkt.gap_before)
            if not self.loop or len(block) == 0:
                return
            rep += 1

    def _deadline(self, start_wall: float, t0: float, pkt: SampleBlock) -> float:
        assert self.speed is not None
        return start_wall + (float(pkt.time_s[-1]) - t0) / self.speed

    def _paced(self) -> Iterator[tuple[SampleBlock, float]]:
        """Each packet with the seconds to wait before handing it out (0 when unpaced)."""
        start = self._clock()
        t0: float | None = None
        for pkt in self.packets():
            if t0 is None:
                t0 = float(pkt.time_s[0])
            wait = 0.0
            if self.speed is not None:
                wait = self._deadline(start, t0, pkt) - self._clock()
            yield pkt, wait

    def __iter__(self) -> Iterator[SampleBlock]:
        """Packets paced to the wall clock: each is yielded once its last sample 'happened'."""
        for pkt, wait in self._paced():
            if wait > 0:
                self._sleep(wait)
            if self._closed:
                return
            self._count(pkt)
            yield pkt
        self._state = "stopped"

    def __aiter__(self) -> AsyncIterator[SampleBlock]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[SampleBlock]:
        for pkt, wait in self._paced():
            if wait > 0:
                await self._async_sleep(wait)
            else:
                await asyncio.sleep(0)  # let other tasks run between packets
            if self._closed:
                return
            self._count(pkt)
            yield pkt
        self._state = "stopped"
