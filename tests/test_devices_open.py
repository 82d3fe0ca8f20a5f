"""Open profile codecs (documented example frames) and its session, without a radio."""

import asyncio

import numpy as np
import pytest

from imu import GRAVITY_MPS2
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_open import VirtualOpenSensor
from imu.devices import open_profile as op
from imu.devices.base import StreamConfig, StreamSettings
from imu.devices.errors import DeviceRefusedError, MalformedFrameError
from tests.gatt_fakes import InProcessLink

# The example of firmware_notes/README.md: 2 samples, seq 42, t = 1 000 000 us,
# sample 0 acc (0, 0, 2048) gyro (164, -164, 0); sample 1 acc (2048, 0, 0) gyro (0, 0, 16384).
EXAMPLE = bytes.fromhex(
    "01 02 2a 00 40 42 0f 00"
    " 0000 0000 0008 a400 5cff 0000"
    " 0008 0000 0000 0000 0000 0040".replace(" ", ""))


def test_example_frame_decodes_to_documented_values():
    f = op.decode_frame(EXAMPLE, rate_hz=200, acc_range_g=16, gyr_range_dps=2000)
    assert f.counter == 42 and f.counter_modulo == 65536
    np.testing.assert_allclose(f.device_time_s, [1.0, 1.005])
    np.testing.assert_allclose(f.acc_mps2, [[0, 0, GRAVITY_MPS2], [GRAVITY_MPS2, 0, 0]])
    np.testing.assert_allclose(np.degrees(f.gyr_rps), [[10.009765625, -10.009765625, 0],
                                                       [0, 0, 1000.0]])


def test_encode_reproduces_the_example_and_wraps_counters():
    acc = np.array([[0, 0, 2048], [2048, 0, 0]], dtype=np.int16)
    gyr = np.array([[164, -164, 0], [0, 0, 16384]], dtype=np.int16)
    assert op.encode_frame(42, 1_000_000, acc, gyr) == EXAMPLE
    wrapped = op.encode_frame(65536 + 42, (1 << 32) + 1_000_000, acc, gyr)
    assert wrapped == EXAMPLE


def test_quantised_values_survive_the_round_trip_bit_for_bit():
    rng = np.random.default_rng(3)
    counts = rng.integers(-32768, 32767, size=(19, 6)).astype(np.int16)
    lsb_a, lsb_g = op.acc_lsb_mps2(8), op.gyr_lsb_rps(500)
    frame = op.decode_frame(op.encode_frame(7, 123, counts[:, :3], counts[:, 3:]), 100, 8, 500)
    assert np.array_equal(frame.acc_mps2, counts[:, :3] * lsb_a)
    assert np.array_equal(frame.gyr_rps, counts[:, 3:] * lsb_g)


@pytest.mark.parametrize("data, problem", [
    (EXAMPLE[:5], "header"),
    (b"\x07" + EXAMPLE[1:], "format"),
    (EXAMPLE[:-1], "announces 2 samples"),
    (bytes.fromhex("0100000000000000"), "announces 0 samples"),
])
def test_malformed_frames_are_refused_with_the_reason(data, problem):
    with pytest.raises(MalformedFrameError, match=problem):
        op.decode_frame(data, 200, 16, 2000)


def test_parser_counts_malformed_notifications_and_carries_on():
    parser = op.OpenParser(StreamConfig(200, 16, 2000, "device counter"))
    assert parser.feed(EXAMPLE[:3]) == []
    assert len(parser.feed(EXAMPLE)[0]) == 2
    assert parser.malformed == 1 and "header" in parser.last_problem


def test_config_and_capabilities_layouts():
    cfg = op.OpenConfig(200, 16, 2000, 6)
    assert cfg.encode() == bytes.fromhex("c8 00 10 00 d0 07 06 00".replace(" ", ""))
    assert op.OpenConfig.decode(cfg.encode()) == cfg
    caps = op.OpenCapabilities((50, 100, 200), (4, 16), (500, 2000), 19)
    assert caps.encode() == bytes.fromhex("03 3200 6400 c800 02 04 10 02 f401 d007 13".replace(" ", ""))
    assert op.OpenCapabilities.decode(caps.encode()) == caps
    with pytest.raises(MalformedFrameError):
        op.OpenCapabilities.decode(caps.encode()[:-3])


def test_batch_size_targets_30_ms_within_the_mtu_limit():
    assert op.batch_size(200, 19) == 6
    assert op.batch_size(25, 19) == 1
    assert op.batch_size(1600, 19) == 19


def test_session_configures_and_streams():
    async def run():
        link = InProcessLink(VirtualOpenSensor(VirtualDeviceSpec("open", errors="none", duration_scale=0.25)))
        got = []
        session = op.OpenSession(link)
        config = await session.start(StreamSettings(rate_hz=100), lambda d, t: got.append(d))
        for _ in range(100):  # the virtual sensor simulates its session first
            if len(got) >= 3:
                break
            await asyncio.sleep(0.05)
        await session.stop()
        details = await session.read_details()
        link.peripheral.stop()
        return config, got, details

    config, got, details = asyncio.run(run())
    assert config.rate_hz == 100 and config.details["samples_per_notification"] == 3
    assert got and all(len(d) == 8 + 3 * 12 for d in got)
    assert details.battery_percent == 87 and details.firmware == "1.0.0-emulated"


def test_session_reports_a_refused_configuration_with_the_capabilities():
    async def run():
        link = InProcessLink(VirtualOpenSensor(VirtualDeviceSpec("open", rates_hz=(50, 100), duration_scale=0.25)))
        await op.OpenSession(link).start(StreamSettings(rate_hz=200), lambda d, t: None)

    with pytest.raises(DeviceRefusedError) as err:
        asyncio.run(run())
    text = str(err.value)
    assert "refused to stream at 200 Hz" in text and "value not allowed" in text
    assert "supports rates 50, 100 Hz" in text
