"""The recording file format: round trips, crash safety, damage handling, append and repair.

The framing checks here follow docs/recording-format.md independently of the reader, so
the document and the code are tested against each other.
"""

from __future__ import annotations

import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

import imu
import imu.recording as recording
from imu.errors import RecordingError, SampleDataError, SettingsError
from imu.recording import (FILE_SUFFIX, FORMAT_VERSION, Annotation, Calibration, DeviceInfo,
                           Event, RecordingHeader, RecordingWriter, is_recording,
                           iter_recording, read_header, read_recording, repair_recording)
from imu.samples import SampleBlock, concatenate

REPO = Path(__file__).resolve().parents[1]
MAGIC = b"\x89PMREC\r\n\x1a\n"
PREAMBLE_SIZE = 14
RATE_HZ = 200.0
ACC_LSB = 16 * imu.GRAVITY_MPS2 / 32768
GYR_LSB = np.radians(2000 / 32768)


# --------------------------------------------------------------------------- helpers

def make_samples(n: int, *, t0: float = 10.0, mag: bool = False, seq: bool = False,
                 seed: int = 0, quantised: bool = True) -> SampleBlock:
    """Noisy motion like a sacral IMU, on the int16 grid of a +-16 g / +-2000 dps sensor."""
    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) / RATE_HZ
    ph = 2 * np.pi * 0.9 * t[:, None] + np.array([0.0, 1.0, 2.0])
    acc = 1.5 * np.sin(ph) + [0, 0, imu.GRAVITY_MPS2] + rng.normal(0, 0.03, (n, 3))
    gyr = 0.4 * np.sin(2 * ph) + rng.normal(0, 0.002, (n, 3))
    if quantised:
        acc, gyr = np.round(acc / ACC_LSB) * ACC_LSB, np.round(gyr / GYR_LSB) * GYR_LSB
    gap = rng.random(n) < 0.03
    return SampleBlock(t, acc, gyr,
                       mag_uT=np.round(rng.normal(0, 40, (n, 3)) / 0.15) * 0.15 if mag else None,
                       seq=np.arange(n, dtype=np.int64) * 3 + 1_000_000 if seq else None,
                       gap_before=gap)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def header(**kw) -> RecordingHeader:
    return RecordingHeader(RATE_HZ, **kw)


def write_session(path: Path, samples: SampleBlock, *, records: dict | None = None,
                  block: int = 10, flush_s: float = 0.5, hdr: RecordingHeader | None = None,
                  writer: RecordingWriter | None = None) -> list[int]:
    """Write as a live session would (the writer's clock follows the sample clock).

    `records` maps a block index to a list of (method name, args) written after that
    block. Returns the file size after each flush: the chunk ends.
    """
    clock = FakeClock()
    hdr = hdr or header(has_mag=samples.has_mag, has_seq=samples.seq is not None)
    w = writer or RecordingWriter(path, hdr, flush_interval_s=flush_s, clock=clock)
    if writer is not None:
        w._clock = clock  # an appending writer: drive its flushes the same way
    ends = [os.path.getsize(path)]
    for i, b in enumerate(samples.split(block)):
        clock.now = float(b.time_s[-1])
        w.write_samples(b)
        for name, args in (records or {}).get(i, []):
            getattr(w, name)(*args)
        if os.path.getsize(path) != ends[-1]:
            ends.append(os.path.getsize(path))
    w.close()
    if os.path.getsize(path) != ends[-1]:
        ends.append(os.path.getsize(path))
    return ends


def walk_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, type, payload) of every chunk, per docs/recording-format.md."""
    assert data[:10] == MAGIC
    assert struct.unpack_from("<HH", data, 10) == (FORMAT_VERSION, 0)
    pos, out = PREAMBLE_SIZE, []
    while pos < len(data):
        ctype, length, crc = struct.unpack_from("<BII", data, pos)
        payload = data[pos + 9:pos + 9 + length]
        assert zlib.crc32(payload, zlib.crc32(data[pos:pos + 5])) == crc
        out.append((pos, ctype, payload))
        pos += 9 + length
    assert pos == len(data)
    return out


def chunk(ctype: int, payload: bytes) -> bytes:
    head = struct.pack("<BI", ctype, len(payload))
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def assert_same_samples(got: SampleBlock, want: SampleBlock) -> None:
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.time_s, want.time_s)  # float64: exact
    np.testing.assert_array_equal(got.gap_before, want.gap_before)
    for name in ("acc_mps2", "gyr_rps", "mag_uT"):
        g, w = getattr(got, name), getattr(want, name)
        assert (g is None) == (w is None), name
        if w is not None:
            # float32 storage: relative rounding error <= 2^-24 (docs, "Precision").
            assert np.all(np.abs(g - w) <= np.abs(w) * 2.0 ** -24), name
            np.testing.assert_array_equal(g, w.astype(np.float32).astype(np.float64))
    if want.seq is None:
        assert got.seq is None
    else:
        np.testing.assert_array_equal(got.seq, want.seq)


def lost_range(got: SampleBlock, want: SampleBlock) -> tuple[int, int]:
    """Check `got` is `want` minus one run of samples, flagged as a gap; (first lost, count)."""
    kept = np.isin(want.time_s, got.time_s)
    lost = np.flatnonzero(~kept)
    first, n = (int(lost[0]), len(lost)) if len(lost) else (len(want), 0)
    assert np.array_equal(lost, np.arange(first, first + n)), "more than one run lost"
    expected_gap = want.gap_before[kept].copy()
    if n and first < len(got):
        expected_gap[first] = True  # the first sample after the loss
    np.testing.assert_array_equal(got.gap_before, expected_gap)
    np.testing.assert_array_equal(got.time_s, want.time_s[kept])
    np.testing.assert_array_equal(got.acc_mps2, want.acc_mps2[kept].astype(np.float32))
    return first, n


def records_of(path: Path) -> list:
    with iter_recording(path) as it:
        return list(it)


# --------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("mag,seq", [(False, False), (True, False), (False, True), (True, True)])
def test_round_trip_samples_and_gaps(tmp_path, mag, seq):
    samples = make_samples(1234, mag=mag, seq=seq, seed=3)
    path = tmp_path / f"s{FILE_SUFFIX}"
    write_session(path, samples)
    rec = read_recording(path, strict=True)
    assert rec.problems == []
    assert rec.header.has_mag is mag and rec.header.has_seq is seq
    assert rec.file_size_bytes == path.stat().st_size
    assert_same_samples(rec.samples, samples)
    assert rec.samples.time_s.dtype == np.float64 and rec.samples.acc_mps2.flags.c_contiguous


def test_round_trip_header_and_records_in_order(tmp_path):
    samples = make_samples(600)
    t = samples.time_s
    records = {
        5: [("write_annotation", (t[59], "set 2, left leg"))],
        20: [("write_calibration", (t[209], {"R": np.eye(3), "method": "hinge", "conf": 0.9}))],
        33: [("write_event", (t[339], "link", {"state": "lost", "rssi": -80})),
             ("write_annotation", (t[339], "ünïcode ✓"))],
    }
    hdr = header(device=DeviceInfo("MetaMotion", "AA:BB", "mbientlab", "1.7", {"hw": 3}),
                 settings={"fusion": {"beta": 0.1}}, created_utc="")
    path = tmp_path / "r.pmrec"
    write_session(path, samples, records=records, hdr=hdr)

    rec = read_recording(path, strict=True)
    assert rec.header.device == DeviceInfo("MetaMotion", "AA:BB", "mbientlab", "1.7", {"hw": 3})
    assert rec.header.settings == {"fusion": {"beta": 0.1}}
    assert rec.header.sample_rate_hz == RATE_HZ and rec.header.format_version == FORMAT_VERSION
    assert rec.header.software_version == imu.__version__
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", rec.header.created_utc)
    assert rec.annotations == [Annotation(t[59], "set 2, left leg"),
                               Annotation(t[339], "ünïcode ✓")]
    eye = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert rec.calibrations == [Calibration(t[209], {"R": eye, "method": "hinge", "conf": 0.9})]
    assert rec.events == [Event(t[339], "link", {"state": "lost", "rssi": -80})]

    # Streaming: same data, one block per chunk, and every record comes right after the
    # samples received before it (file order == time order).
    items = records_of(path)
    assert_same_samples(concatenate([x for x in items if isinstance(x, SampleBlock)]), samples)
    seen_until = -np.inf
    for item in items:
        if isinstance(item, SampleBlock):
            seen_until = item.time_s[-1]
        else:
            assert item.time_s == seen_until
    assert [type(x).__name__ for x in items if not isinstance(x, SampleBlock)] == \
        ["Annotation", "Calibration", "Event", "Annotation"]
    assert read_header(path) == rec.header


def test_float32_precision_is_far_below_sensor_resolution(tmp_path):
    # Full-scale and tiny values of 16-bit sensors, plus arbitrary float64 values.
    n = 400
    rng = np.random.default_rng(5)
    acc = rng.integers(-32768, 32768, (n, 3)) * ACC_LSB
    gyr = rng.uniform(-35.0, 35.0, (n, 3))
    path = tmp_path / "p.pmrec"
    write_session(path, SampleBlock(np.arange(n) / RATE_HZ, acc, gyr))
    got = read_recording(path).samples
    assert np.max(np.abs(got.acc_mps2 - acc)) < 1e-5 < ACC_LSB / 100
    assert np.max(np.abs(got.gyr_rps - gyr)) < 3e-6 < GYR_LSB / 100
    assert np.all(np.abs(got.gyr_rps - gyr) <= np.abs(gyr) * 2.0 ** -24)


def test_special_values_and_sign_changes_survive(tmp_path):
    t = np.array([-1.5, -0.0 + 1e-300, 1e-3, 3600.0 * 5, 3600.0 * 5 + 1e-6])
    acc = np.array([[np.nan, np.inf, -np.inf], [0.0, -0.0, 1e-40], [-3e38, 3e38, 1.0],
                    [1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]])
    path = tmp_path / "x.pmrec"
    with RecordingWriter(path, header(has_seq=True)) as w:
        w.write_samples(SampleBlock(t, acc, -acc, seq=np.array([-5, 2**62, -2**62, 0, 7])))
    got = read_recording(path, strict=True).samples
    np.testing.assert_array_equal(got.time_s, t)
    np.testing.assert_array_equal(got.acc_mps2, acc.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(got.seq, [-5, 2**62, -2**62, 0, 7])


def test_empty_recording_reads_as_zero_samples(tmp_path):
    path = tmp_path / "e.pmrec"
    with RecordingWriter(path, header(has_mag=True, has_seq=True)) as w:
        w.write_annotation(0.0, "nothing recorded")
    rec = read_recording(path, strict=True)
    assert len(rec.samples) == 0 and rec.samples.has_mag and rec.samples.seq is not None
    assert rec.annotations == [Annotation(0.0, "nothing recorded")]


def test_reference_decoder_in_the_docs_reads_the_files(tmp_path):
    source = (REPO / "docs" / "recording-format.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(import struct, zlib.*?def decode_samples.*?)```", source, re.S)
    namespace: dict = {}
    exec(code.group(1), namespace)
    samples = make_samples(300, mag=True, seq=True)
    path = tmp_path / "d.pmrec"
    write_session(path, samples)
    decoded = [namespace["decode_samples"](p) for _, ctype, p in walk_chunks(path.read_bytes())
               if ctype == 2]
    t, acc, gyr, mag, seq, gap = (np.concatenate(parts) for parts in zip(*decoded))
    assert_same_samples(SampleBlock(t, acc, gyr, mag, seq, gap), samples)


# --------------------------------------------------------------------------- flushing

def test_samples_are_buffered_and_flushed_by_the_clock(tmp_path, monkeypatch):
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    clock = FakeClock()
    path = tmp_path / "f.pmrec"
    w = RecordingWriter(path, header(), clock=clock, flush_interval_s=0.5)
    size0, n0 = path.stat().st_size, len(fsyncs)
    blocks = make_samples(200).split(10)
    for i, b in enumerate(blocks[:9]):
        clock.now = (i + 1) / 20
        w.write_samples(b)
    assert path.stat().st_size == size0 and len(fsyncs) == n0  # 0.45 s: still buffered
    clock.now = 0.5
    w.write_samples(blocks[9])
    assert path.stat().st_size > size0 and len(fsyncs) == n0 + 1  # 0.5 s: one chunk, fsync'ed
    assert w.samples_written == 100
    w.write_samples(blocks[10])
    w.write_annotation(blocks[10].time_s[-1], "now")  # samples first, then the note, synced
    assert len(fsyncs) == n0 + 2
    w.close()
    w.close()  # twice is fine
    sizes = [len(x) for x in records_of(path) if isinstance(x, SampleBlock)]
    assert sizes == [100, 10]


def test_chunks_hold_about_half_a_second(tmp_path):
    path = tmp_path / "c.pmrec"
    write_session(path, make_samples(2000))
    sizes = [len(x) for x in records_of(path) if isinstance(x, SampleBlock)]
    assert max(sizes) <= 0.5 * RATE_HZ + 10 and sum(sizes) == 2000


# --------------------------------------------------------------------------- crash safety

CHILD = r"""
import os, signal, sys, time
import numpy as np
import imu.recording as rec
from imu.samples import SampleBlock

path, die_in_annotation = sys.argv[1], sys.argv[2] == "1"
RATE, BLOCK = 200.0, 10
if die_in_annotation:
    real_write_all = rec._write_all
    def dying_write_all(f, data):  # killed half-way through writing the annotation chunk
        if b'"text":"dying"' in data:
            real_write_all(f, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        real_write_all(f, data)
    rec._write_all = dying_write_all
writer = rec.RecordingWriter(path, rec.RecordingHeader(RATE))
print("ready", flush=True)
start, k, written = time.monotonic(), 0, 0
rng = np.random.default_rng(0)
while True:
    # Sample time follows the wall clock, like a sensor: a starved process loses blocks
    # (marked as a gap) instead of falling behind.
    k = max(k + 1, int((time.monotonic() - start) * RATE / BLOCK))
    t = ((k - 1) * BLOCK + np.arange(BLOCK)) / RATE
    gap = np.zeros(BLOCK, bool)
    gap[0] = written > 0 and t[0] - 1 / RATE > last_t
    writer.write_samples(SampleBlock(t, rng.normal(0, 1, (BLOCK, 3)),
                                     rng.normal(0, 1, (BLOCK, 3)), gap_before=gap))
    print(repr(float(t[-1])), flush=True)
    written, last_t = written + 1, float(t[-1])
    if written % 15 == 0:
        text = "dying" if die_in_annotation and written >= 30 else f"n={written}"
        writer.write_annotation(last_t, text)
    time.sleep(max(0.0, start + k * BLOCK / RATE - time.monotonic()))
"""


def start_child(path: Path, die_in_annotation: bool) -> subprocess.Popen:
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    args = [sys.executable, "-c", CHILD, str(path), "1" if die_in_annotation else "0"]
    proc = subprocess.Popen(args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def reported_times(proc: subprocess.Popen) -> list[float]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    return [float(line) for line in out.split()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_keeps_everything_up_to_the_last_second(tmp_path):
    rnd = random.Random(20260509)
    kill_after = sorted(rnd.uniform(0.6, 2.5) for _ in range(3))
    paths = [tmp_path / f"kill{i}.pmrec" for i in range(4)]
    procs = [start_child(p, die_in_annotation=(i == 3)) for i, p in enumerate(paths)]
    t0 = time.monotonic()
    for proc, delay in zip(procs, kill_after):
        time.sleep(max(0.0, t0 + delay - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
    for i, (proc, path) in enumerate(zip(procs, paths)):
        generated = reported_times(proc)
        rec = read_recording(path)  # must not raise
        assert generated, "the child reported no samples"
        last = rec.samples.time_s[-1] if len(rec.samples) else -np.inf
        assert last >= generated[-1] - 1.0, (i, rec.problems)
        assert last in generated or last > generated[-1]  # killed before it printed
        assert all("truncated" in p for p in rec.problems), rec.problems
        if i == 3:  # killed while writing an annotation: the samples before it are all there
            assert last == generated[-1]
            assert len(rec.problems) == 1 and "byte offset" in rec.problems[0]
            assert "dying" not in [a.text for a in rec.annotations]
            assert len(rec.annotations) == 1
            with pytest.raises(RecordingError, match=re.escape(str(path))):
                read_recording(path, strict=True)


# --------------------------------------------------------------------------- damage

def small_session(path: Path) -> tuple[SampleBlock, list[int]]:
    samples = make_samples(100, mag=True, seq=True, seed=9)
    t = samples.time_s
    ends = write_session(path, samples, block=10, flush_s=0.1, records={
        3: [("write_annotation", (t[39], "a"))],
        5: [("write_calibration", (t[59], {"g": [0, 0, 9.8]}))],
        7: [("write_event", (t[79], "link", {"state": "up"}))]})
    return samples, ends


def test_truncation_at_every_offset_returns_the_readable_prefix(tmp_path):
    src = tmp_path / "full.pmrec"
    samples, _ = small_session(src)
    data = src.read_bytes()
    ends = [off for off, _, _ in walk_chunks(data)][1:] + [len(data)]
    header_end = ends[0]
    full_records = records_of(src)
    cut = tmp_path / "cut.pmrec"
    previous = 0
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        if size < header_end:
            with pytest.raises(RecordingError, match=re.escape(str(cut))):
                read_recording(cut)
            continue
        rec = read_recording(cut)
        n = len(rec.samples)
        assert n >= previous
        previous = n
        assert_same_samples(rec.samples, samples.slice(0, n))
        complete = max(e for e in ends if e <= size)
        if size == complete:
            assert rec.problems == []
            continue
        assert len(rec.problems) == 1 and rec.problems[0].startswith(f"byte offset {complete}:")
        assert "truncated" in rec.problems[0]
        if size % 4:
            continue  # strict mode on every 4th offset keeps the test fast
        with pytest.raises(RecordingError) as exc:
            read_recording(cut, strict=True)
        assert str(cut) in str(exc.value) and f"byte offset {complete}" in str(exc.value)
        assert exc.value.offset == complete
    # The records read from a truncated file are a prefix of the full file's records.
    cut.write_bytes(data[:ends[-3] + 5])
    got = records_of(cut)
    assert [type(x) for x in got] == [type(x) for x in full_records[:len(got)]]


def test_bit_flip_is_caught_by_crc_and_reading_resumes_after_the_chunk(tmp_path):
    src = tmp_path / "full.pmrec"
    samples, _ = small_session(src)
    data = src.read_bytes()
    chunks = walk_chunks(data)
    bad = tmp_path / "bad.pmrec"
    for index, (offset, ctype, payload) in enumerate(chunks[1:-1], start=1):
        flipped = bytearray(data)
        flipped[offset + 9 + len(payload) // 2] ^= 0x10
        bad.write_bytes(bytes(flipped))
        rec = read_recording(bad)
        assert len(rec.problems) == 1, rec.problems
        assert rec.problems[0].startswith(f"byte offset {offset}:") and "CRC" in rec.problems[0]
        assert "resumes" in rec.problems[0]
        if ctype == 2:  # the samples of that chunk are missing, marked as a gap
            assert lost_range(rec.samples, samples)[1] > 0
        else:
            # Nothing lost, but the type byte of a chunk failing its CRC cannot be
            # trusted: the next sample is flagged as a gap in case samples were lost.
            before = len(read_recording_prefix(src, offset, tmp_path))
            flagged = samples.gap_before.copy()
            flagged[before] = True
            assert_same_samples(rec.samples, SampleBlock(samples.time_s, samples.acc_mps2,
                                                         samples.gyr_rps, samples.mag_uT,
                                                         samples.seq, flagged))
        with pytest.raises(RecordingError, match=f"byte offset {offset}"):
            read_recording(bad, strict=True)
    # A flip in the header chunk makes the file unreadable, with a clear error.
    flipped = bytearray(data)
    flipped[PREAMBLE_SIZE + 20] ^= 0x01
    bad.write_bytes(bytes(flipped))
    with pytest.raises(RecordingError, match="header chunk unreadable.*CRC"):
        read_recording(bad)


def test_corrupt_length_field_is_skipped_by_scanning_for_the_next_chunk(tmp_path):
    src = tmp_path / "full.pmrec"
    samples, _ = small_session(src)
    data = bytearray(src.read_bytes())
    offset, _, _ = walk_chunks(bytes(data))[4]
    expected = read_recording_prefix(src, offset, tmp_path)
    data[offset + 4] ^= 0x40  # high byte of the u32 length
    bad = tmp_path / "len.pmrec"
    bad.write_bytes(bytes(data))
    rec = read_recording(bad)
    assert len(rec.problems) == 1 and rec.problems[0].startswith(f"byte offset {offset}:")
    assert "resumes" in rec.problems[0]
    # Everything before the damaged chunk, then everything after it (flagged as a gap).
    first, n = lost_range(rec.samples, samples)
    assert first == len(expected) and n > 0


def read_recording_prefix(path: Path, size: int, tmp_path: Path) -> SampleBlock:
    prefix = tmp_path / "prefix.pmrec"
    prefix.write_bytes(path.read_bytes()[:size])
    return read_recording(prefix, strict=True).samples


def test_a_csv_is_not_a_recording(tmp_path):
    csv = tmp_path / "imu.csv"
    csv.write_text("time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,0,0,9.8,0,0,0\n")
    assert not is_recording(csv)
    with pytest.raises(RecordingError) as exc:
        read_recording(csv)
    assert str(csv) in str(exc.value) and "not a pelvis-monitor recording" in str(exc.value)
    assert "CSV" in exc.value.hint
    with pytest.raises(RecordingError, match="not a pelvis-monitor recording"):
        RecordingWriter.append_to(csv)
    empty = tmp_path / "empty.pmrec"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match="empty"):
        read_recording(empty)
    mangled = tmp_path / "mangled.pmrec"
    mangled.write_bytes(MAGIC[:6] + b"\n" + b"\0" * 40)  # CR LF -> LF by a text-mode copy
    with pytest.raises(RecordingError, match="binary mode"):
        read_header(mangled)


def test_unknown_major_version_is_refused_and_unknown_chunks_are_skipped(tmp_path):
    path = tmp_path / "v.pmrec"
    samples = make_samples(300)
    write_session(path, samples)
    assert is_recording(path)
    data = path.read_bytes()
    future = tmp_path / "future.pmrec"
    future.write_bytes(data[:10] + struct.pack("<HH", 2, 0) + data[14:])
    with pytest.raises(RecordingError, match=r"format version 2\.0, a newer version") as exc:
        read_recording(future)
    assert "update" in exc.value.hint
    # A newer minor version may add chunk types: they are skipped, not damage.
    chunks = walk_chunks(data)
    middle = chunks[3][0]
    minor = tmp_path / "minor.pmrec"
    minor.write_bytes(data[:10] + struct.pack("<HH", 1, 7) + data[14:middle]
                      + chunk(200, b"something new") + data[middle:])
    rec = read_recording(minor, strict=True)
    assert rec.problems == [] and rec.header.format_version == 1
    assert_same_samples(rec.samples, samples)


def test_a_valid_chunk_with_invalid_content_is_reported_and_skipped(tmp_path):
    path = tmp_path / "m.pmrec"
    samples = make_samples(300)
    write_session(path, samples)
    data = path.read_bytes()
    middle = walk_chunks(data)[2][0]
    path.write_bytes(data[:middle] + chunk(3, b'{"time_s": "soon"}') + data[middle:])
    rec = read_recording(path)
    assert len(rec.problems) == 1 and rec.problems[0].startswith(f"byte offset {middle}:")
    assert "time_s" in rec.problems[0]
    assert_same_samples(rec.samples, samples)  # a bad annotation costs no samples: no gap


# --------------------------------------------------------------------------- append, repair

def test_append_continues_the_same_file(tmp_path):
    path = tmp_path / "a.pmrec"
    samples = make_samples(800, seq=True)
    first, second = samples.slice(0, 500), samples.slice(500, 800)
    write_session(path, first, hdr=header(has_seq=True, device=DeviceInfo("dev")))
    created = read_header(path).created_utc

    w = RecordingWriter.append_to(path)
    assert w.header.device.name == "dev" and w.header.created_utc == created
    with pytest.raises(SampleDataError, match="not after the last sample written"):
        w.write_samples(first.slice(490, 500))
    w.write_event(second.time_s[0], "link", {"state": "reconnected"})
    write_session(path, second, writer=w)

    rec = read_recording(path, strict=True)
    assert_same_samples(rec.samples, samples)
    assert rec.events == [Event(second.time_s[0], "link", {"state": "reconnected"})]
    assert w.samples_written == 300


def test_append_refuses_a_damaged_file_and_repair_fixes_it(tmp_path):
    path = tmp_path / "r.pmrec"
    samples = make_samples(600)
    ends = write_session(path, samples)
    original = path.read_bytes()
    path.write_bytes(original[:-7])  # a crash mid-chunk
    with pytest.raises(RecordingError, match="cannot append to a damaged recording") as exc:
        RecordingWriter.append_to(path)
    assert "repair_recording" in exc.value.hint

    report = repair_recording(path)
    assert report.backup_path == str(path) + ".bak"
    assert Path(report.backup_path).read_bytes() == original[:-7]  # nothing is lost
    assert report.kept_bytes == ends[-2] == path.stat().st_size
    assert report.dropped_bytes == len(original) - 7 - ends[-2]
    assert len(report.problems) == 1
    rec = read_recording(path, strict=True)
    assert_same_samples(rec.samples, read_recording(report.backup_path).samples)

    with RecordingWriter.append_to(path) as w:
        w.write_samples(samples.slice(len(rec.samples), len(samples)))
    assert_same_samples(read_recording(path, strict=True).samples, samples)

    # An intact file is left alone; a second backup never overwrites the first.
    assert repair_recording(path).backup_path is None
    path.write_bytes(path.read_bytes() + b"\0" * 12)
    assert repair_recording(path).backup_path == str(path) + ".bak.2"


def test_repair_keeps_the_data_after_a_damaged_middle_chunk(tmp_path):
    path = tmp_path / "mid.pmrec"
    samples = make_samples(600)
    write_session(path, samples)
    data = bytearray(path.read_bytes())
    offset, ctype, payload = walk_chunks(bytes(data))[3]
    assert ctype == 2
    data[offset + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    damaged = read_recording(path)
    report = repair_recording(path)
    assert report.dropped_bytes == 9 + len(payload)
    repaired = read_recording(path, strict=True)
    assert_same_samples(repaired.samples, damaged.samples)
    first_lost, n_lost = lost_range(repaired.samples, samples)
    assert n_lost > 0 and first_lost + n_lost < len(samples)  # later data kept
    assert Path(report.backup_path).read_bytes() == bytes(data)


# --------------------------------------------------------------------------- writer errors

def test_writer_refuses_existing_files_unless_overwrite(tmp_path):
    path = tmp_path / "o.pmrec"
    RecordingWriter(path, header()).close()
    with pytest.raises(RecordingError, match="already exists") as exc:
        RecordingWriter(path, header())
    assert "append_to" in exc.value.hint
    with RecordingWriter(path, header(), overwrite=True) as w:
        w.write_samples(make_samples(10))
    assert len(read_recording(path).samples) == 10


def test_writer_fails_early_when_the_folder_cannot_be_written(tmp_path):
    with pytest.raises(RecordingError, match="cannot create the recording") as exc:
        RecordingWriter(tmp_path / "missing" / "x.pmrec", header())
    assert "does not exist" in exc.value.hint
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(RecordingError, match="cannot create the recording"):
        RecordingWriter(a_file / "x.pmrec", header())


def test_writer_reports_a_permission_error_clearly(tmp_path, monkeypatch):
    # As root no folder is read-only, so the OS refusal is simulated here.
    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(recording, "open", refuse, raising=False)
    with pytest.raises(RecordingError, match="cannot create the recording: Permission denied") \
            as exc:
        RecordingWriter(tmp_path / "x.pmrec", header())
    assert "not writable" in exc.value.hint and str(tmp_path / "x.pmrec") in str(exc.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_writer_fails_early_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(RecordingError, match="cannot create the recording") as exc:
            RecordingWriter(ro / "x.pmrec", header())
        assert "not writable" in exc.value.hint
    finally:
        ro.chmod(0o700)


def test_writer_validates_its_input(tmp_path):
    with pytest.raises(SettingsError, match="sample_rate_hz"):
        RecordingWriter(tmp_path / "bad.pmrec", RecordingHeader(0.0))
    with pytest.raises(SettingsError, match="JSON"):
        RecordingWriter(tmp_path / "bad.pmrec", header(settings={"x": object()}))
    assert not (tmp_path / "bad.pmrec").exists()  # nothing created for a bad header
    path = tmp_path / "v.pmrec"
    w = RecordingWriter(path, header(has_mag=True))
    with pytest.raises(SampleDataError, match="has mag_uT, but the block lacks it"):
        w.write_samples(make_samples(10))
    w.write_samples(make_samples(10, mag=True))
    with pytest.raises(SampleDataError, match="not after the last sample"):
        w.write_samples(make_samples(10, mag=True))
    with pytest.raises(SampleDataError, match="float32 range"):
        big = make_samples(10, mag=True, t0=20.0)
        w.write_samples(SampleBlock(big.time_s, big.acc_mps2 * 1e300, big.gyr_rps, big.mag_uT))
    with pytest.raises(SettingsError, match="NaN"):
        w.write_calibration(1.0, {"bias": float("nan")})
    with pytest.raises(SettingsError, match="time_s"):
        w.write_annotation(float("inf"), "x")
    w.close()
    with pytest.raises(RecordingError, match="closed"):
        w.write_samples(make_samples(10, mag=True, t0=30.0))
    rec = read_recording(path, strict=True)  # the refused input left no trace
    assert len(rec.samples) == 10 and rec.calibrations == [] and rec.annotations == []


def test_a_failed_write_leaves_an_intact_file(tmp_path, monkeypatch):
    path = tmp_path / "full_disk.pmrec"
    w = RecordingWriter(path, header())
    w.write_samples(make_samples(50))
    w.flush()
    real = recording._write_all

    def disk_full(f, data):
        real(f, data[:len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recording, "_write_all", disk_full)
    w.write_samples(make_samples(50, t0=20.0))
    with pytest.raises(RecordingError, match="No space left"):
        w.flush()
    with pytest.raises(RecordingError, match="earlier error"):
        w.write_annotation(21.0, "x")
    w.close()
    assert len(read_recording(path, strict=True).samples) == 50
