"""Fuzz targets: every byte decoder and file reader, with valid seeds and a mutator.

Shared by tests/test_fuzz_decoders.py (hypothesis drives `mutate` with its Random, so
runs are reproducible and shrink) and bench/fuzz_decoders.py (many more inputs).

A target's `decode(data)` returns an Outcome: what was accepted, and the reason for
everything refused. Refusals are the project's documented errors (MalformedFrameError
for device payloads, InputFileError subclasses for files) or, for readers that skip
damage, their counted reasons. Any other exception escapes `decode`: that is a bug.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from imu.csv_io import read_imu_csv, write_imu_csv
from imu.devices import movesense as ms
from imu.devices import open_profile as op
from imu.devices import polar, sig
from imu.devices import polar_pmd as pmd
from imu.devices import witmotion as wit
from imu.devices.base import FrameParser, ImuFrame, StreamConfig, reason_key
from imu.devices.errors import MalformedFrameError
from imu.errors import InputFileError, PelvisMonitorError
from imu.inputs import load_input
from imu.recording import (DeviceInfo, RecordingHeader, RecordingWriter, iter_recording,
                           read_header, read_recording, repair_recording)
from imu.samples import SampleBlock


@dataclass(frozen=True)
class Outcome:
    """What one input gave: items accepted (frames, samples, values) and refusal reasons."""

    accepted: int
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    name: str
    seeds: tuple[bytes, ...]
    decode: Callable[[bytes], Outcome]


# ----------------------------------------------------------------------------- mutation

# Values that break parsers: number edge cases, separators, encodings, format magic.
TOKENS = (b"nan", b"inf", b"-inf", b"1e308", b"1e-320", b"-0", b"", b",", b",,,", b"\n",
          b"\r", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xc3\x28", b"\xe9", b"9" * 40,
          b"0x10", b"1,5", b"\x89PMREC\r\n\x1a\n", b"\x7f\xff\xff\xff", b"\xff" * 8,
          b"\x00" * 8, b"{", b"[" * 64, b'"', b"time_s")


def mutate(rnd: random.Random, seeds: tuple[bytes, ...]) -> bytes:
    """One hostile input: random, truncated, extended, bit-flipped, spliced or token-laced."""
    seed = rnd.choice(seeds)
    op_ = rnd.randrange(9)
    if op_ == 0:  # random bytes
        return rnd.randbytes(rnd.randrange(0, 2 * len(seed) + 8))
    if op_ == 1:  # truncated
        return seed[:rnd.randrange(len(seed) + 1)]
    if op_ == 2:  # extended
        return seed + rnd.randbytes(rnd.randrange(1, 64))
    if op_ == 3:  # splice of two seeds
        other = rnd.choice(seeds)
        return seed[:rnd.randrange(len(seed) + 1)] + other[rnd.randrange(len(other) + 1):]
    if op_ == 4:  # a span deleted or duplicated (framing shifts)
        a = rnd.randrange(len(seed) + 1)
        b = min(len(seed), a + rnd.randrange(1, 32))
        return seed[:a] + seed[b:] if rnd.random() < 0.5 else seed[:b] + seed[a:]
    if op_ == 5 and seed:  # a span overwritten with random bytes
        a = rnd.randrange(len(seed))
        return seed[:a] + rnd.randbytes(rnd.randrange(1, 16)) + seed[a + 16:]
    if op_ == 6:  # a token inserted or written over
        a = rnd.randrange(len(seed) + 1)
        cut = rnd.randrange(0, 8)
        return seed[:a] + rnd.choice(TOKENS) + seed[a + cut:]
    # bit flips
    data = bytearray(seed or b"\x00")
    for _ in range(1 + rnd.randrange(8)):
        data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    return bytes(data)


# ----------------------------------------------------------------------------- checks

def check_frame(frame: ImuFrame) -> None:
    """What every accepted frame must satisfy, whatever bytes it came from."""
    n = len(frame)
    assert n >= 1 and frame.acc_mps2.shape == (n, 3) and frame.gyr_rps.shape == (n, 3)
    assert np.isfinite(frame.acc_mps2).all() and np.isfinite(frame.gyr_rps).all()
    if frame.device_time_s is not None:
        assert frame.device_time_s.shape == (n,) and np.isfinite(frame.device_time_s).all()


def check_samples(s: SampleBlock) -> None:
    assert s.acc_mps2.shape == s.gyr_rps.shape == (len(s), 3)
    assert np.all(np.diff(s.time_s) > 0) and np.isfinite(s.time_s).all()


def _refused(exc: PelvisMonitorError) -> Outcome:
    return Outcome(0, (reason_key(getattr(exc, "problem", str(exc))),))


def _payload(decode: Callable[[bytes], object], count: Callable[[object], int]) -> Callable:
    """A target for a pure decoder that raises MalformedFrameError on refusal."""
    def run(data: bytes) -> Outcome:
        try:
            result = decode(data)
        except MalformedFrameError as exc:
            return _refused(exc)
        return Outcome(count(result))
    return run


def _stream(make: Callable[[], FrameParser]) -> Callable:
    """A target for a stateful parser fed one notification: it must never raise.

    Accepted items: the samples decoded, or 1 for a notification taken in without
    samples yet (a partial packet, a frame waiting for its partner stream)."""
    def run(data: bytes) -> Outcome:
        parser = make()
        frames = parser.feed(data)
        for f in frames:
            check_frame(f)
        assert sum(parser.reasons.values()) == parser.malformed
        if parser.malformed:
            return Outcome(sum(len(f) for f in frames), tuple(parser.reasons.elements()))
        return Outcome(max(1, sum(len(f) for f in frames)))
    return run


def _battery(data: bytes) -> Outcome:
    """Battery level: informative only, so a bad value reads as unknown (None)."""
    level = sig.decode_battery_level(data)
    if level is None:
        return Outcome(0, ("no battery level (empty or reserved value)",))
    assert 0 <= level <= 100
    return Outcome(1)


def _frame_count(frame: ImuFrame) -> int:
    check_frame(frame)
    return len(frame)


# ----------------------------------------------------------------------------- seeds

RATE_HZ = 200.0
_rng = np.random.default_rng(7)
_ACC = _rng.integers(-3000, 3000, (8, 3))
_GYR = _rng.integers(-800, 800, (8, 3))
OPEN_FRAMES = tuple(op.encode_frame(65530 + 4 * k, 4_294_960_000 + 20_000 * k,
                                    _ACC[k:k + 4], _GYR[k:k + 4]) for k in range(3))
WIT_PACKETS = tuple(wit.encode_data_packet(_ACC[k], _GYR[k], _ACC[k] // 3) for k in range(4))
WIT_REPLY = wit.encode_register_reply(wit.REG_RATE, [0x0B, 0, 1, 2])
MS_DATA = tuple(ms.encode_imu6(ms.REF_IMU, 1000 + 40 * k, _ACC[k:k + 2] / 300.0,
                               _GYR[k:k + 2] / 10.0) for k in range(3))
POLAR_ACC = tuple(pmd.encode_frame(pmd.TYPE_ACC, 800_000_000_000_000_000 + k * 19_230_769,
                                   pmd.COMPRESSED, pmd.encode_delta_frames(_ACC[k:k + 4]))
                  for k in range(3))
POLAR_GYR = tuple(pmd.encode_frame(pmd.TYPE_GYRO, 800_000_000_000_000_000 + k * 19_230_769,
                                   pmd.COMPRESSED, pmd.encode_delta_frames(_GYR[k:k + 4]))
                  for k in range(3))
POLAR_START_PARAMS = pmd.encode_settings({pmd.SET_FACTOR: [0.000244]})


STREAMS: dict[str, tuple[Callable[[], FrameParser], tuple[bytes, ...]]] = {
    "open": (lambda: op.OpenParser(StreamConfig(RATE_HZ, 16.0, 2000.0, "device counter")),
             OPEN_FRAMES),
    "witmotion": (wit.WitParser, WIT_PACKETS),
    "movesense": (lambda: ms.MovesenseParser(104.0), MS_DATA),
    "polar": (lambda: polar.PolarParser(RATE_HZ, 0.000244, 0.0610),
              tuple(f for pair in zip(POLAR_ACC, POLAR_GYR) for f in pair)),
}
"""Per profile: a new stream parser, and good notifications in stream order."""


# ----------------------------------------------------------------------------- replies

class _NamedLink:
    """All the notification handlers of a session need from its link."""

    name = "fuzz-sensor"
    address = "00:00:00:00:00:00"


_LOOP: asyncio.AbstractEventLoop | None = None


def _route_replies(data: bytes) -> Outcome:
    """Each session's notification handler routes `data` to waiting commands (replies.py);
    whatever it resolves is decoded as that session would."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(_route_async(data))


async def _route_async(data: bytes) -> Outcome:
    accepted, reasons = 0, []
    sessions = (
        (wit.WitSession(_NamedLink()), "_on_notify", [wit.REG_RATE, wit.REG_BATTERY_CV],
         lambda v: v[0]),
        (ms.MovesenseSession(_NamedLink()), "_on_notify",
         [ms.REF_HELLO, ms.REF_IMU, ms.REF_BATTERY],
         lambda v: ms.decode_result(v)[1] if v[1] != ms.REF_HELLO else ms.decode_hello(v)),
        (polar.PolarSession(_NamedLink()), "_on_control",
         [(pmd.OP_START, pmd.TYPE_ACC), (pmd.OP_GET_SETTINGS, pmd.TYPE_GYRO)],
         lambda r: (pmd.decode_settings(r.params), pmd.decode_factor(r.params)
                    if r.opcode == pmd.OP_START and r.ok else None)),
    )
    for session, handler, keys, use in sessions:
        futures = [session._replies.expect(k) for k in keys]
        getattr(session, handler)(data, 0.0)
        for fut in futures:
            if not fut.done():
                fut.cancel()
                continue
            try:
                use(fut.result())
                accepted += 1
            except MalformedFrameError as exc:
                reasons.append(reason_key(exc.problem))
    return Outcome(accepted, tuple(reasons))


# ----------------------------------------------------------------------------- files

def example_samples(n: int = 600, seed: int = 0, mag: bool = True) -> SampleBlock:
    """Quiet standing then sway, on a 200 Hz clock (plausible units: passes load_input)."""
    rng = np.random.default_rng(seed)
    t = 5.0 + np.arange(n) / RATE_HZ
    acc = np.array([0.0, 0.0, 9.80665]) + rng.normal(0, 0.02, (n, 3))
    acc[n // 2:] += np.sin(t[n // 2:, None] * 6.0) * [1.0, 0.5, 0.2]
    gyr = rng.normal(0, 0.01, (n, 3))
    gap = np.zeros(n, dtype=bool)
    return SampleBlock(t, acc, gyr, rng.normal(30, 1, (n, 3)) if mag else None,
                       np.arange(n, dtype=np.int64), gap)


def write_example_recording(path: Path, samples: SampleBlock, chunk: int = 50) -> None:
    """Several samples chunks (one per `chunk` samples) with an annotation, a calibration
    and an event between them."""
    header = RecordingHeader(RATE_HZ, DeviceInfo("fuzz", "00:11", "open", "1.0"),
                             has_mag=samples.mag_uT is not None, has_seq=samples.seq is not None,
                             settings={"pipeline": {"exercise": "auto"}})
    with RecordingWriter(path, header, flush_interval_s=0.0, overwrite=True) as w:
        for k, block in enumerate(samples.split(chunk)):
            w.write_samples(block)
            if k == 2:
                w.write_annotation(float(block.time_s[-1]), "set 1, left leg")
            if k == 4:
                w.write_calibration(float(block.time_s[-1]), {"confidence": 0.9})
                w.write_event(float(block.time_s[-1]), "link", {"state": "lost"})


class FileTargets:
    """Targets that read files: each input is written to one scratch file in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        seed_rec = self.folder / "seed.pmrec"
        write_example_recording(seed_rec, example_samples())
        self.recording_seed = seed_rec.read_bytes()
        seed_csv = self.folder / "seed.csv"
        write_imu_csv(seed_csv, example_samples(400, seed=1, mag=False))
        self.csv_seed = seed_csv.read_bytes()

    def _put(self, data: bytes, suffix: str) -> Path:
        path = self.folder / f"input{suffix}"
        path.write_bytes(data)
        return path

    def read_recording(self, data: bytes) -> Outcome:
        """read_recording, iter_recording and read_header agree; damage is reported."""
        path = self._put(data, ".pmrec")
        try:
            header = read_header(path)
            rec = read_recording(path)
        except InputFileError as exc:
            return _refused(exc)
        assert rec.header == header
        check_samples(rec.samples)
        with iter_recording(path) as it:
            blocks = [r for r in it if isinstance(r, SampleBlock)]
            assert it.problems == rec.problems
        assert sum(len(b) for b in blocks) == len(rec.samples)
        return Outcome(len(rec.samples), tuple(reason_key(p) for p in rec.problems))

    def repair_recording(self, data: bytes) -> Outcome:
        """After repair, a strict read succeeds and gives what a lenient read gave."""
        path = self._put(data, ".pmrec")
        try:
            lenient = read_recording(path)
            report = repair_recording(path)
        except InputFileError as exc:
            return _refused(exc)
        repaired = read_recording(path, strict=True)
        assert np.array_equal(repaired.samples.time_s, lenient.samples.time_s)
        assert bool(report.problems) == bool(lenient.problems)
        if report.backup_path:
            Path(report.backup_path).unlink()
        return Outcome(len(repaired.samples), tuple(reason_key(p) for p in report.problems))

    def read_csv(self, data: bytes) -> Outcome:
        path = self._put(data, ".csv")
        try:
            imp = read_imu_csv(path)
        except InputFileError as exc:
            return _refused(exc)
        check_samples(imp.samples)
        return Outcome(imp.rows)

    def load_input(self, data: bytes) -> Outcome:
        path = self._put(data, ".dat")
        try:
            loaded = load_input(path)
        except InputFileError as exc:
            return _refused(exc)
        check_samples(loaded.samples)
        assert np.isfinite(loaded.samples.acc_mps2).all()
        return Outcome(len(loaded.samples), tuple(reason_key(n) for n in loaded.notes))

    def targets(self) -> list[Target]:
        rec, csv = (self.recording_seed,), (self.csv_seed,)
        return [Target("recording.read", rec, self.read_recording),
                Target("recording.repair", rec, self.repair_recording),
                Target("csv.read", csv, self.read_csv),
                Target("inputs.load", rec + csv, self.load_input)]


def device_targets() -> list[Target]:
    """Every device decoder (pure codecs and stream parsers) and the reply routing."""
    caps = op.OpenCapabilities((50, 100, 200), (4, 16), (500, 2000), 19).encode()
    config = op.OpenConfig(200, 16, 2000, 6).encode()
    settings = pmd.encode_settings({pmd.SET_SAMPLE_RATE: [26, 52, 104, 208],
                                    pmd.SET_RESOLUTION: [16], pmd.SET_RANGE: [2, 4, 8]})
    cp = (pmd.encode_cp_response(pmd.OP_START, pmd.TYPE_ACC, 0, POLAR_START_PARAMS),
          pmd.encode_cp_response(pmd.OP_GET_SETTINGS, pmd.TYPE_GYRO, 0, settings))
    hello = b"\x01\x01\x01" + b"220330000123\x00Movesense\x00AA\x00app\x001.2\x00"
    return [
        Target("open.frame", OPEN_FRAMES,
               _payload(lambda d: op.decode_frame(d, RATE_HZ, 16.0, 2000.0), _frame_count)),
        Target("open.config", (config,), _payload(op.OpenConfig.decode, lambda c: 1)),
        Target("open.capabilities", (caps,), _payload(op.OpenCapabilities.decode, lambda c: 1)),
        Target("open.stream", OPEN_FRAMES, _stream(STREAMS["open"][0])),
        Target("witmotion.stream", (b"".join(WIT_PACKETS[:2]), WIT_PACKETS[2] + WIT_REPLY,
                                    WIT_PACKETS[3][:9]),
               _stream(STREAMS["witmotion"][0])),
        Target("witmotion.register_reply", (WIT_REPLY,),
               _payload(wit.decode_register_reply, lambda r: 1)),
        Target("movesense.imu6", tuple(d[2:] for d in MS_DATA),
               _payload(lambda d: ms.decode_imu6(d, 104.0), _frame_count)),
        Target("movesense.stream", MS_DATA + (MS_DATA[0][:30],),
               _stream(STREAMS["movesense"][0])),
        Target("movesense.result", (ms.encode_result(ms.REF_BATTERY, 200, b"\x57"),),
               _payload(ms.decode_result, lambda r: 1)),
        Target("movesense.hello", (hello,), _payload(ms.decode_hello, lambda r: 1)),
        Target("polar.delta", tuple(f[10:] for f in POLAR_ACC + POLAR_GYR),
               _payload(pmd.decode_delta_frames, len)),
        Target("polar.stream", POLAR_ACC + POLAR_GYR, _stream(STREAMS["polar"][0])),
        Target("polar.settings", (settings, POLAR_START_PARAMS),
               _payload(pmd.decode_settings, len)),
        Target("polar.factor", (POLAR_START_PARAMS,), _payload(pmd.decode_factor, lambda f: 1)),
        Target("polar.cp_response", cp, _payload(pmd.decode_cp_response, lambda r: 1)),
        Target("sig.battery", (b"\x57",), _battery),
        Target("sig.string", (b"PelvisIMU\x00\x00", "Rev Ä".encode()),
               lambda d: Outcome(len(sig.decode_string(d)))),
        Target("replies", (WIT_REPLY, ms.encode_result(ms.REF_BATTERY, 200, b"\x57"),
                           ms.encode_result(ms.REF_HELLO, 200, hello[2:])) + cp,
               _route_replies),
    ]


def stateful_targets() -> list[Target]:
    """One parser per profile fed every input in turn, good notifications between them:
    state built up by earlier inputs (partial packets, split messages, pairing queues)
    meets later ones, as on a long link. Not for hypothesis (examples must not share
    state); bench/fuzz_decoders.py runs these."""
    out = []
    for profile, (make, goods) in STREAMS.items():
        parser = make()
        count = [0]

        def run(data: bytes, parser=parser, goods=goods, count=count) -> Outcome:
            before = parser.reasons.copy()
            frames = parser.feed(data) + parser.feed(goods[count[0] % len(goods)])
            count[0] += 1
            for f in frames:
                check_frame(f)
            return Outcome(sum(len(f) for f in frames),
                           tuple((parser.reasons - before).elements()))

        out.append(Target(f"{profile}.stream (one long stream)", goods, run))
    return out


def all_targets(folder: Path) -> list[Target]:
    return device_targets() + FileTargets(folder).targets()
