"""Polar PMD codecs with the vendor's example frames, delta coding, pairing of ACC+GYRO."""

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from imu import GRAVITY_MPS2
from imu.ble.emulator.spec import VirtualDeviceSpec
from imu.ble.emulator.virtual_polar import ACC_FACTOR_8G, VirtualPolar
from imu.devices import polar as pl
from imu.devices import polar_pmd as pmd
from imu.devices.base import StreamSettings
from imu.devices.errors import DeviceRefusedError, MalformedFrameError
from tests.gatt_fakes import InProcessLink

# PMD specification, H10 raw accelerometer frame (first two samples).
H10_RAW = bytes.fromhex("02 EA 54 A2 42 8B 45 52 08 01 45 FF E4 FF B5 03 45 FF E4 FF B8 03"
                        .replace(" ", ""))
# PMD specification, Verity Sense delta frame: reference + first block, its count cut to 2.
VERITY_DELTA = bytes.fromhex("02 64 6C 76 C4 3C C6 7F 07 80 D0 FF 65 01 E4 0F 08 02 FC 07 FF"
                             " 0C 13 F2".replace(" ", ""))
# polar-ble-sdk AccDataTest "compressed data type 1".
SDK_TYPE1 = bytes.fromhex("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08"
                          .replace(" ", ""))


def test_h10_raw_frame():
    mtype, t_ns, frame_type, payload = pmd.decode_frame_header(H10_RAW)
    assert (mtype, t_ns, frame_type) == (pmd.TYPE_ACC, 599618164814402794, 0x01)
    np.testing.assert_array_equal(pmd.decode_raw_int16(payload), [[-187, -28, 949],
                                                                  [-187, -28, 952]])


def test_verity_delta_frame():
    mtype, t_ns, frame_type, payload = pmd.decode_frame_header(VERITY_DELTA)
    assert (t_ns, frame_type) == (540368444604181604, pmd.COMPRESSED)
    np.testing.assert_array_equal(pmd.decode_delta_frames(payload),
                                  [[-48, 357, 4068], [-52, 364, 4067], [-40, 383, 4053]])
    assert pmd.encode_delta_frames([[-48, 357, 4068], [-52, 364, 4067], [-40, 383, 4053]]) \
        == bytes.fromhex("D0FF6501E40F" "0602" "FCF133930C")  # 6-bit deltas suffice


def test_sdk_type1_test_vector():
    payload = pmd.decode_frame_header(SDK_TYPE1)[3]
    np.testing.assert_array_equal(pmd.decode_delta_frames(payload), [[-15, 20, 1008],
                                                                     [-20, 17, 1008]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.integers(-32768, 32767)] * 3), min_size=1, max_size=80),
       st.integers(1, 40))
def test_delta_coding_round_trips(rows, block):
    samples = np.array(rows, dtype=np.int64)
    decoded = pmd.decode_delta_frames(pmd.encode_delta_frames(samples, block_samples=block))
    assert np.array_equal(decoded, samples)


@pytest.mark.parametrize("payload, problem", [
    (b"\xd0\xff", "reference"),
    (bytes.fromhex("D0FF6501E40F08"), "block header cut"),
    (bytes.fromhex("D0FF6501E40F0802FC07"), "does not fit"),
])
def test_truncated_delta_frames(payload, problem):
    with pytest.raises(MalformedFrameError, match=problem):
        pmd.decode_delta_frames(payload)


def test_control_point_messages():
    h10_settings = bytes.fromhex("F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02"
                                 " 03 02 00 04 00 08 00".replace(" ", ""))
    resp = pmd.decode_cp_response(h10_settings)
    assert (resp.opcode, resp.measurement_type, resp.ok, resp.more) == (1, 2, True, False)
    assert pmd.decode_settings(resp.params) == {0: [25, 50, 100, 200], 1: [16], 2: [2, 4, 8]}
    start = pmd.encode_start(pmd.TYPE_ACC, {0: [52], 1: [16], 2: [8], 4: [3]})
    assert start.hex() == "0202000134000101100002010800040103"
    started = pmd.decode_cp_response(bytes.fromhex("F0020200000501" "40DA7F39"))
    assert pmd.decode_settings(started.params)[pmd.SET_FACTOR][0] == pytest.approx(0.000244)
    assert pmd.decode_cp_response(bytes.fromhex("F00202080000")).status_name == \
        "invalid sample rate"


def test_sample_times_follow_the_sdk_and_keep_lost_frames_a_gap():
    first = pl.sample_times_ns(1_000_000_000, 4, None, 100.0)
    np.testing.assert_array_equal(first, [970_000_000, 980_000_000, 990_000_000, 1_000_000_000])
    # 4 samples in 40.4 ms: the measured spacing (10.1 ms) is used.
    np.testing.assert_array_equal(pl.sample_times_ns(1_040_400_000, 4, 1_000_000_000, 100.0),
                                  [1_010_100_000, 1_020_200_000, 1_030_300_000, 1_040_400_000])
    # A frame was lost in between: nominal spacing, the gap stays before the first sample.
    np.testing.assert_array_equal(pl.sample_times_ns(1_080_000_000, 4, 1_000_000_000, 100.0),
                                  [1_050_000_000, 1_060_000_000, 1_070_000_000, 1_080_000_000])


def frames_for(counts, t_last_ns):
    payload = pmd.encode_delta_frames(counts)
    return (pmd.encode_frame(pmd.TYPE_ACC, t_last_ns, pmd.COMPRESSED, payload),
            pmd.encode_frame(pmd.TYPE_GYRO, t_last_ns, pmd.COMPRESSED, payload))


def test_parser_pairs_streams_and_drops_samples_without_a_partner():
    parser = pl.PolarParser(100.0, ACC_FACTOR_8G, 0.06103515625)
    counts = np.arange(30, dtype=np.int64).reshape(10, 3)
    acc1, gyr1 = frames_for(counts[:5], 1_040_000_000)
    acc2, gyr2 = frames_for(counts[5:], 1_090_000_000)
    acc3, gyr3 = frames_for(counts[:5], 1_140_000_000)
    assert parser.feed(acc1) == []                   # waits for the gyroscope
    (f1,) = parser.feed(gyr1)
    assert len(f1) == 5
    np.testing.assert_array_equal(f1.acc_mps2, counts[:5] * (ACC_FACTOR_8G * GRAVITY_MPS2))
    np.testing.assert_array_equal(f1.gyr_rps, counts[:5] * np.radians(0.06103515625))
    parser.feed(acc2)                                # its gyro frame is lost
    assert parser.feed(acc3) == []
    (f3,) = parser.feed(gyr3)
    assert parser.unpaired == 5
    np.testing.assert_allclose(f3.device_time_s - f1.device_time_s[-1],
                               0.06 + np.arange(5) * 0.01, atol=1e-9)


def test_parser_counts_unknown_frames():
    parser = pl.PolarParser(52.0, ACC_FACTOR_8G, 0.06)
    assert parser.feed(bytes.fromhex("00" * 12)) == []   # ECG: not ours
    assert parser.feed(H10_RAW[:9]) == []                # shorter than the header
    assert parser.malformed == 2


def run_session(rate_hz=None, *, require_pairing=False, paired=False):
    async def run():
        spec = VirtualDeviceSpec("polar", require_pairing=require_pairing, duration_scale=0.25)
        link = InProcessLink(VirtualPolar(spec), paired=paired)
        try:
            return await pl.PolarSession(link).start(StreamSettings(rate_hz=rate_hz),
                                                     lambda d, t: None)
        finally:
            link.peripheral.stop()
    return asyncio.run(run())


def test_session_enters_sdk_mode_and_reads_the_factors():
    config = run_session()
    assert config.rate_hz == 208 and config.details["sdk_mode"]
    assert config.details["acc_factor_g"] == ACC_FACTOR_8G
    assert config.details["gyr_factor_dps"] == 2000 / 32768
    assert run_session(52).details["sdk_mode"] is False


def test_session_refuses_rates_the_sensor_does_not_list():
    with pytest.raises(DeviceRefusedError, match="it offers 26, 52, 104, 208, 416 Hz"):
        run_session(100)


def test_unpaired_sensor_refusal_says_to_pair():
    with pytest.raises(DeviceRefusedError) as err:
        run_session(require_pairing=True)
    assert "insufficient authentication" in str(err.value) and "pair" in str(err.value)
    assert run_session(require_pairing=True, paired=True).rate_hz == 208
