"""Movesense GSP codecs with documented examples, DATA_PART2 joining, session."""

import asyncio

import numpy as np
import pytest

from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_movesense import VirtualMovesense
from imu.devices import movesense as ms
from imu.devices.base import StreamSettings
from imu.devices.errors import DeviceRefusedError, MalformedFrameError
from tests.gatt_fakes import InProcessLink

# ../shared/device-protocols.md 2.7 (constructed from the schema, N = 1).
DATA = bytes.fromhex("02 63 B2 A1 00 00 00 00 00 3E 00 00 80 BE 00 00 1D 41 00 00 C0 3F"
                     " 00 00 00 00 00 00 10 C0".replace(" ", ""))


def test_documented_imu6_example():
    frame = ms.decode_imu6(DATA[2:], rate_hz=52)
    np.testing.assert_array_equal(frame.acc_mps2, [[0.125, -0.25, 9.8125]])
    np.testing.assert_allclose(np.degrees(frame.gyr_rps), [[1.5, 0.0, -2.25]])
    assert frame.device_time_s[0] == pytest.approx(41.394)
    assert frame.device_time_modulo_s == pytest.approx(2 ** 32 / 1000)


def test_commands_and_results():
    assert ms.encode_command(ms.CMD_SUBSCRIBE, 0x63, "/Meas/IMU6/52").hex(" ") == \
        "01 63 2f 4d 65 61 73 2f 49 4d 55 36 2f 35 32 00"
    assert ms.encode_command(ms.CMD_UNSUBSCRIBE, 0x63).hex() == "0263"
    assert ms.decode_result(bytes.fromhex("0163c800")) == (0x63, 200, b"")
    assert ms.decode_result(bytes.fromhex("0102c80057")) == (0x02, 200, b"\x57")
    hello = ms.decode_hello(b"\x01\x01\x01" + b"220330000123\x00Movesense\x00AA\x00app\x001.2\x00")
    assert hello["serial"] == "220330000123" and hello["app_version"] == "1.2"


def test_several_samples_are_array_major():
    acc = np.arange(12, dtype=np.float32).reshape(4, 3)
    gyr = -acc
    data = ms.encode_imu6(0x63, 1000, acc, gyr)
    assert len(data) == 2 + 4 + 4 * 24
    frame = ms.decode_imu6(data[2:], rate_hz=104)
    np.testing.assert_array_equal(frame.acc_mps2, acc)
    np.testing.assert_allclose(np.degrees(frame.gyr_rps), gyr)
    np.testing.assert_allclose(frame.device_time_s, 1.0 + np.arange(4) / 104)


def test_parser_joins_data_part2_and_counts_bad_notifications():
    data = ms.encode_imu6(0x63, 5, np.ones((4, 3)), np.zeros((4, 3)))
    parser = ms.MovesenseParser(104)
    assert parser.feed(data[:50]) == []                       # first part of a split message
    (frame,) = parser.feed(bytes([ms.RESP_DATA_PART2, 0x63]) + data[50:])
    assert len(frame) == 4 and parser.malformed == 0
    assert parser.feed(bytes.fromhex("0163c800")) == []        # a command result: not data
    assert parser.feed(bytes([3, 0x63, 1, 2])) == []           # continuation of nothing
    assert parser.feed(bytes([2, 0x07]) + data[2:]) == []      # another subscription
    assert parser.malformed == 2


def test_short_payload_is_malformed():
    with pytest.raises(MalformedFrameError, match="timestamp plus whole"):
        ms.decode_imu6(DATA[2:10], 52)


def run_session(rate_hz):
    async def run():
        link = InProcessLink(VirtualMovesense(VirtualDeviceSpec("movesense", duration_scale=0.25)))
        session = ms.MovesenseSession(link)
        try:
            details = await session.read_details()
            config = await session.start(StreamSettings(rate_hz=rate_hz), lambda d, t: None)
            return details, config
        finally:
            link.peripheral.stop()
    return asyncio.run(run())


def test_session_reads_hello_battery_and_subscribes():
    details, config = run_session(104)
    assert details.serial == "220330000123" and details.battery_percent == 87
    assert config.rate_hz == 104 and config.details["resource"] == "/Meas/IMU6/104"


def test_unsupported_rate_is_refused_with_the_status_and_the_rates():
    with pytest.raises(DeviceRefusedError) as err:
        run_session(100)
    assert "subscribe /Meas/IMU6/100" in str(err.value)
    assert "status 501" in str(err.value) and "13, 26, 52, 104, 208" in str(err.value)
