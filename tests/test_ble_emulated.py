"""End to end through bleak's real BlueZ backend against the emulated BlueZ (no hardware).

The emulator (private dbus-daemon + emulated BlueZ process) is the session fixture of
tests/ble_fixtures.py; tests that change a sensor's state use their own sensor.
"""

import asyncio
import sys

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.ble.emulator.feed import simulation_for
from imu.ble.emulator.virtual_movesense import samples_per_packet
from imu.ble.emulator.virtual_polar import frame_samples
from imu.ble.emulator.virtual_witmotion import PACKETS_PER_NOTIFICATION
from imu.ble.errors import DeviceNotFoundError
from imu.ble.recorder import Recorder
from imu.ble.scanner import scan
from imu.ble.stream import BleSettings, BleSource
from imu.devices import movesense, open_profile, polar_pmd, witmotion
from imu.devices.errors import DeviceRefusedError
from imu.recording import Event, read_recording
from tests.ble_fixtures import ALL, DROP, LINK, PAIRING, SLOW, TEST_TIMEOUT_S, record_across

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="bleak's BlueZ backend runs on Linux only")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT_S))


async def stream(source, n_samples, actions=()):
    """Blocks until n_samples arrived; actions = [(after_samples, async fn)] run in order."""
    blocks, got = [], 0
    pending = list(actions)
    await source.start()
    try:
        async for block in source:
            blocks.append(block)
            got += len(block)
            while pending and got >= pending[0][0]:
                await pending.pop(0)[1]()
            if got >= n_samples and not pending:
                break
    finally:
        await source.aclose()
    return blocks


# --------------------------------------------------------------------------- scanning

def test_scan_finds_every_profile(emu):
    found = {d.address: d for d in run(scan(1.5))}
    for spec in ALL:
        assert found[spec.address].profile == spec.profile
        assert found[spec.address].name == spec.name
        assert -62 <= found[spec.address].rssi_dbm <= -54


def test_a_missing_device_error_lists_what_was_seen(emu):
    source = BleSource("NoSuchSensor", BleSettings(find_timeout_s=1.0))
    with pytest.raises(DeviceNotFoundError) as err:
        run(source.start())
    assert "PelvisIMU-0001 (C0:FF:EE:00:00:01, open" in str(err.value)
    assert "pelvis-monitor scan" in str(err.value)


# --------------------------------------------------------------------------- decoding

# Rate, ranges and samples per notification the virtual sensors use, and how each
# profile quantises (what "equal after quantisation" means per device).
STREAMS = {"open": (200, 16, 2000, 6), "witmotion": (200, 16, 2000, PACKETS_PER_NOTIFICATION),
           "movesense": (208, 16, 2000, samples_per_packet(208)),
           "polar": (208, 8, 2000, frame_samples(208))}


def quantised(profile, acc, gyr, config):
    if profile in ("open", "witmotion"):
        return acc, gyr  # the simulation is on the device's int16 grid already
    if profile == "movesense":  # float32 m/s^2 and deg/s
        return (acc.astype(np.float32).astype(np.float64),
                np.radians(np.degrees(gyr).astype(np.float32).astype(np.float64)))
    a_lsb = config.details["acc_factor_g"] * GRAVITY_MPS2
    g_lsb = float(np.radians(config.details["gyr_factor_dps"]))
    return np.round(acc / a_lsb) * a_lsb, np.round(gyr / g_lsb) * g_lsb


@pytest.mark.parametrize("profile", list(STREAMS))
def test_decoded_samples_equal_the_simulated_ones_bit_for_bit(emu, profile):
    spec = emu.device(profile).spec
    source = BleSource(spec.name)
    blocks = run(stream(source, 200))
    got_acc = np.concatenate([b.acc_mps2 for b in blocks])
    got_gyr = np.concatenate([b.gyr_rps for b in blocks])
    got_seq = np.concatenate([b.seq for b in blocks])
    rate, acc_range, gyr_range, per_packet = STREAMS[profile]
    assert source.config.rate_hz == rate
    sim = simulation_for(spec, rate, acc_range, gyr_range, per_packet).block
    acc, gyr = quantised(profile, sim.acc_mps2, sim.gyr_rps, source.config)
    # Where the stream starts in the simulation (the first samples may be skipped while
    # the device is configured), then every delivered sample in order.
    k0 = int(np.flatnonzero(np.all(acc[:3000] == got_acc[0], axis=1)
                            & np.all(gyr[:3000] == got_gyr[0], axis=1))[0])
    n = len(got_acc)
    assert np.array_equal(got_acc, acc[k0:k0 + n])
    assert np.array_equal(got_gyr, gyr[k0:k0 + n])
    if profile != "witmotion":  # sample numbers from counters/timestamps reproduce the losses
        assert np.array_equal(got_seq - got_seq[0], sim.seq[k0:k0 + n] - sim.seq[k0])
    t = np.concatenate([b.time_s for b in blocks])
    assert np.all(np.diff(t) > 0)
    assert source.malformed == 0


# --------------------------------------------------------------------------- faults

@pytest.mark.parametrize("profile, notifications, lost", [
    ("open", 5, 5 * 6), ("movesense", 3, 3 * samples_per_packet(208)),
    ("polar", 2, frame_samples(208)),   # one ACC and one GYRO frame of the same samples
])
def test_dropped_notifications_are_counted_exactly(emu, profile, notifications, lost):
    spec = DROP[profile]
    source = BleSource(spec.address, BleSettings(profile=profile))

    async def drop():
        await emu.control.drop_notifications(spec.address, notifications)

    blocks = run(stream(source, 300, [(60, drop)]))
    assert source.status().samples_lost == lost
    assert sum(int(b.gap_before.sum()) for b in blocks) == 1
    seq = np.concatenate([b.seq for b in blocks])
    assert np.sum(np.diff(seq) - 1) == lost


def test_counterless_device_estimates_dropped_notifications(emu):
    spec = DROP["witmotion"]
    source = BleSource(spec.name)

    async def drop():
        await emu.control.drop_notifications(spec.address, 30)  # 60 samples, 0.3 s

    blocks = run(stream(source, 400, [(100, drop)]))
    seq = np.concatenate([b.seq for b in blocks])
    # The drop is found and its length estimated to a sample. (On a heavily loaded host
    # a scheduling stall can add a short false gap elsewhere: docs/ble.md says so.)
    assert int(np.max(np.diff(seq))) - 1 == pytest.approx(60, abs=1)


BAD = {
    "open": (open_profile.DATA_UUID, [b"\x01\x05\x00", b"\x07" + bytes(19),
                                      bytes.fromhex("0102000000000000") + bytes(12)]),
    "witmotion": (witmotion.NOTIFY_UUID, [bytes.fromhex("5561 0102"), b"\x00\x13\x37",
                                          bytes.fromhex("ff") * 7]),
    "movesense": (movesense.DATA_UUID, [bytes.fromhex("0263 0102"), b"\x05",
                                        bytes.fromhex("0301 0203")]),
    "polar": (polar_pmd.DATA_UUID, [bytes.fromhex("020000"), bytes(12),
                                    bytes.fromhex("02 0000000000000000 80 d0ff 6501 e40f 0802"
                                                  .replace(" ", ""))]),
}


@pytest.mark.parametrize("profile", list(BAD))
def test_malformed_notifications_are_counted_and_skipped(emu, profile):
    spec = emu.device(profile).spec
    uuid, bad = BAD[profile]
    source = BleSource(spec.name)

    async def inject():
        for value in bad:
            assert await emu.control.inject(spec.address, uuid, value)

    blocks = run(stream(source, 250, [(50, inject)]))
    assert source.malformed == len(bad)
    assert sum(len(b) for b in blocks) >= 250     # streaming carried on
    assert "malformed notifications skipped" in source.status().message


def test_refused_configuration_gives_a_clear_error(emu):
    source = BleSource(SLOW.name, BleSettings(rate_hz=200))
    with pytest.raises(DeviceRefusedError) as err:
        run(source.start())
    text = str(err.value)
    assert text.startswith("PelvisIMU-slow refused to stream at 200 Hz")
    assert "value not allowed" in text and "supports rates 50, 100 Hz" in text
    assert source.status().link_state == "failed"
    source = BleSource(emu.device("movesense").name, BleSettings(rate_hz=300))
    with pytest.raises(DeviceRefusedError, match="status 501 .* Supported IMU rates"):
        run(source.start())


def test_a_sensor_that_needs_pairing_says_so_and_streams_once_paired(emu):
    with pytest.raises(DeviceRefusedError, match="insufficient authentication.*[Pp]air"):
        run(BleSource(PAIRING.name).start())
    blocks = run(stream(BleSource(PAIRING.name, BleSettings(pair=True)), 100))
    assert sum(len(b) for b in blocks) >= 100


def test_battery_level_is_polled_while_streaming(emu):
    spec = emu.device("open").spec
    source = BleSource(spec.name, BleSettings(battery_poll_s=0.1))

    async def drain():
        await emu.control.set_battery(spec.address, 42)
        await asyncio.sleep(0.3)

    try:
        run(stream(source, 60, [(20, drain)]))
    finally:
        run(emu.control.set_battery(spec.address, spec.battery_percent))
    assert source.status().battery_percent == 42


# --------------------------------------------------------------------------- reconnection

def test_link_loss_reconnects_and_the_recording_continues_with_a_marked_gap(emu, tmp_path):
    path = tmp_path / "session.pmrec"
    recorder = Recorder(path)
    source = BleSource(LINK.name, on_event=recorder.on_link_event)

    async def drop():
        await emu.control.drop_link(LINK.address, down_s=0.6)

    summary = run(record_across(recorder, source, drop))
    rec = read_recording(path, strict=True)
    s = rec.samples
    assert len(s) == summary.samples_written >= 200
    assert np.all(np.diff(s.time_s) > 0)
    gaps = np.flatnonzero(s.gap_before)
    assert len(gaps) == 1 and summary.reconnects == 1
    i = gaps[0]
    lost = int(s.seq[i] - s.seq[i - 1] - 1)
    assert lost == summary.samples_lost >= 0.6 * 200      # the link was down 0.6 s
    assert s.time_s[i] - s.time_s[i - 1] == pytest.approx((lost + 1) / 200, abs=0.02)
    states = [e.data["state"] for e in rec.events if isinstance(e, Event) and e.kind == "link"]
    assert states == ["streaming", "lost", "restored", "stopped"]
    assert rec.header.device.address == LINK.address and rec.header.device.profile == "open"
    assert rec.header.settings["ble"]["seq_source"] == "device counter"


# --------------------------------------------------------------------------- the demo path

def test_the_demo_streams_a_virtual_sensor_through_bleak():
    from imu.ble.demo import demo_bluetooth, emulation_unavailable_reason
    from imu.sources import LiveSource

    assert emulation_unavailable_reason() is None
    with demo_bluetooth("walk-basic", "movesense") as demo:
        source = demo.make_source()
        assert isinstance(source, LiveSource)
        assert source.rate_hz == 208.0          # known before the source starts
        blocks = run(stream(source, 100))
    assert sum(len(b) for b in blocks) >= 100
    assert "emulated BlueZ" in demo.description
