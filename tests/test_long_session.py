"""Long sessions stay bounded: the pipeline's state and the live dashboard's buffers.

A fast version of bench/long_session.py (which streams 2 h and samples RSS): 14
simulated minutes, past one loop of the session script, delivered in 1 s packets so the
test takes seconds. Growth is measured as the bytes an object keeps (retained_bytes),
which unlike RSS does not depend on the allocator or on other tests in the process.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.long_session import (LIMIT_GROWTH_MB, items_per_hour, loop_session,
                                retained_bytes)
from dashboard.stream import EVENTS_KEEP, RAW_KEEP_S, LiveStream
from imu.pipeline import Pipeline
from imu.samples import SampleBlock
from imu.simulate import VirtualSensor

PACKET = 200  # 1 s per packet: the same pipeline work with fewer Python calls


@pytest.fixture(scope="module")
def session():
    return loop_session(packet_samples=PACKET)


def test_retained_bytes_sees_a_growing_list():
    keeper = {"items": []}
    before = retained_bytes(keeper)
    keeper["items"].extend(float(i) for i in range(1000))
    assert retained_bytes(keeper) - before >= 1000 * 24  # 1000 floats, 24 bytes each


def test_the_pipeline_keeps_bounded_state_over_a_long_stream(session):
    pipe = Pipeline(session.rate_hz)
    sizes: dict[int, int] = {}
    t0 = None
    for pkt in VirtualSensor(session, speed=None, loop=True).packets():
        t0 = float(pkt.time_s[0]) if t0 is None else t0
        pipe.feed(pkt)
        minute = (float(pkt.time_s[-1]) - t0) / 60.0
        for mark in (6, 14):
            if minute >= mark and mark not in sizes:
                sizes[mark] = retained_bytes(pipe)
        if 14 in sizes:
            break
    # Keeping every stride or sample would add >= 300 kB in these 8 minutes (a stride is
    # ~0.5 kB, ~900 strides of running); what the pipeline keeps is windows of fixed length.
    assert sizes[14] - sizes[6] < 100_000, sizes
    assert pipe.alignment is not None  # calibrated: every stage has run


def test_the_live_streams_buffers_stay_bounded(session, tmp_path):
    stream = LiveStream(tmp_path)
    stream.connect(VirtualSensor(session, speed=None, loop=True))
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            snap = stream.snapshot()
            assert not snap.error, snap.error
            if snap.last_time_s is not None and snap.last_time_s - snap.time_origin_s >= 14 * 60:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the stream did not reach 14 simulated minutes in time")
        stream.disconnect()  # stop the stream thread: the buffers hold still
        snap = stream.snapshot()
        raw, ring = stream._raw, stream._ring
        assert raw.max_samples == RAW_KEEP_S * session.rate_hz
        assert raw._n <= raw.max_samples + PACKET  # whole packets: at most one more
        gen, shown = stream.angles_since(0)
        assert len(shown) == ring.capacity < ring.end_index  # the ring wrapped, size held
        items = stream.events()
        assert len(items) == snap.events_total <= EVENTS_KEEP
        minutes = (snap.last_time_s - snap.time_origin_s) / 60.0
        per_hour, bytes_per_hour = items_per_hour(items, minutes / 60.0)
        assert per_hour["Stride"] > 1000  # the session runs and walks: items do come
        # The kept items are bounded by count; at their measured size the cap fits in the
        # memory budget of a long session.
        mean_item = sum(retained_bytes(it) for it in items) / len(items)
        assert EVENTS_KEEP * mean_item < LIMIT_GROWTH_MB * 1e6, (mean_item, bytes_per_hour)
    finally:
        stream.disconnect()


def test_flags_are_counted_past_the_kept_items(tmp_path, monkeypatch):
    """The sound cue fires when the flag count grows; counting only the kept items
    (the newest EVENTS_KEEP) stalled it hours into a session."""
    import dashboard.stream as live
    from imu.events.model import Flag
    from imu.pipeline import PipelineOutput

    monkeypatch.setattr(live, "EVENTS_KEEP", 3)
    stream = LiveStream(tmp_path)
    flag = Flag(rule="pelvic-drop", activity="lunge", time_s=1.0, cycle=1, side="left",
                value=9.0, limit=6.0, unit="deg", message="drop", reported_time_s=1.2)

    class Pipe:  # reports one flag per block
        def feed(self, block):
            n = len(block)
            return PipelineOutput(block.time_s, np.tile([1.0, 0, 0, 0], (n, 1)), np.zeros(n),
                                  np.zeros(n), np.zeros(n), np.zeros(n, bool), None, (flag,))

    stream._pipeline = Pipe()
    for k in range(10):
        stream._process(SampleBlock(np.arange(4) * 0.005 + k * 0.02, np.zeros((4, 3)),
                                    np.zeros((4, 3))))
    stream._pipeline = None  # the snapshot would ask a real pipeline for its status
    snap = stream.snapshot()
    assert len(stream.events()) == 3 and snap.events_total == 10
    assert snap.flags_total == 10
    from dashboard.views import events_values
    assert events_values(stream.events(), 0.0, snap.flags_total)[-1] == 10  # the page's count
    # The chart's bands need only the items reported since the window's start.
    assert stream.events_reported_after(0.2) == stream.events()[-3:]
    assert stream.events_reported_after(1.2) == ()
