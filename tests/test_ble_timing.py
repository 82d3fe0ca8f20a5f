"""Timing reconstruction: clock offset/drift, losses from counters/timestamps/arrivals, gaps."""

import numpy as np
import pytest

from imu.ble.timing import ClockModel, SampleTimeline, TimingSettings
from imu.devices.base import ImuFrame

RATE = 200.0
N = 6


def frame(k, *, counter=True, clock=True, true_rate=RATE, n=N, clock_offset_s=0.0):
    """Notification k of a device sending n samples each (its clock runs at true_rate)."""
    seq = k * n
    t_us = int(round((seq / true_rate + clock_offset_s) * 1e6))
    z = np.zeros((n, 3))
    return ImuFrame(z, z, counter=seq % 65536 if counter else None, counter_modulo=65536,
                    device_time_s=((t_us % 2 ** 32) * 1e-6 + np.arange(n) / RATE) if clock else None,
                    device_time_modulo_s=2 ** 32 * 1e-6)


def arrival(k, *, drift_ppm=0.0, true_rate=RATE, jitter=None, n=N):
    """Send time of the frame's last sample on the host clock (+ latency)."""
    send = 1000.0 + ((k + 1) * n - 1) / true_rate * (1 + drift_ppm * 1e-6)
    return send + 0.003 + (jitter[k] if jitter is not None else 0.0)


def run(ks, **kw):
    frame_kw = {k: kw.pop(k) for k in ("counter", "clock", "n", "clock_offset_s") if k in kw}
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    placed = [tl.place(frame(k, **frame_kw, true_rate=kw.get("true_rate", RATE)),
                       arrival(k, **kw, n=frame_kw.get("n", N))) for k in ks]
    return tl, [p for p in placed if p is not None]


@pytest.mark.parametrize("counter, clock", [(True, True), (False, True), (True, False)])
def test_lost_notifications_are_counted_exactly_with_a_counter_or_clock(counter, clock):
    ks = [k for k in range(400) if k not in (100, 101, 102, 250)]
    tl, placed = run(ks, counter=counter, clock=clock)
    assert sum(p.lost for p in placed) == 4 * N
    assert all(p.lost_exact for p in placed)
    assert [p.gap_before for p in placed].count(True) == 2
    seq = np.concatenate([p.seq for p in placed])
    assert np.array_equal(seq, np.concatenate([k * N + np.arange(N) for k in ks]))


def test_times_are_smooth_and_drift_is_estimated_through_jitter():
    rng = np.random.default_rng(7)
    jitter = np.abs(rng.normal(0, 0.006, 3000))   # BLE latency above its minimum
    tl, placed = run(range(3000), drift_ppm=40.0, jitter=jitter)
    t = np.concatenate([p.time_s for p in placed])
    dt = np.diff(t)
    assert np.all(dt > 0)
    # Intervals keep the sample period: jitter of 6 ms never shows, only the slow slew.
    assert np.max(np.abs(dt - 1 / RATE)) < 0.002 / RATE
    assert tl.clock.drift_ppm == pytest.approx(40.0, abs=5.0)
    # Session time of the last sample = its send time plus the minimum latency (the part
    # of the latency no clock comparison can see), within 1 ms.
    assert t[-1] == pytest.approx(arrival(2999, drift_ppm=40.0) - 1000.0, abs=0.001)


def test_counters_and_clocks_wrap():
    # 65536 samples wrap the u16 counter after 5.5 min; start the u32 us clock just
    # before its own wrap (71.6 min).
    ks = range(10_900, 11_100)
    tl, placed = run(ks, clock_offset_s=2 ** 32 * 1e-6 - 55.0 - 10_900 * N / RATE + 1.0)
    seq = np.concatenate([p.seq for p in placed])
    assert np.all(np.diff(seq) == 1) and sum(p.lost for p in placed) == 0
    assert np.all(np.diff(np.concatenate([p.time_s for p in placed])) > 0)


def test_duplicate_notification_is_dropped():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    assert tl.place(frame(0), arrival(0)) is not None
    assert tl.place(frame(0), arrival(0) + 0.001) is None
    assert tl.duplicates == 1


def test_counterless_device_infers_losses_from_arrival_times():
    # A device whose "200 Hz" is really 198 Hz loses 120 samples (0.6 s) after 27 s,
    # once its drift (1 %) is known.
    ks = [k for k in range(1200) if not 900 <= k < 920]
    tl, placed = run(ks, counter=False, clock=False, true_rate=198.0)
    lost = [p for p in placed if p.lost]
    assert len(lost) == 1 and not lost[0].lost_exact
    assert lost[0].lost == pytest.approx(120, abs=1)
    assert tl.clock.drift_ppm == pytest.approx(1e6 * (200 / 198 - 1), rel=0.03)


def test_reconnect_with_a_running_device_clock_counts_the_outage_exactly():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    for k in range(100):
        tl.place(frame(k), arrival(k))
    tl.link_restored()
    p = tl.place(frame(300), arrival(300))
    assert p.lost == 200 * N and p.lost_exact and p.gap_before


def test_reconnect_after_a_device_restart_estimates_the_gap_from_host_time():
    tl = SampleTimeline(RATE, epoch_s=1000.0)
    for k in range(100):
        last = tl.place(frame(k), arrival(k))
    tl.link_restored()
    # The device rebooted: its counter and clock start again from 0, 2 s later.
    restart = ImuFrame(np.zeros((N, 3)), np.zeros((N, 3)), counter=0, counter_modulo=65536,
                       device_time_s=np.arange(N) / RATE, device_time_modulo_s=2 ** 32 * 1e-6)
    p = tl.place(restart, arrival(99) + 2.0)
    assert tl.restarts == 1 and p.gap_before and not p.lost_exact
    assert p.lost == pytest.approx(2.0 * RATE - N, abs=2)
    assert p.time_s[0] > last.time_s[-1] + 1.9
    q = tl.place(frame(1), arrival(99) + 2.0 + N / RATE)
    assert q.lost == 0 and q.seq[0] == p.seq[-1] + 1


def test_clock_model_slews_instead_of_jumping():
    model = ClockModel(TimingSettings())
    model.restart(0.0, 100.02)            # first arrival was 20 ms late
    for i in range(1, 400):
        model.observe(i * 0.03, 100.0 + i * 0.03 + 0.001)
    d = np.arange(0, 12, 0.005)
    out = model.to_host(d)
    assert np.all(np.diff(out) > 0)
    assert float(model.to_host(12.0)) - 112.0 < 0.0185   # correcting towards 1 ms latency


def test_a_stall_is_told_from_a_loss_by_the_burst_that_follows():
    """Counter-less: 0.2 s of silence then a burst = delayed notifications, no loss;
    0.2 s of silence then notifications on schedule = 40 samples lost."""
    def arrivals(stalled):
        for k in range(200):
            t = arrival(k)
            if 100 <= k < 107 and stalled:
                t = arrival(106) + 0.0001 * (k - 100)   # held back, then all at once
            if not stalled and 100 <= k < 107:
                continue                                # really lost
            yield k, t

    for stalled, lost in ((True, 0), (False, 7 * N)):
        tl = SampleTimeline(RATE, epoch_s=1000.0)
        placed = [p for k, t in arrivals(stalled)
                  for _, p in tl.feed(frame(k, counter=False, clock=False), t)]
        placed += [p for _, p in tl.flush()]
        assert sum(p.lost for p in placed) == lost
        assert len(np.concatenate([p.seq for p in placed])) == (200 - (0 if stalled else 7)) * N
