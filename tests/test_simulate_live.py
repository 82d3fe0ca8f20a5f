"""The virtual sensor as a live source: packets, pacing with injected clocks, async, seam."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from imu.samples import concatenate
from imu.simulate import parse_text, simulate
from imu.simulate.live import VirtualSensor, device_samples, packets_of

SCRIPT = """
name = "live"
seed = 8
[sensor]
rate_hz = 100
packet_samples = 5
errors = { preset = "typical", packet_loss_fraction = 0.05 }
[[segment]]
type = "stand"
duration_s = 6
[[segment]]
type = "walk"
duration_s = 8
"""


@pytest.fixture(scope="module")
def result():
    return simulate(parse_text(SCRIPT))


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept += s

    async def async_sleep(self, s: float) -> None:
        self.sleep(s)


def test_packets_are_whole_device_packets(result):
    pkts = list(VirtualSensor(result, speed=None).packets())
    assert all(1 <= len(p) <= 5 for p in pkts)
    assert all(len(np.unique(p.seq // 5)) == 1 for p in pkts)
    joined = concatenate(pkts)
    assert np.array_equal(joined.seq, result.block.seq)
    assert np.array_equal(joined.acc_mps2, result.block.acc_mps2)
    assert np.array_equal(joined.gap_before, result.block.gap_before)
    # A packet after a loss starts with gap_before, and the seq jump shows the loss.
    after_loss = [p for p in pkts if p.gap_before[0]]
    assert after_loss and all(p.seq[0] % 5 == 0 for p in after_loss)


def test_wall_clock_pacing_with_an_injected_clock(result):
    clock = FakeClock()
    sensor = VirtualSensor(result, speed=1.0, clock=clock, sleep=clock.sleep)
    t_first = None
    for pkt in sensor:
        if t_first is None:
            t_first = float(pkt.time_s[0])
        # Never delivered before its last sample has happened.
        assert clock.now >= 100.0 + (float(pkt.time_s[-1]) - t_first) - 1e-9
    span = float(result.block.time_s[-1] - result.block.time_s[0])
    assert clock.slept == pytest.approx(span, abs=0.05)


def test_faster_than_real_time(result):
    clock = FakeClock()
    list(VirtualSensor(result, speed=10.0, clock=clock, sleep=clock.sleep))
    span = float(result.block.time_s[-1] - result.block.time_s[0])
    assert clock.slept == pytest.approx(span / 10.0, abs=0.01)


def test_async_iteration(result):
    clock = FakeClock()
    sensor = VirtualSensor(result, speed=2.0, clock=clock, sleep=clock.sleep,
                           async_sleep=clock.async_sleep)

    async def collect():
        return [p async for p in sensor]

    pkts = asyncio.run(collect())
    assert sum(len(p) for p in pkts) == len(result.block)
    span = float(result.block.time_s[-1] - result.block.time_s[0])
    assert clock.slept == pytest.approx(span / 2.0, abs=0.05)

    async def unpaced():
        return [p async for p in VirtualSensor(result, speed=None)]

    assert len(asyncio.run(unpaced())) == len(pkts)


def test_loop_keeps_time_and_seq_increasing(result):
    sensor = VirtualSensor(result, speed=None, loop=True)
    n = len(packets_of(result.block, 5))
    pkts = []
    for pkt in sensor.packets():
        pkts.append(pkt)
        if len(pkts) == 2 * n + 3:
            break
    joined = concatenate(pkts)
    assert np.all(np.diff(joined.time_s) > 0)
    assert np.all(np.diff(joined.seq) >= 1)


def test_device_samples_seam_is_exact_for_quantised_data(result):
    block = result.block.slice(0, 50)
    dev = device_samples(block, result.errors)
    assert dev.acc_counts.dtype == np.int16 and dev.gyr_counts.shape == (50, 3)
    assert np.allclose(dev.acc_counts * dev.acc_lsb_mps2, block.acc_mps2, atol=1e-9)
    assert np.allclose(dev.gyr_counts * dev.gyr_lsb_rps, block.gyr_rps, atol=1e-12)
    assert np.array_equal(dev.seq, block.seq)


def test_a_preset_can_be_streamed_directly():
    sensor = VirtualSensor("walk-basic", speed=None, seed=1)
    first = next(iter(sensor.packets()))
    assert len(first) == sensor.packet_samples
    assert sensor.rate_hz == 200.0


def test_status_counts_received_and_lost_samples(result):
    from imu.sources import LiveSource

    sensor = VirtualSensor(result, speed=None)
    assert isinstance(sensor, LiveSource)
    assert sensor.status().link_state == "connecting"
    got = list(sensor)
    st = sensor.status()
    seq = result.block.seq
    assert st.samples_received == sum(len(p) for p in got) == len(result.block)
    assert st.samples_lost == int(seq[-1] - seq[0] + 1 - len(seq))
    assert st.link_state == "stopped"


def test_aclose_stops_async_stream(result):
    sensor = VirtualSensor(result, speed=None)

    async def take_two():
        out = []
        async for pkt in sensor:
            out.append(pkt)
            if len(out) == 2:
                await sensor.aclose()
        return out

    assert len(asyncio.run(take_two())) == 2
    assert sensor.status().link_state == "stopped"
