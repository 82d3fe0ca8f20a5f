"""Link faults, piece by piece: the timeline's reordering and clock-jump handling, the
emulator's notification faults, the recording-vs-truth comparison, and BleSource's
stall watchdog through the emulated BlueZ. tests/test_link_soak.py runs them together.
"""

import asyncio
import sys

import numpy as np
import pytest

from imu.ble.emulator import faults
from imu.ble.emulator.faults import NotificationPath, SendLog
from imu.ble.emulator.feed import DeviceClock, Packet
from imu.ble.emulator.truth import compare
from imu.ble.recorder import Recorder
from imu.ble.stream import BleSettings, BleSource
from imu.ble.timing import SampleTimeline
from imu.devices.base import ImuFrame
from imu.recording import Event, read_recording
from imu.samples import SampleBlock
from tests.ble_fixtures import STALL, TEST_TIMEOUT_S, record_across

RATE, N = 200.0, 6


def frame(k, clock_jump_s=0.0, counter_offset=0):
    """Notification k of a 200 Hz device with a u16 counter and a u32 us clock."""
    seq = k * N
    t_us = int(round((seq / RATE + clock_jump_s) * 1e6)) % 2 ** 32
    z = np.zeros((N, 3))
    return ImuFrame(z, z, counter=(seq + counter_offset) % 65536, counter_modulo=65536,
                    device_time_s=t_us * 1e-6 + np.arange(N) / RATE,
                    device_time_modulo_s=2 ** 32 * 1e-6)


def arrival(k):
    return 1000.0 + ((k + 1) * N - 1) / RATE + 0.003


def feed_all(timeline, items):
    placed = [p for f, t in items for _, p in timeline.feed(f, t)]
    return placed + [p for _, p in timeline.flush()]


def seqs(placed):
    return np.concatenate([p.seq for p in placed])


# --------------------------------------------------------------------------- timeline

def test_reordered_notifications_are_placed_in_order_without_a_gap():
    order = list(range(60))
    order[30], order[31] = 31, 30            # 31 arrives before 30
    order[40:43] = [42, 40, 41]              # 42 arrives two places early
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    placed = feed_all(tl, [(frame(k), arrival(i)) for i, k in enumerate(order)])
    assert np.array_equal(seqs(placed), np.arange(60 * N))
    assert not any(p.gap_before for p in placed) and tl.duplicates == 0
    assert tl.reordered == 3                 # 30, 40 and 41 came after a later frame
    assert np.all(np.diff(np.concatenate([p.time_s for p in placed])) > 0)


def test_a_loss_is_marked_once_after_the_reorder_wait():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    ks = [k for k in range(80) if k not in (20, 21, 22)]
    out = []
    for k in ks:
        got = tl.feed(frame(k), arrival(k))
        out += [(k, p) for _, p in got]
        if k == 23:
            assert got == []                 # waits for 20-22 to arrive late
    out += [(None, p) for _, p in tl.flush()]
    placed = [p for _, p in out]
    gaps = [p for p in placed if p.gap_before]
    assert len(gaps) == 1 and gaps[0].lost == 3 * N and gaps[0].lost_exact
    assert np.array_equal(seqs(placed), np.concatenate([k * N + np.arange(N) for k in ks]))
    # Frame 23 was released within reorder_s (0.1 s) of arrival time: 4 frames later.
    released_with = next(k for k, p in out if p is gaps[0])
    assert arrival(released_with) - arrival(23) >= tl.settings.reorder_s
    assert arrival(released_with) - arrival(23) < tl.settings.reorder_s + N / RATE


def test_a_notification_later_than_the_reorder_wait_is_not_recorded_twice_or_out_of_order():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    order = [k for k in range(60) if k != 10] + [10]   # frame 10 arrives last, 1.5 s late
    placed = feed_all(tl, [(frame(k), arrival(i)) for i, k in enumerate(order)])
    s = seqs(placed)
    assert np.all(np.diff(s) > 0) and len(s) == 59 * N
    assert sum(p.gap_before for p in placed) == 1 and tl.duplicates == 1


@pytest.mark.parametrize("jump_s", [8.7, -0.9, 340.0, -795.8])
def test_a_device_clock_jump_with_a_running_counter_is_not_a_loss(jump_s):
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    items = [(frame(k, clock_jump_s=jump_s if k >= 100 else 0.0), arrival(k)) for k in range(300)]
    placed = feed_all(tl, items)
    assert np.array_equal(seqs(placed), np.arange(300 * N))
    assert not any(p.gap_before for p in placed) and sum(p.lost for p in placed) == 0
    assert tl.clock_jumps == 1 and tl.restarts == 0
    dt = np.diff(np.concatenate([p.time_s for p in placed]))
    assert np.max(np.abs(dt - 1 / RATE)) < 1e-4     # the times do not jump with it


def test_a_clock_jump_during_an_outage_still_counts_the_loss_exactly():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    for k in range(100):
        tl.feed(frame(k), arrival(k))
    tl.flush()
    tl.link_restored()
    placed = feed_all(tl, [(frame(k, clock_jump_s=-55.0), arrival(k)) for k in range(400, 450)])
    assert placed[0].gap_before and placed[0].lost_exact and placed[0].lost == 300 * N
    assert tl.restarts == 0 and tl.clock_jumps == 1
    assert placed[0].time_s[0] == pytest.approx((arrival(400) - 1000.0) - (N - 1) / RATE - 0.003,
                                                 abs=0.01)


# --------------------------------------------------------------------------- emulator faults

def packet(k):
    z = np.zeros((N, 3))
    return Packet(k * N + np.arange(N), np.arange(N) / RATE, z, z, z.astype(np.int16),
                  z.astype(np.int16), 0.0)


def test_notification_path_applies_each_fault_in_send_order():
    async def scenario():
        path = NotificationPath(DeviceClock(speed=100.0), {"notifications_sent": 0,
                                                           "notifications_dropped": 0})
        out = []

        def send(k):
            return path.send(lambda: out.append(k), packet(k))

        send(0)
        path.drop_next = 2
        send(1), send(2)                      # lost on air
        path.duplicate_next = 1
        send(3)                               # twice
        path.reorder(1, by=2)
        send(4), send(5), send(6)             # 4 after 5 and 6
        path.delay(1.0)                       # 10 ms of host time at speed 100
        send(7), send(8)
        assert out[-1] == 4
        await asyncio.sleep(0.05)
        path.stall(1.0)
        send(9)                               # withheld
        await asyncio.sleep(0.02)
        send(10)
        path.reorder(1, by=1)
        send(11)
        path.link_down()                      # 11 was held back: lost with the link
        return out, path.log

    out, log = asyncio.run(scenario())
    assert out == [0, 3, 3, 5, 6, 4, 7, 8, 10]
    assert [f"{s // N}:{faults.OUTCOMES[o]}" for s, o in zip(log.seq, log.outcome)] == [
        "0:sent", "1:dropped", "2:dropped", "3:sent", "3:duplicated", "5:sent", "6:sent",
        "4:reordered", "7:delayed", "8:delayed", "9:stalled", "10:sent", "11:lost-queued"]


def test_device_clock_drift_paces_and_jumps_only_move_the_stamps():
    clock = DeviceClock(speed=10.0)
    clock.set_drift(1000.0)
    assert clock.host_seconds(10.01) == pytest.approx(1.0)
    before = clock.ticks()
    clock.jump(-5.0)
    assert clock.ticks() - before < 0.5 and clock.jump_s == -5.0
    assert clock.now() - clock.ticks() == pytest.approx(-5.0, abs=0.1)  # 10 s per host s


# --------------------------------------------------------------------------- truth comparison

def recorded(seq, gaps=()):
    seq = np.asarray(seq, dtype=np.int64)
    gap = np.isin(seq, list(gaps))
    z = np.zeros((len(seq), 3))
    return SampleBlock(seq / RATE + np.arange(len(seq)) * 1e-6, z, z, None, seq, gap)


def log_of(entries):
    """(first seq, outcome) per 2-sample notification, sampled at seq / RATE."""
    log = SendLog()
    for seq0, outcome in entries:
        log.seq.append(seq0), log.n.append(2), log.time_s.append(seq0 / RATE)
        log.outcome.append(outcome), log.sampled_s.append((seq0 + 1) / RATE)
    return log


def test_comparison_accepts_exactly_the_delivered_samples_with_gaps_at_each_outage():
    log = log_of([(0, faults.SENT), (2, faults.DROPPED), (4, faults.SENT), (4, faults.DUPLICATED),
                  (8, faults.REORDERED), (6, faults.SENT), (10, faults.STALLED),
                  (12, faults.SENT)])
    good = compare(recorded([0, 1, 4, 5, 6, 7, 8, 9, 12, 13], gaps=[4, 12]), log,
                   counter_modulo=65536)
    assert good.exact and good.samples_delivered == 10 and len(good.outages) == 2
    assert [(o.first_seq, o.samples) for o in good.outages] == [(2, 2), (10, 2)]
    assert good.time_error_max_ms < 0.02
    bad = compare(recorded([0, 1, 4, 5, 5, 8, 9, 10, 12, 13], gaps=[4, 8]), log,
                  counter_modulo=65536)
    assert (bad.recorded_twice, bad.missing, bad.invented) == (1, 2, 1)
    assert (bad.gaps_missed, bad.gaps_spurious) == (1, 1) and not bad.exact


def test_comparison_aligns_the_clients_wrapped_counter_with_the_devices():
    log = log_of([(70000, faults.SENT), (70002, faults.SENT)])
    result = compare(recorded([70000 - 65536 + i for i in range(4)]), log, counter_modulo=65536)
    assert result.exact and result.samples_recorded == 4


# --------------------------------------------------------------------------- stall watchdog

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs bleak's BlueZ backend")
def test_a_stalled_sensor_is_detected_reconnected_and_its_gap_marked_once(emu, tmp_path):
    """The sensor stays connected but sends nothing: BleSource says so, reconnects until
    data flows again, and the recording has one gap of exactly the withheld samples."""
    path = tmp_path / "stall.pmrec"
    recorder = Recorder(path)
    settings = BleSettings(profile="open", stall_timeout_s=0.4)
    source = BleSource(STALL.address, settings, on_event=recorder.on_link_event)
    messages = []

    async def stall():
        await emu.control.stall(STALL.address, 1.2)

    summary = asyncio.run(asyncio.wait_for(
        record_across(recorder, source, stall, watch=lambda st: messages.append(st.message)),
        TEST_TIMEOUT_S))
    assert any("sensor stalled" in m for m in messages)
    rec = read_recording(path, strict=True)
    lost_events = [e.data["message"] for e in rec.events
                   if isinstance(e, Event) and e.kind == "link" and e.data["state"] == "lost"]
    assert lost_events and all("no data from" in m and "stalled" in m for m in lost_events)
    s = rec.samples
    gaps = np.flatnonzero(s.gap_before)
    assert len(gaps) == 1
    log = asyncio.run(emu.control.send_log(STALL.address))
    assert faults.STALLED in log.outcome
    truth = compare(s, log, counter_modulo=65536)
    assert truth.exact, truth
    # The whole stall is missing (withheld while connected, unsent while reconnecting).
    assert summary.samples_lost == truth.outages[0].samples >= 0.9 * 1.2 * 200
