"""Decoders and readers under random, truncated, extended and mutated input.

Properties (targets and mutator in tests/fuzz_targets.py; a longer run is
`python -m bench.fuzz_decoders`):
- nothing but the documented refusal escapes a decoder or reader, and every refusal
  has a reason;
- a bad notification between good ones is counted with its reason, and the good ones
  around it decode exactly as without it;
- a recording damaged in the middle still gives every sample before and after the
  damaged chunk (lenient reading), reports where, and repairs to a strict-readable file.
Then one regression test per bug these runs and the review around them found.
Deterministic: hypothesis is derandomized (same examples every run).
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu.devices import movesense as ms
from imu.devices import open_profile as op
from imu.devices import polar
from imu.devices import polar_pmd as pmd
from imu.devices import witmotion as wit
from imu.devices.base import reason_key
from imu.devices.errors import MalformedFrameError
from imu.errors import RecordingError
from imu.recording import (RecordingHeader, RecordingWriter, iter_recording, read_recording,
                           repair_recording)
from imu.samples import SampleBlock
from tests.fuzz_targets import (POLAR_ACC, STREAMS, FileTargets, device_targets,
                                example_samples, mutate, write_example_recording)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FILE_FUZZ = settings(FUZZ, max_examples=80)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> FileTargets:
    return FileTargets(tmp_path_factory.mktemp("fuzz"))


# ---------------------------------------------------------------- nothing else escapes

@pytest.mark.parametrize("target", device_targets(), ids=lambda t: t.name)
def test_device_decoders_refuse_hostile_payloads_with_a_reason(target):
    for seed in target.seeds:  # the seeds are valid: the target decodes something
        assert target.decode(seed).rejected == ()

    @FUZZ
    @given(st.randoms(use_true_random=False))
    def hostile(rnd):
        outcome = target.decode(mutate(rnd, target.seeds))  # anything else raises here
        assert all(r.strip() for r in outcome.rejected)

    hostile()


@pytest.mark.parametrize("name", ["recording.read", "recording.repair", "csv.read",
                                  "inputs.load"])
def test_file_readers_refuse_hostile_files_with_a_reason(files, name):
    target = next(t for t in files.targets() if t.name == name)
    for seed in target.seeds:
        assert target.decode(seed).accepted > 0

    @FILE_FUZZ
    @given(st.randoms(use_true_random=False))
    def hostile(rnd):
        outcome = target.decode(mutate(rnd, target.seeds))
        assert all(r.strip() for r in outcome.rejected)

    hostile()


# ---------------------------------------------------------------- bad between good

def _counts_as_bad(make, bad: bytes, good: bytes) -> bool:
    """A fresh parser yields nothing for `bad`, counts it, and still decodes `good`."""
    parser, alone = make(), make()
    if parser.feed(bad):
        return False
    frames = parser.feed(good)
    return parser.malformed >= 1 and _same(frames, alone.feed(good))


def _same(a: list, b: list) -> bool:
    def cat(frames, name):
        parts = [getattr(f, name) for f in frames if getattr(f, name) is not None]
        return np.concatenate(parts) if parts else np.zeros(0)
    return all(np.array_equal(cat(a, n), cat(b, n))
               for n in ("acc_mps2", "gyr_rps", "device_time_s"))


@pytest.mark.parametrize("profile", list(STREAMS))
def test_good_notifications_around_bad_ones_still_decode(profile):
    make, goods = STREAMS[profile]
    expected = [f for g in goods for f in make().feed(g)] if profile != "polar" else \
        [f for p in [make()] for g in goods for f in p.feed(g)]
    assert expected, "the good notifications must decode to frames"

    @FUZZ
    @given(st.lists(st.randoms(use_true_random=False), min_size=1, max_size=len(goods) - 1))
    def interleaved(rnds):
        bads = [b for b in (mutate(r, goods) for r in rnds) if _counts_as_bad(make, b, goods[0])]
        bads = bads or [b"\x00\x13\x37"]  # garbage that every profile refuses
        parser, frames = make(), []
        for i, good in enumerate(goods):
            frames += parser.feed(good)
            if i < len(bads):
                frames += parser.feed(bads[i])
        assert _same(frames, expected)
        assert parser.malformed >= len(bads)
        assert sum(parser.reasons.values()) == parser.malformed
        assert all(reason.strip() for reason in parser.reasons) and parser.last_reason

    interleaved()


# ---------------------------------------------------------------- recordings

def _chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, end, type) of each chunk after the preamble (docs/recording-format.md)."""
    pos, out = 14, []
    while pos < len(data):
        ctype, length = struct.unpack_from("<BI", data, pos)
        out.append((pos, pos + 9 + length, ctype))
        pos += 9 + length
    return out


DAMAGE = ("flip", "overwrite", "insert", "delete", "length")


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    """A recording of 600 samples in chunks of 50, with JSON records between them."""
    folder = tmp_path_factory.mktemp("middle")
    samples = example_samples(600, seed=3)
    write_example_recording(folder / "ok.pmrec", samples)
    raw = (folder / "ok.pmrec").read_bytes()
    return folder, samples, raw, _chunks(raw)


def _damage(data, raw: bytes, start: int, end: int) -> bytes:
    """`raw` damaged inside the chunk [start, end) only, in one of the DAMAGE ways."""
    how = data.draw(st.sampled_from(DAMAGE), label="damage")
    at = data.draw(st.integers(start + 1, end - 1), label="offset")
    n = data.draw(st.integers(1, min(8, end - at)), label="bytes")
    if how == "flip":
        return raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1:]
    if how == "overwrite":
        junk = bytes(a ^ b for a, b in zip(raw[at:at + n],
                                           data.draw(st.binary(min_size=n, max_size=n))))
        return raw[:at] + junk + raw[at + n:] if junk != raw[at:at + n] else \
            raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1:]
    if how == "insert":
        return raw[:at] + data.draw(st.binary(min_size=n, max_size=n)) + raw[at:]
    if how == "delete":
        return raw[:at] + raw[at + n:]
    length = data.draw(st.integers(0, 2**32 - 1).filter(lambda v: v != end - start - 9))
    return raw[:start + 1] + struct.pack("<I", length) + raw[start + 5:]  # framing lost


@FILE_FUZZ
@given(data=st.data())
def test_damage_in_the_middle_keeps_the_samples_before_and_after(intact, data):
    folder, samples, raw, chunks = intact
    k = data.draw(st.integers(2, len(chunks) - 2), label="damaged chunk")  # not the header
    start, end, ctype = chunks[k]
    path = folder / "bad.pmrec"
    path.write_bytes(_damage(data, raw, start, end))

    rec = read_recording(path)
    assert rec.problems and rec.problems[0].startswith(f"byte offset {start}:")
    lost = np.zeros(len(samples), bool)
    if ctype == 2:  # the samples of the damaged chunk, and only those, are missing
        before = sum(1 for s, e, t in chunks[:k] if t == 2)
        lost[before * 50:(before + 1) * 50] = True
    np.testing.assert_array_equal(rec.samples.time_s, samples.time_s[~lost])
    np.testing.assert_array_equal(rec.samples.acc_mps2,
                                  samples.acc_mps2[~lost].astype(np.float32))
    with iter_recording(path) as it:
        assert sum(len(b) for b in it if hasattr(b, "acc_mps2")) == len(rec.samples)
    with pytest.raises(RecordingError, match=f"byte offset {start}"):
        read_recording(path, strict=True)
    report = repair_recording(path)
    assert report.backup_path and report.problems == rec.problems
    fixed = read_recording(path, strict=True)
    np.testing.assert_array_equal(fixed.samples.time_s, rec.samples.time_s)


# ---------------------------------------------------------------- regressions

def test_polar_timestamp_beyond_int64_is_refused_not_an_overflow():
    # Was: OverflowError out of the notification parser (numpy int64 arithmetic).
    frame = pmd.encode_frame(pmd.TYPE_ACC, 2**64 - 1, pmd.COMPRESSED, POLAR_ACC[0][10:])
    parser = STREAMS["polar"][0]()
    assert parser.feed(frame) == [] and parser.malformed == 1
    assert "timestamp" in parser.last_problem
    assert list(parser.reasons) == ["timestamp # ns is past the year # (beyond int# nanoseconds)"]


def test_polar_start_response_without_a_usable_factor_is_malformed():
    # Was: IndexError (a FACTOR setting with no value) or a silent NaN/0 scale.
    for params in (bytes([pmd.SET_FACTOR, 0]),
                   pmd.encode_settings({pmd.SET_FACTOR: [float("nan")]}),
                   pmd.encode_settings({pmd.SET_FACTOR: [0.0]})):
        with pytest.raises(MalformedFrameError, match="no usable factor"):
            pmd.decode_factor(params)
    assert pmd.decode_factor(b"") == 1.0  # absent: counts are the unit


def test_polar_stream_repeating_one_timestamp_cannot_grow_without_bound():
    parser = STREAMS["polar"][0]()
    for _ in range(400):  # accelerometer only, the same frame again and again
        parser.feed(POLAR_ACC[0])
    assert parser.unpaired >= 400 * 4 - (2 * polar.PAIRING_WINDOW_S * 200 + 64)


def test_open_capabilities_without_rates_are_malformed():
    # Was: ValueError from min() over no rates when the session picked its default rate.
    for rates in ((), (0, 200)):
        caps = op.OpenCapabilities(rates, (16,), (2000,), 6).encode()
        with pytest.raises(MalformedFrameError, match="no usable sample rate"):
            op.OpenCapabilities.decode(caps)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e30])
def test_movesense_values_no_sensor_sends_are_malformed(value):
    acc = np.full((2, 3), 1.0, dtype=np.float32)
    acc[1, 2] = value  # Was: accepted as acceleration
    parser = ms.MovesenseParser(104.0)
    assert parser.feed(ms.encode_imu6(ms.REF_IMU, 5, acc, np.zeros((2, 3)))) == []
    assert parser.malformed == 1 and "range" in parser.last_problem


def test_movesense_split_message_is_bounded():
    # Was: DATA_PART2 continuations appended for ever while no whole message formed.
    parser = ms.MovesenseParser(104.0)
    parser.feed(bytes([ms.RESP_DATA, ms.REF_IMU]) + b"\x01" * 101)
    for _ in range(60):
        parser.feed(bytes([ms.RESP_DATA_PART2, ms.REF_IMU]) + b"\x01" * 100)
    assert any("longer than" in reason for reason in parser.reasons)
    assert len(parser._partial) <= ms.MAX_IMU6_PAYLOAD


def test_witmotion_short_register_reply_is_malformed():
    # Was: struct.error for anything but exactly 20 bytes.
    with pytest.raises(MalformedFrameError, match="register reply"):
        wit.decode_register_reply(wit.encode_register_reply(3, [1])[:12])


def _chunk(ctype: int, payload: bytes) -> bytes:
    head = struct.pack("<BI", ctype, len(payload))
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


@pytest.mark.parametrize("payload,problem", [
    (b"[" * 100_000, "not valid UTF-8 JSON"),                           # Was: RecursionError
    (struct.pack("<IBB", 2**32 - 1, 3, 1) + zlib.compress(b"x"), "more than the"),
], ids=["deep-json", "huge-sample-count"])
def test_crc_valid_hostile_chunks_are_reported_and_skipped(tmp_path, payload, problem):
    src = tmp_path / "ok.pmrec"
    samples = example_samples(300)
    write_example_recording(src, samples)
    raw = src.read_bytes()
    at = _chunks(raw)[3][0]
    ctype = 3 if payload.startswith(b"[") else 2
    (tmp_path / "bad.pmrec").write_bytes(raw[:at] + _chunk(ctype, payload) + raw[at:])
    rec = read_recording(tmp_path / "bad.pmrec")
    assert len(rec.problems) == 1 and problem in rec.problems[0]
    np.testing.assert_array_equal(rec.samples.time_s, samples.time_s)


def test_non_finite_sample_time_is_damage(tmp_path):
    # Was: a chunk whose times end in +inf passed the order check and was returned (the
    # writer does not refuse such a block either, so a buggy source could store one).
    good = example_samples(300, mag=False)
    with RecordingWriter(tmp_path / "inf.pmrec", RecordingHeader(200.0, has_seq=True),
                         flush_interval_s=0.0) as w:
        w.write_samples(good)
        t = good.time_s[-1] + np.array([0.005, np.inf])
        w.write_samples(SampleBlock(t, np.zeros((2, 3)) + [0, 0, 9.8], np.zeros((2, 3)),
                                    seq=np.array([300, 301])))
    rec = read_recording(tmp_path / "inf.pmrec")
    assert len(rec.problems) == 1 and "not a finite number" in rec.problems[0]
    np.testing.assert_array_equal(rec.samples.time_s, good.time_s)


def test_reason_keys_are_bounded_whatever_the_numbers():
    assert reason_key("header announces 17 samples (218 bytes)") == \
        reason_key("header announces 3 samples (50 bytes)")
    assert reason_key("unsupported frame type 0x81 for accelerometer") == \
        "unsupported frame type # for accelerometer"
    json.dumps(reason_key("x"))  # plain text for status lines and tables
