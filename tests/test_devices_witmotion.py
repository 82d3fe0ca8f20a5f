"""WitMotion BLE 5.0 codecs with the vendor's worked examples, stream reassembly, session."""

import asyncio

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_witmotion import VirtualWitMotion, battery_centivolts
from imu.devices import witmotion as wt
from imu.devices.base import StreamSettings
from imu.devices.errors import DeviceRefusedError
from tests.gatt_fakes import InProcessLink

# ../shared/device-protocols.md 1.10 example 2 (constructed from the documented layout).
DATA = bytes.fromhex("55 61 10 00 E0 FF 00 08 05 00 FB FF 00 00 B6 00 4A FF 00 40".replace(" ", ""))
# Datasheet example (WT901BLECL v20-0707 p.16): magnetometer register read reply.
MAG_REPLY = bytes.fromhex("55 71 3A 00 68 01 69 00 7A 00".replace(" ", "") + "00" * 10)


def test_vendor_data_packet():
    acc, gyr, angles = wt.decode_data_packets([DATA])
    np.testing.assert_allclose(acc[0] / GRAVITY_MPS2, [16 / 2048, -32 / 2048, 1.0])
    np.testing.assert_allclose(np.degrees(gyr[0]), [0.30517578125, -0.30517578125, 0.0])
    np.testing.assert_allclose(angles[0], [0.999755859375, -0.999755859375, 90.0])


def test_vendor_register_reply_and_battery_table():
    assert wt.decode_register_reply(MAG_REPLY) == (0x3A, (360, 105, 122, 0, 0, 0, 0, 0))
    battery = bytes.fromhex("5571 6400 8101") + bytes(14)   # 0x0181 = 385 cV = 3.85 V
    assert wt.decode_register_reply(battery)[1][0] == 385
    assert wt.battery_percent(3.85) == 60
    assert wt.battery_percent(4.10) == 100 and wt.battery_percent(3.30) == 0
    assert wt.battery_percent(battery_centivolts(87) / 100) == 75  # the table is a step function


def test_commands():
    assert wt.UNLOCK.hex() == "ffaa6988b5"
    assert wt.command(wt.REG_RATE, wt.RATE_CODES[200.0]).hex() == "ffaa030b00"
    assert wt.read_register_command(0x64).hex() == "ffaa276400"


def test_encoder_matches_the_decoder_bit_for_bit():
    rng = np.random.default_rng(5)
    counts = rng.integers(-32768, 32767, size=(9,)).astype(np.int16)
    packet = wt.encode_data_packet(counts[:3], counts[3:6], counts[6:])
    acc, gyr, _ = wt.decode_data_packets([packet])
    assert np.array_equal(acc[0], counts[:3] * wt.acc_lsb_mps2(16))
    assert np.array_equal(gyr[0], counts[3:6] * wt.gyr_lsb_rps(2000))


def test_stream_splits_joins_and_resynchronises():
    stream = wt.PacketStream()
    assert stream.feed(DATA + MAG_REPLY) == ([DATA, MAG_REPLY], 0)
    assert stream.feed(DATA[:7]) == ([], 0)           # a packet split over notifications
    assert stream.feed(DATA[7:]) == ([DATA], 0)
    assert stream.feed(b"\x00\x13" + DATA) == ([DATA], 1)   # garbage before a header


def test_parser_drops_a_short_notification_and_counts_it():
    parser = wt.WitParser()
    assert parser.feed(DATA[:6]) == []                # kept: could be a split packet
    frames = parser.feed(DATA + DATA)                 # a header: the 6 bytes were a short one
    assert len(frames) == 1 and len(frames[0]) == 2
    assert parser.malformed == 1 and "short notification" in parser.last_problem
    assert parser.feed(MAG_REPLY) == [] and parser.malformed == 1
    for junk in (DATA[:4], b"\x00\x13\x37", b"\xff" * 7):   # three bad notifications
        assert parser.feed(junk) == []
    assert len(parser.feed(DATA)[0]) == 1 and parser.malformed == 4


def run_session(rate_hz, spec=None):
    async def run():
        link = InProcessLink(VirtualWitMotion(spec or VirtualDeviceSpec("witmotion", duration_scale=0.25)))
        session = wt.WitSession(link)
        try:
            config = await session.start(StreamSettings(rate_hz=rate_hz), lambda d, t: None)
            return config, await session.read_battery(), link.writes
        finally:
            link.peripheral.stop()
    return asyncio.run(run())


def test_session_unlocks_sets_and_verifies_the_rate():
    config, battery, writes = run_session(100)
    assert config.rate_hz == 100 and config.seq_source == "host arrival (inferred)"
    sent = [w.hex() for _, w in writes]
    assert sent[:3] == ["ffaa6988b5", "ffaa030900", "ffaa270300"]
    assert battery == 75


def test_session_refuses_rates_witmotion_does_not_offer():
    with pytest.raises(DeviceRefusedError, match="offers only .* 200 Hz"):
        run_session(150)


def test_session_reports_a_rate_the_module_ignored(monkeypatch):
    # A module that ignores the write keeps its rate register; the read-back shows it.
    monkeypatch.setattr(wt, "UNLOCK", bytes(5))
    with pytest.raises(DeviceRefusedError, match="rate register still reads 10 Hz"):
        run_session(200)
