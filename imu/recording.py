"""Recording files (.pmrec): the raw samples of a session plus what is needed to re-analyse it.

A recording holds the samples exactly as received (time, acc, gyr, optional mag and
sequence numbers, gap flags), the device, the sample rate, calibrations, user
annotations and generic events. Never only derived values (CONVENTIONS).

The file is append-only: a short preamble (magic + version), then self-delimiting,
CRC-checked chunks. A writer killed at any moment leaves a readable prefix; readers
return everything before the damage and say where it is. Byte layout:
docs/recording-format.md.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any, BinaryIO, Callable, Iterator, Union

import numpy as np

from imu import __version__
from imu.errors import RecordingError, SampleDataError, SettingsError
from imu.samples import SampleBlock, concatenate

FORMAT_VERSION = 1
"""Major format version: readers refuse any other major version."""
FORMAT_MINOR_VERSION = 0
"""Minor format version: additions that older readers can skip (new chunk types, JSON keys)."""
FILE_SUFFIX = ".pmrec"

# PNG-style magic: the high byte catches 7-bit transfers, CR LF / LF / ^Z catch text-mode
# copies that rewrite line endings, and the ASCII name identifies the file in a hex dump.
MAGIC = b"\x89PMREC\r\n\x1a\n"
_PREAMBLE = struct.Struct("<10sHH")  # magic, major version, minor version
_CHUNK_HEAD = struct.Struct("<BII")  # chunk type, payload length, CRC-32
_SAMPLES_HEAD = struct.Struct("<IBB")  # sample count, field flags, codec


class ChunkType(IntEnum):
    """Chunk type codes (u8). 0 is never written; readers skip codes they do not know."""

    HEADER = 1
    SAMPLES = 2
    ANNOTATION = 3
    CALIBRATION = 4
    EVENT = 5


FLAG_MAG = 0x01
FLAG_SEQ = 0x02
CODEC_NONE = 0
CODEC_ZLIB = 1
ZLIB_LEVEL = 6  # measured: level 9 is slower and only 0.1 % smaller, level 1 is 2 % larger

# Bounds the memory a chunk needs and the data one damaged chunk takes with it.
MAX_SAMPLES_PER_CHUNK = 65536
# No valid chunk is larger; a bigger declared length is a corrupt length field.
MAX_CHUNK_PAYLOAD = 64 * 1024 * 1024
# After damage that breaks the framing, the reader looks this far for the next intact
# chunk (real damage spans a chunk or two; a garbage tail must not be scanned for ever),
# taking only candidates up to MAX_RESYNC_CHUNK bytes: a full samples chunk is < 4 MB,
# annotations and events are small.
RESYNC_SCAN_BYTES = 16 * 1024 * 1024
MAX_RESYNC_CHUNK = 4 * 1024 * 1024
_SCAN_WINDOW = 1 << 20

_F32_MAX = float(np.finfo(np.float32).max)
_REPAIR_HINT = ("run `pelvis-monitor repair FILE` (in Python: repair_recording()) on it: it "
                "cuts the damage away and keeps the original as a .bak copy.")


# --------------------------------------------------------------------------- data model

@dataclass(frozen=True)
class DeviceInfo:
    """The sensor that produced the samples."""

    name: str = "unknown"
    address: str = ""
    profile: str = "unknown"
    firmware: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingHeader:
    """Metadata written once, at the start of a recording."""

    sample_rate_hz: float
    device: DeviceInfo = field(default_factory=DeviceInfo)
    has_mag: bool = False
    has_seq: bool = False
    created_utc: str = ""
    """ISO 8601; filled by the writer when empty."""
    software_version: str = ""
    """Filled from imu.__version__ by the writer when empty."""
    settings: dict = field(default_factory=dict)
    """Free JSON (e.g. pipeline settings) so that a replay is reproducible."""
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class Annotation:
    """A note by the user, e.g. "set 2, left leg", at a time on the sample clock."""

    time_s: float
    text: str


@dataclass(frozen=True)
class Calibration:
    """A calibration result (free JSON) at a time on the sample clock."""

    time_s: float
    data: dict


@dataclass(frozen=True)
class Event:
    """A generic event (e.g. a link state change) with free JSON data."""

    time_s: float
    kind: str
    data: dict


Record = Union[SampleBlock, Annotation, Calibration, Event]
JsonRecord = Union[Annotation, Calibration, Event]


@dataclass
class Recording:
    """Everything readable from a recording file."""

    path: str
    header: RecordingHeader
    samples: SampleBlock
    annotations: list[Annotation]
    calibrations: list[Calibration]
    events: list[Event]
    problems: list[str]
    """Damage found in the file, each naming its byte offset. Empty for an intact file."""
    file_size_bytes: int


@dataclass(frozen=True)
class RepairReport:
    """What repair_recording() did."""

    kept_bytes: int
    """Size of the repaired file."""
    dropped_bytes: int
    """Bytes of the original file that were damaged and left out."""
    backup_path: str | None
    """Copy of the original file, or None when the file was intact and left untouched."""
    problems: list[str] = field(default_factory=list)
    """The damage that was found (as in Recording.problems)."""


# --------------------------------------------------------------------------- sample codec

def _delta_encode(values: np.ndarray) -> np.ndarray:
    """Per row: the first value, then differences. Integer arithmetic wraps, so this is
    exactly invertible (by a cumulative sum) for any input."""
    out = np.empty_like(values)
    out[..., :1] = values[..., :1]
    np.subtract(values[..., 1:], values[..., :-1], out=out[..., 1:])
    return out


def _field_flags(has_mag: bool, has_seq: bool) -> int:
    return (FLAG_MAG if has_mag else 0) | (FLAG_SEQ if has_seq else 0)


def _section_rows(flags: int) -> tuple[int, int]:
    """Rows of n values in the int64 section (time[, seq]) and the float32 section (channels)."""
    return 1 + bool(flags & FLAG_SEQ), 6 + 3 * bool(flags & FLAG_MAG)


def _body_size(n: int, flags: int) -> int:
    ints, floats = _section_rows(flags)
    return n * (8 * ints + 4 * floats) + (n + 7) // 8


def _encode_samples(block: SampleBlock) -> bytes:
    """The payload of a samples chunk (layout in docs/recording-format.md).

    Every value is stored as the difference of its bit pattern (IEEE-754 read as an
    integer) from the previous sample's: lossless, and small for a steady clock and for
    quantised sensor values, which zlib then packs well (measured on the benchmark
    session: 37 MB as is, 29 MB with time deltas, 23 MB with channel deltas too; byte
    shuffling made the last one larger, so it is not used).
    """
    flags = _field_flags(block.mag_uT is not None, block.seq is not None)
    ints = [block.time_s.view(np.int64)] + ([block.seq] if block.seq is not None else [])
    vectors = [v for v in (block.acc_mps2, block.gyr_rps, block.mag_uT) if v is not None]
    # Channel-major: all acc x values, then acc y, ...
    channels = np.ascontiguousarray(np.concatenate(vectors, axis=1).T, dtype=np.float32)
    body = b"".join([_delta_encode(np.stack(ints)).astype("<i8").tobytes(),
                     _delta_encode(channels.view(np.int32)).astype("<i4").tobytes(),
                     np.packbits(block.gap_before, bitorder="little").tobytes()])
    return _SAMPLES_HEAD.pack(len(block), flags, CODEC_ZLIB) + zlib.compress(body, ZLIB_LEVEL)


@dataclass
class _Samples:
    """Decoded samples chunk; channels stay float32 until all chunks are joined."""

    time_s: np.ndarray  # (n,) float64
    seq: np.ndarray | None  # (n,) int64
    channels: np.ndarray  # (n, 6 or 9) float32: acc xyz, gyr xyz[, mag xyz]
    gap: np.ndarray  # (n,) bool

    def to_block(self) -> SampleBlock:
        return _block_from(self.time_s, self.seq, self.channels, self.gap)


def _block_from(time_s: np.ndarray, seq: np.ndarray | None, channels: np.ndarray,
                gap: np.ndarray) -> SampleBlock:
    def vec(first: int) -> np.ndarray:  # one pass: float32 -> contiguous float64 (N, 3)
        return np.ascontiguousarray(channels[:, first:first + 3], dtype=np.float64)

    mag = vec(6) if channels.shape[1] == 9 else None
    return SampleBlock(time_s, vec(0), vec(3), mag, seq, gap)


class _Malformed(Exception):
    """A chunk passed its CRC but its content does not follow the format."""


def _decompress(data: bytes, codec: int, expected: int) -> bytes:
    if codec == CODEC_NONE:
        return data
    if codec != CODEC_ZLIB:
        raise _Malformed(f"samples chunk uses unknown codec {codec}")
    inflater = zlib.decompressobj()
    try:
        # Never inflate more than the sample count allows (a corrupt chunk cannot balloon).
        body = inflater.decompress(data, expected + 1)
    except zlib.error as exc:
        raise _Malformed(f"samples chunk does not decompress ({exc})") from None
    if len(body) <= expected and not (inflater.eof and not inflater.unused_data):
        raise _Malformed("samples chunk holds an incomplete or over-long zlib stream")
    return body


def _decode_samples(payload: bytes, header: RecordingHeader) -> _Samples:
    if len(payload) < _SAMPLES_HEAD.size:
        raise _Malformed(f"samples chunk too short ({len(payload)} bytes)")
    n, flags, codec = _SAMPLES_HEAD.unpack_from(payload)
    if n > MAX_SAMPLES_PER_CHUNK:  # bounds the memory a (CRC-valid) hostile chunk can ask for
        raise _Malformed(f"samples chunk declares {n} samples, more than the "
                         f"{MAX_SAMPLES_PER_CHUNK} a chunk holds")
    expected_flags = _field_flags(header.has_mag, header.has_seq)
    if flags != expected_flags:
        raise _Malformed(f"samples chunk field flags 0x{flags:02x} do not match the header "
                         f"(expected 0x{expected_flags:02x})")
    expected = _body_size(n, flags)
    body = _decompress(payload[_SAMPLES_HEAD.size:], codec, expected)
    if len(body) != expected or n == 0:
        raise _Malformed(f"samples chunk body holds {len(body)}{'+' * (len(body) > expected)} "
                         f"bytes, {expected} expected for {n} samples")
    n_ints, n_floats = _section_rows(flags)
    ints = np.frombuffer(body, "<i8", n_ints * n).reshape(n_ints, n).cumsum(axis=1, dtype=np.int64)
    pos = 8 * n_ints * n
    bits = np.frombuffer(body, "<i4", n_floats * n, pos).reshape(n_floats, n)
    channels = bits.cumsum(axis=1, dtype=np.int32).view(np.float32).T
    gap = np.unpackbits(np.frombuffer(body, np.uint8, offset=pos + 4 * n_floats * n),
                        count=n, bitorder="little").astype(bool)
    return _Samples(ints[0].view(np.float64), ints[1] if n_ints == 2 else None, channels, gap)


# --------------------------------------------------------------------------- JSON records

def _json_default(obj: Any) -> Any:
    # numpy values are common in calibration results; store them as plain JSON.
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _to_json(obj: dict, what: str) -> bytes:
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=_json_default)
    except (TypeError, ValueError) as exc:
        raise SettingsError(
            f"{what} cannot be stored as JSON: {exc}. Use str, int, float, bool, None, "
            "lists and dicts with str keys (numpy arrays are converted); NaN and infinity "
            "are not valid JSON.") from None
    data = text.encode("utf-8")
    if len(data) > MAX_CHUNK_PAYLOAD:
        raise SettingsError(f"{what} is {len(data)} bytes as JSON; at most "
                            f"{MAX_CHUNK_PAYLOAD} fit in one chunk.")
    return data


def _json_object(payload: bytes, what: str) -> dict:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # (deeply nested JSON)
        raise _Malformed(f"{what} chunk is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _Malformed(f"{what} chunk holds a JSON {type(obj).__name__}, not an object")
    return obj


def _get(obj: dict, key: str, types: type, what: str, default: Any = ...) -> Any:
    if key not in obj:
        if default is ...:
            raise _Malformed(f"{what} chunk lacks the field '{key}'")
        return default
    value = obj[key]
    if not isinstance(value, types):
        raise _Malformed(f"{what} chunk field '{key}' has the wrong type "
                         f"({type(value).__name__})")
    return value


def _number(obj: dict, key: str, what: str) -> float:
    value = obj.get(key)
    # bool is an int subclass in Python, but not a number here.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed(f"{what} chunk field '{key}' is missing or not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _Malformed(f"{what} chunk field '{key}' is not finite")
    return number


def _header_to_json(h: RecordingHeader) -> bytes:
    d = h.device
    return _to_json({
        "sample_rate_hz": h.sample_rate_hz, "has_mag": h.has_mag, "has_seq": h.has_seq,
        "created_utc": h.created_utc, "software_version": h.software_version,
        "device": {"name": d.name, "address": d.address, "profile": d.profile,
                   "firmware": d.firmware, "extra": d.extra},
        "settings": h.settings,
    }, "the recording header")


def _header_from_json(payload: bytes, major: int) -> RecordingHeader:
    obj = _json_object(payload, "header")
    dev = _get(obj, "device", dict, "header", {})
    rate = _number(obj, "sample_rate_hz", "header")
    if not rate > 0:
        raise _Malformed(f"header sample_rate_hz is {rate}, not a positive number")
    device = DeviceInfo(
        name=_get(dev, "name", str, "header device", "unknown"),
        address=_get(dev, "address", str, "header device", ""),
        profile=_get(dev, "profile", str, "header device", "unknown"),
        firmware=_get(dev, "firmware", str, "header device", ""),
        extra=_get(dev, "extra", dict, "header device", {}))
    return RecordingHeader(
        sample_rate_hz=rate, device=device,
        has_mag=_get(obj, "has_mag", bool, "header", False),
        has_seq=_get(obj, "has_seq", bool, "header", False),
        created_utc=_get(obj, "created_utc", str, "header", ""),
        software_version=_get(obj, "software_version", str, "header", ""),
        settings=_get(obj, "settings", dict, "header", {}),
        format_version=major)


def _decode_json_record(ctype: int, payload: bytes) -> JsonRecord:
    what = ChunkType(ctype).name.lower()
    obj = _json_object(payload, what)
    t = _number(obj, "time_s", what)
    if ctype == ChunkType.ANNOTATION:
        return Annotation(t, _get(obj, "text", str, what))
    if ctype == ChunkType.CALIBRATION:
        return Calibration(t, _get(obj, "data", dict, what))
    return Event(t, _get(obj, "kind", str, what), _get(obj, "data", dict, what))


# --------------------------------------------------------------------------- chunk framing

def _chunk_bytes(ctype: int, payload: bytes) -> bytes:
    """Type, length, CRC-32 (of type + length + payload, so a flipped type is caught too)."""
    head5 = struct.pack("<BI", ctype, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head5))
    return head5 + struct.pack("<I", crc) + payload


@dataclass
class _RawChunk:
    offset: int
    ctype: int
    payload: bytes
    raw_head: bytes

    @property
    def end(self) -> int:
        return self.offset + _CHUNK_HEAD.size + len(self.payload)


class _Damage(Exception):
    """Unreadable bytes starting at `offset`; `next_offset` is where the framing says the next
    chunk starts (None when the framing itself is unusable)."""

    def __init__(self, offset: int, problem: str, next_offset: int | None = None) -> None:
        super().__init__(problem)
        self.offset = offset
        self.problem = problem
        self.next_offset = next_offset
        self.resumed = False


def _read_chunk(f: BinaryIO, offset: int, size: int) -> _RawChunk:
    """Read the chunk at `offset` (the file is positioned there); raise _Damage if unusable."""
    left = size - offset
    if left < _CHUNK_HEAD.size:
        raise _Damage(offset, f"the file ends inside a chunk header ({left} of "
                              f"{_CHUNK_HEAD.size} bytes present): truncated, e.g. the "
                              "writer was interrupted")
    head = f.read(_CHUNK_HEAD.size)
    ctype, length, crc = _CHUNK_HEAD.unpack(head)
    if length > MAX_CHUNK_PAYLOAD:
        raise _Damage(offset, f"chunk declares {length} payload bytes, more than any valid "
                              "chunk: corrupt length field")
    present = left - _CHUNK_HEAD.size
    if length > present:
        raise _Damage(offset, f"the file ends inside a chunk ({present} of {length} payload "
                              "bytes present): truncated, e.g. the writer was interrupted")
    payload = f.read(length)
    end = offset + _CHUNK_HEAD.size + length
    if len(payload) != length:
        raise _Damage(offset, "the file shrank while it was read")
    if zlib.crc32(payload, zlib.crc32(head[:5])) != crc:
        raise _Damage(offset, f"chunk of type {ctype} with {length} payload bytes fails its "
                              "CRC check: corrupt data", next_offset=end)
    return _RawChunk(offset, ctype, payload, head)


def _scan_chunks(f: BinaryIO, offset: int, size: int) -> Iterator[_RawChunk | _Damage]:
    """Every chunk from `offset` to the end, with _Damage items where bytes are unreadable.

    After a chunk that fails its CRC but whose length is plausible, reading resumes at the
    next chunk if that one checks out (a false match has odds of 2^-32), so one flipped
    bit does not cost the rest of a long session.
    """
    while offset < size:
        try:
            chunk = _read_chunk(f, offset, size)
        except _Damage as damage:
            chunk = _resync(f, damage, size)
            yield damage
            if chunk is None:
                return
        yield chunk
        offset = chunk.end


def _resync(f: BinaryIO, damage: _Damage, size: int) -> _RawChunk | None:
    """The first intact chunk after the damage. A damaged length field may point past
    good chunks (or nowhere), so the bytes up to where it points are searched first."""
    nxt = damage.next_offset
    chunk = _scan_for_chunk(f, damage.offset + 1, min(nxt or size, size), size)
    if chunk is None and nxt is not None and nxt < size:
        f.seek(nxt)
        try:
            chunk = _read_chunk(f, nxt, size)  # any type and size, as in normal reading
        except _Damage:
            chunk = _scan_for_chunk(f, nxt + 1, size, size)
    if chunk is not None:
        damage.resumed = True
        damage.next_offset = chunk.offset
        damage.problem += f"; skipped it, reading resumes at byte offset {chunk.offset}"
        return chunk
    damage.problem += f"; the last {size - damage.offset} bytes of the file cannot be read"
    return None


_KNOWN_TYPE = np.zeros(256, dtype=bool)
_KNOWN_TYPE[[int(t) for t in ChunkType]] = True


def _scan_for_chunk(f: BinaryIO, start: int, stop: int, size: int) -> _RawChunk | None:
    """The first intact chunk of a known type starting in [start, stop), searched for at
    most RESYNC_SCAN_BYTES.

    Candidates are prefiltered with numpy (known type byte, plausible length); each one
    left is read and CRC-checked, so a false match has odds of 2^-32 as in normal reading.
    """
    stop = min(stop, start + RESYNC_SCAN_BYTES, size - _CHUNK_HEAD.size + 1)
    pos = start
    while pos < stop:
        f.seek(pos)
        buf = np.frombuffer(f.read(min(_SCAN_WINDOW, stop - pos) + _CHUNK_HEAD.size - 1),
                            np.uint8)
        heads = min(len(buf) - _CHUNK_HEAD.size + 1, stop - pos)  # candidate starts in buf
        if heads <= 0:
            break
        cand = np.flatnonzero(_KNOWN_TYPE[buf[:heads]])
        length = sum(buf[cand + 1 + k].astype(np.int64) << (8 * k) for k in range(4))
        room = size - (pos + cand) - _CHUNK_HEAD.size
        for c in cand[(length <= room) & (length <= MAX_RESYNC_CHUNK)]:
            f.seek(pos + int(c))
            try:
                return _read_chunk(f, pos + int(c), size)
            except _Damage:
                continue
        pos += heads
    return None


# --------------------------------------------------------------------------- reading

def _open_for_reading(path: str, buffering: int = -1) -> BinaryIO:
    try:
        return open(path, "rb", buffering=buffering)
    except OSError as exc:
        raise RecordingError(path, f"cannot open the recording: {exc.strerror or exc}.",
                             hint="check the path and the file permissions.") from None


def _read_preamble(f: BinaryIO, path: str) -> tuple[int, int]:
    data = f.read(_PREAMBLE.size)
    if not data:
        raise RecordingError(path, "the file is empty.", offset=0,
                             hint="nothing was recorded in it (a writer stores the header "
                                  "as soon as it creates the file).")
    if data[:len(MAGIC)] != MAGIC[:len(data)]:
        raise RecordingError(path, "is not a pelvis-monitor recording (wrong magic bytes).",
                             offset=0, hint=_not_a_recording_hint(data))
    if len(data) < _PREAMBLE.size:
        raise RecordingError(path, f"the file ends inside the preamble ({len(data)} of "
                                   f"{_PREAMBLE.size} bytes): nothing was recorded.", offset=0,
                             hint="the writer stopped right after creating the file; "
                                  "there is no data to recover.")
    _, major, minor = _PREAMBLE.unpack(data)
    if major != FORMAT_VERSION:
        newer = "a newer" if major > FORMAT_VERSION else "an unknown"
        raise RecordingError(
            path, f"uses recording format version {major}.{minor}, {newer} version; this "
                  f"software reads format version {FORMAT_VERSION}.x only.", offset=len(MAGIC),
            hint="update pelvis-monitor to read this file." if major > FORMAT_VERSION else None)
    return major, minor


def _not_a_recording_hint(data: bytes) -> str:
    if data[:6] == MAGIC[:6]:
        return ("the start looks like a recording altered by a text-mode copy (line "
                "endings converted); copy the file again in binary mode.")
    if data and all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return "this looks like a text file; load an IMU CSV with the CSV importer instead."
    return f"recordings start with the bytes {MAGIC!r} and use the suffix {FILE_SUFFIX}."


def _read_header(f: BinaryIO, path: str, size: int) -> tuple[RecordingHeader, int]:
    """Preamble and header chunk; raises RecordingError since nothing is readable without them."""
    major, _ = _read_preamble(f, path)
    offset = _PREAMBLE.size
    hint = "the header is written first; without it no data can be interpreted."
    if size <= offset:
        raise RecordingError(path, "the file holds no header chunk: nothing was recorded.",
                             offset=offset, hint=hint)
    try:
        chunk = _read_chunk(f, offset, size)
    except _Damage as damage:
        raise RecordingError(path, f"header chunk unreadable: {damage.problem}.",
                             offset=offset, hint=hint) from None
    if chunk.ctype != ChunkType.HEADER:
        raise RecordingError(path, f"the first chunk has type {chunk.ctype}, not the header "
                                   f"({int(ChunkType.HEADER)}).", offset=offset, hint=hint)
    try:
        return _header_from_json(chunk.payload, major), chunk.end
    except _Malformed as exc:
        raise RecordingError(path, f"{exc}.", offset=offset, hint=hint) from None


@dataclass
class _Item:
    """One decoded chunk: the raw bytes, the record (None for skipped chunk types) and
    whether a gap flag was added because data before it was lost."""

    raw: _RawChunk
    record: _Samples | JsonRecord | None
    gap_added: bool = False


class _Reader:
    """Open recording file positioned after its header; decodes chunks and tracks damage."""

    def __init__(self, path: str | os.PathLike, strict: bool) -> None:
        self.path = os.fspath(path)
        self.strict = strict
        self.problems: list[str] = []
        self.damaged_bytes = 0
        self.file = _open_for_reading(self.path, buffering=1 << 16)
        try:
            self.size = os.fstat(self.file.fileno()).st_size
            self.header, self.data_offset = _read_header(self.file, self.path, self.size)
        except BaseException:
            self.file.close()
            raise

    def items(self) -> Iterator[_Item]:
        """Decoded chunks in file order; closes the file when done."""
        try:
            yield from self._items()
        finally:
            self.file.close()

    def _items(self) -> Iterator[_Item]:
        last_t = -math.inf
        lost_before = False  # data was lost since the last samples chunk: flag a gap
        for chunk in _scan_chunks(self.file, self.data_offset, self.size):
            if isinstance(chunk, _Damage):
                end = chunk.next_offset if chunk.resumed else self.size
                self._report(chunk.offset, chunk.problem, end - chunk.offset)
                lost_before = True  # its type is not trustworthy: samples may be lost
                continue
            try:
                record = self._decode(chunk, last_t)
            except _Malformed as exc:
                self._report(chunk.offset, f"{exc}; skipped this chunk",
                             chunk.end - chunk.offset)
                # Its type passed the CRC: only a samples chunk takes samples with it.
                lost_before = lost_before or chunk.ctype == ChunkType.SAMPLES
                continue
            gap_added = False
            if isinstance(record, _Samples):
                if lost_before and not record.gap[0]:
                    record.gap[0] = gap_added = True
                lost_before = False
                last_t = float(record.time_s[-1])
            yield _Item(chunk, record, gap_added)

    def _decode(self, chunk: _RawChunk, last_t: float) -> _Samples | JsonRecord | None:
        if chunk.ctype == ChunkType.SAMPLES:
            samples = _decode_samples(chunk.payload, self.header)
            _check_time_order(samples.time_s, last_t)
            return samples
        if chunk.ctype in (ChunkType.ANNOTATION, ChunkType.CALIBRATION, ChunkType.EVENT):
            return _decode_json_record(chunk.ctype, chunk.payload)
        return None  # a later header chunk or a type from a newer minor version: skip

    def _report(self, offset: int, problem: str, nbytes: int) -> None:
        self.damaged_bytes += nbytes
        if self.strict:
            self.file.close()
            raise RecordingError(self.path, problem + ".", offset=offset,
                                 hint="read with strict=False to get the readable part, or "
                                      + _REPAIR_HINT)
        self.problems.append(f"byte offset {offset}: {problem}")


def _check_time_order(t: np.ndarray, last_t: float) -> None:
    if not np.isfinite(t).all():
        raise _Malformed("samples chunk holds a time that is not a finite number")
    if not t[0] > last_t:
        raise _Malformed(f"samples chunk starts at {float(t[0])!r} s, not after the previous "
                         f"chunk ({float(last_t)!r} s)")
    if t.shape[0] > 1 and not np.all(t[1:] > t[:-1]):
        raise _Malformed("samples chunk times do not increase")


class RecordingIterator:
    """Records of a recording in file order; see iter_recording().

    `header` is available at once; `problems` fills as damage is met (non-strict mode).
    Use it as a context manager, or exhaust it, to close the file.
    """

    def __init__(self, path: str | os.PathLike, strict: bool = False) -> None:
        self._reader = _Reader(path, strict)
        self.path: str = self._reader.path
        self.header: RecordingHeader = self._reader.header
        self.problems: list[str] = self._reader.problems
        self._items = self._reader.items()

    def __iter__(self) -> "RecordingIterator":
        return self

    def __next__(self) -> Record:
        for item in self._items:
            rec = item.record
            if isinstance(rec, _Samples):
                return rec.to_block()
            if rec is not None:
                return rec
        raise StopIteration

    def close(self) -> None:
        """Release the file (also done when the iterator is exhausted)."""
        self._items.close()

    def __enter__(self) -> "RecordingIterator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_recording(path: str | os.PathLike, *, strict: bool = False) -> RecordingIterator:
    """Stream the records of a recording in file order, for replay.

    Yields SampleBlock (one per samples chunk, ~0.5 s), Annotation, Calibration and Event
    objects. Damage is handled as in read_recording(): by default reading stops (or skips
    one damaged chunk) and the iterator's `problems` list says where; with strict=True a
    RecordingError is raised when damage is met. A SampleBlock after lost data has
    gap_before set on its first sample.
    """
    return RecordingIterator(path, strict)


def read_recording(path: str | os.PathLike, *, strict: bool = False) -> Recording:
    """Load a whole recording.

    By default, damage (a truncated tail after a crash, a corrupt chunk) does not raise:
    everything readable is returned and `problems` names each damaged byte offset. With
    strict=True the first damage raises RecordingError. A file that is not a recording,
    has an unknown major version or an unreadable header always raises RecordingError.
    """
    reader = _Reader(path, strict)
    parts: list[_Samples] = []
    annotations: list[Annotation] = []
    calibrations: list[Calibration] = []
    events: list[Event] = []
    for item in reader.items():
        rec = item.record
        if isinstance(rec, _Samples):
            parts.append(rec)
        elif isinstance(rec, Annotation):
            annotations.append(rec)
        elif isinstance(rec, Calibration):
            calibrations.append(rec)
        elif isinstance(rec, Event):
            events.append(rec)
    return Recording(reader.path, reader.header, _assemble(parts, reader.header), annotations,
                     calibrations, events, reader.problems, reader.size)


def _assemble(parts: list[_Samples], header: RecordingHeader) -> SampleBlock:
    """One SampleBlock from all chunks, converted to float64 once at the end."""
    if not parts:
        rows = 9 if header.has_mag else 6
        return _block_from(np.zeros(0), np.zeros(0, np.int64) if header.has_seq else None,
                           np.zeros((0, rows), np.float32), np.zeros(0, bool))
    seq = np.concatenate([p.seq for p in parts]) if header.has_seq else None
    return _block_from(np.concatenate([p.time_s for p in parts]), seq,
                       np.concatenate([p.channels for p in parts]),
                       np.concatenate([p.gap for p in parts]))


def read_header(path: str | os.PathLike) -> RecordingHeader:
    """The header of a recording, without reading its samples."""
    p = os.fspath(path)
    with _open_for_reading(p) as f:
        return _read_header(f, p, os.fstat(f.fileno()).st_size)[0]


def is_recording(path: str | os.PathLike) -> bool:
    """True when the file starts with the recording magic bytes (cheap; for auto-detection).

    OSError (e.g. no such file) propagates: this only tells recordings from other files.
    """
    with open(os.fspath(path), "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


# --------------------------------------------------------------------------- writing

def _write_all(f: BinaryIO, data: bytes) -> None:
    """Hand all of `data` to the OS (unbuffered file: a short write must be continued)."""
    view = memoryview(data)
    while view:
        written = f.write(view)
        if written is None or written == 0:
            raise OSError("the file accepted no data")
        view = view[written:]


def _fsync_dir(path: str) -> None:
    """Make the directory entry of a new file durable (not possible on every OS)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _complete_header(header: RecordingHeader) -> RecordingHeader:
    """Validate the header and fill created_utc and software_version."""
    if not isinstance(header, RecordingHeader):
        raise SettingsError(f"header must be a RecordingHeader, got {type(header).__name__}.")
    rate = header.sample_rate_hz
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (
            math.isfinite(rate) and rate > 0):
        raise SettingsError(f"sample_rate_hz must be a positive number, got {rate!r}.")
    if header.format_version != FORMAT_VERSION:
        raise SettingsError(f"this writer writes format version {FORMAT_VERSION} only, the "
                            f"header asks for {header.format_version!r}.")
    if not isinstance(header.device, DeviceInfo):
        raise SettingsError(f"header.device must be a DeviceInfo, "
                            f"got {type(header.device).__name__}.")
    created = header.created_utc or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return RecordingHeader(float(rate), header.device, bool(header.has_mag),
                           bool(header.has_seq), created,
                           header.software_version or __version__, header.settings)


def _open_error(path: str, exc: OSError, action: str) -> RecordingError:
    if isinstance(exc, FileExistsError):
        return RecordingError(path, "the file already exists.",
                              hint="choose another name, pass overwrite=True to replace it, or "
                                   "continue it with RecordingWriter.append_to().")
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        hint = "the folder does not exist; create it or choose another one."
    elif isinstance(exc, PermissionError):
        hint = "the folder is not writable; choose another one or fix its permissions."
    else:
        hint = "check the path, the free disk space and the folder permissions."
    return RecordingError(path, f"cannot {action}: {exc.strerror or exc}.", hint=hint)


class RecordingWriter:
    """Writes a recording, append-only and crash-safe. Use as a context manager.

    Samples are buffered and written as one chunk whenever `flush_interval_s` has passed
    since the last flush (then the file is fsync'ed), before any annotation, calibration or
    event (so file order is time order; those records are fsync'ed at once, they are rare
    and entered by hand) and on close. A process killed at any moment loses at most the
    samples of the last `flush_interval_s` plus the block being written, as long as blocks
    keep coming; a caller whose stream can stall (a link that hangs without a disconnect)
    calls flush_if_due() from a timer so the last samples before the stall reach the disk
    too. Not thread-safe: use one writer from one thread, and one writer per file.
    """

    def __init__(self, path: str | os.PathLike, header: RecordingHeader, *,
                 flush_interval_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
                 overwrite: bool = False) -> None:
        path = os.fspath(path)
        header = _complete_header(header)
        start = (_PREAMBLE.pack(MAGIC, FORMAT_VERSION, FORMAT_MINOR_VERSION)
                 + _chunk_bytes(ChunkType.HEADER, _header_to_json(header)))
        self._setup(path, header, flush_interval_s, clock)
        try:
            self._file = open(path, "wb" if overwrite else "xb", buffering=0)
        except OSError as exc:
            raise _open_error(path, exc, "create the recording") from None
        try:
            _write_all(self._file, start)
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._file.close()
            _remove_quietly(path)  # our own header-less file: useless, and it would block a retry
            raise RecordingError(path, f"cannot write the header: {exc.strerror or exc}.",
                                 hint="check the free disk space.") from None
        _fsync_dir(path)
        self._end = self._file.tell()

    def _setup(self, path: str, header: RecordingHeader, flush_interval_s: float,
               clock: Callable[[], float]) -> None:
        if not (isinstance(flush_interval_s, (int, float)) and flush_interval_s >= 0):
            raise SettingsError(f"flush_interval_s must be >= 0, got {flush_interval_s!r}.")
        self._path = path
        self._header = header
        self._interval = float(flush_interval_s)
        self._clock = clock
        self._last_flush = clock()
        self._pending: list[SampleBlock] = []
        self._pending_n = 0
        self._last_time: float | None = None
        self._samples_written = 0
        self._samples_stored = 0
        self._closed = False
        self._failed: str | None = None

    @classmethod
    def append_to(cls, path: str | os.PathLike, *, flush_interval_s: float = 0.5,
                  clock: Callable[[], float] = time.monotonic) -> "RecordingWriter":
        """Continue an existing recording (e.g. after a Bluetooth reconnect).

        The whole file is checked first; a damaged file (e.g. a truncated tail from a crash)
        is refused, since appending after damage would bury good data behind it: run
        repair_recording() first. New samples must start after the last recorded one; mark
        gap_before on the first sample after an outage.
        """
        path = os.fspath(path)
        reader = _Reader(path, strict=False)
        last_time = None
        for item in reader.items():
            if isinstance(item.record, _Samples):
                last_time = float(item.record.time_s[-1])
        if reader.problems:
            raise RecordingError(path, f"cannot append to a damaged recording: "
                                       f"{reader.problems[0]}.", hint=_REPAIR_HINT)
        self = cls.__new__(cls)
        self._setup(path, reader.header, flush_interval_s, clock)
        try:
            self._file = open(path, "ab", buffering=0)
        except OSError as exc:
            raise _open_error(path, exc, "open the recording for appending") from None
        self._end = os.fstat(self._file.fileno()).st_size
        if self._end != reader.size:
            self._file.close()
            raise RecordingError(path, "the file changed while it was opened for appending.",
                                 hint="make sure no other program writes to it.")
        self._last_time = last_time
        return self

    @property
    def path(self) -> str:
        return self._path

    @property
    def header(self) -> RecordingHeader:
        """The header as written (created_utc and software_version filled)."""
        return self._header

    @property
    def samples_written(self) -> int:
        """Samples accepted by this writer (buffered ones included; they are written at the
        next flush). Samples already in an appended-to file are not counted."""
        return self._samples_written

    @property
    def samples_stored(self) -> int:
        """Samples written to the file in complete chunks (buffered ones not yet): what a
        reader finds after this process dies. Samples of an appended-to file not counted."""
        return self._samples_stored

    def write_samples(self, block: SampleBlock) -> None:
        """Add samples. They must carry mag/seq exactly when the header says so, and start
        after the last sample written."""
        self._check_open()
        if not isinstance(block, SampleBlock):
            raise SampleDataError(f"write_samples needs a SampleBlock, got {type(block).__name__}.")
        if len(block) == 0:
            return
        self._check_block(block)
        self._pending.append(block)
        self._pending_n += len(block)
        self._samples_written += len(block)
        self._last_time = float(block.time_s[-1])
        if self._pending_n >= MAX_SAMPLES_PER_CHUNK:
            self._write_pending()
        if self._clock() - self._last_flush >= self._interval:
            self.flush()

    def _check_block(self, block: SampleBlock) -> None:
        h = self._header
        for name, has, want in (("mag_uT", block.mag_uT is not None, h.has_mag),
                                ("seq", block.seq is not None, h.has_seq)):
            if has != want:
                state = "has" if want else "has no"
                raise SampleDataError(f"the recording header says it {state} {name}, but the "
                                      f"block {'lacks' if want else 'carries'} it.")
        if self._last_time is not None and not block.time_s[0] > self._last_time:
            raise SampleDataError(
                f"the block starts at {block.time_s[0]!r} s, not after the last sample "
                f"written ({self._last_time!r} s); sample times must keep increasing.")
        for name in ("acc_mps2", "gyr_rps", "mag_uT"):
            values = getattr(block, name)
            if values is not None and np.any((np.abs(values) > _F32_MAX) & np.isfinite(values)):
                raise SampleDataError(f"{name} holds values beyond the float32 range "
                                      f"(+-{_F32_MAX:.3g}); they cannot be stored.")

    def write_annotation(self, time_s: float, text: str) -> None:
        """Store a user note at a time on the sample clock."""
        if not isinstance(text, str):
            raise SettingsError(f"annotation text must be a str, got {type(text).__name__}.")
        self._write_record(ChunkType.ANNOTATION, {"time_s": _time(time_s), "text": text},
                           "the annotation")

    def write_calibration(self, time_s: float, data: dict) -> None:
        """Store a calibration result (JSON-compatible dict) at a time on the sample clock."""
        self._write_record(ChunkType.CALIBRATION, {"time_s": _time(time_s), "data": _dict(data)},
                           "the calibration data")

    def write_event(self, time_s: float, kind: str, data: dict) -> None:
        """Store a generic event, e.g. kind="link", data={"state": "lost"}."""
        if not isinstance(kind, str) or not kind:
            raise SettingsError(f"event kind must be a non-empty str, got {kind!r}.")
        self._write_record(ChunkType.EVENT,
                           {"time_s": _time(time_s), "kind": kind, "data": _dict(data)},
                           "the event data")

    def _write_record(self, ctype: ChunkType, obj: dict, what: str) -> None:
        self._check_open()
        payload = _to_json(obj, what)
        self._write_pending()  # samples first: the file stays in time order
        self._write_chunk(ctype, payload)
        self.flush()

    def flush_if_due(self) -> bool:
        """Flush when samples are buffered and `flush_interval_s` has passed since the last
        flush; True if it flushed. Cheap otherwise: call it from a timer."""
        self._check_open()
        if not self._pending or self._clock() - self._last_flush < self._interval:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Write buffered samples and make everything durable (fsync)."""
        self._check_open()
        self._write_pending()
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._fail(exc)
        self._last_flush = self._clock()

    def close(self) -> None:
        """Flush and close. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._failed is None:
                self.flush()
        finally:
            self._closed = True
            self._file.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        block = self._pending[0] if len(self._pending) == 1 else concatenate(self._pending)
        self._pending, self._pending_n = [], 0
        for start in range(0, len(block), MAX_SAMPLES_PER_CHUNK):
            part = block.slice(start, start + MAX_SAMPLES_PER_CHUNK)
            self._write_chunk(ChunkType.SAMPLES, _encode_samples(part))
            self._samples_stored += len(part)

    def _write_chunk(self, ctype: ChunkType, payload: bytes) -> None:
        try:
            # Handed to the OS at once: a killed process leaves at most this chunk partial.
            _write_all(self._file, _chunk_bytes(ctype, payload))
        except OSError as exc:
            self._fail(exc)
        self._end += _CHUNK_HEAD.size + len(payload)

    def _fail(self, exc: OSError) -> None:
        """Cut a partly written chunk away so the file stays intact, then stop writing."""
        try:
            os.ftruncate(self._file.fileno(), self._end)
        except OSError:
            pass  # the next reader reports the damaged tail instead
        self._failed = exc.strerror or str(exc)
        raise RecordingError(self._path, f"writing failed: {self._failed}.", offset=self._end,
                             hint="check the free disk space; everything written before "
                                  "this point is readable.") from None

    def _check_open(self) -> None:
        if self._closed:
            raise RecordingError(self._path, "the writer is closed.",
                                 hint="use RecordingWriter.append_to() to continue the file.")
        if self._failed is not None:
            raise RecordingError(self._path, f"the writer stopped after an earlier error "
                                             f"({self._failed}).",
                                 hint="fix the cause, then continue with "
                                      "RecordingWriter.append_to().")


def _time(time_s: float) -> float:
    if isinstance(time_s, bool) or not isinstance(time_s, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(time_s)):
        raise SettingsError(f"time_s must be a finite number of seconds, got {time_s!r}.")
    return float(time_s)


def _dict(data: dict) -> dict:
    if not isinstance(data, dict):
        raise SettingsError(f"data must be a dict, got {type(data).__name__}.")
    return data


# --------------------------------------------------------------------------- repair

def repair_recording(path: str | os.PathLike) -> RepairReport:
    """Cut the damaged parts out of a recording so it can be read strictly and appended to.

    The original is kept as `path + ".bak"` (or ".bak.2", ... if that exists), so no data is
    lost. A truncated tail is cut off; a damaged chunk in the middle is left out and the
    first samples after it get gap_before set. An intact file is left untouched
    (backup_path None). A file whose header is unreadable raises RecordingError.
    """
    p = os.fspath(path)
    reader = _Reader(p, strict=False)
    tmp = p + ".repair-tmp"
    try:
        with open(tmp, "wb") as out:
            _write_repaired(reader, out, p)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        reader.file.close()
        _remove_quietly(tmp)
        raise
    if not reader.problems:
        os.unlink(tmp)
        return RepairReport(reader.size, 0, None, [])
    backup = _free_backup_path(p)
    shutil.copy2(p, backup)
    os.replace(tmp, p)  # atomic: the path always holds either the old or the new file
    _fsync_dir(p)
    return RepairReport(os.path.getsize(p), reader.damaged_bytes, backup, list(reader.problems))


def _write_repaired(reader: _Reader, out: BinaryIO, path: str) -> None:
    reader.file.seek(0)
    out.write(reader.file.read(reader.data_offset))  # preamble + header, verbatim
    for item in reader.items():
        if item.gap_added:  # re-encode so the lost data stays visible as a gap
            out.write(_chunk_bytes(ChunkType.SAMPLES, _encode_samples(item.record.to_block())))
        else:
            out.write(item.raw.raw_head + item.raw.payload)


def _free_backup_path(path: str) -> str:
    candidate, k = path + ".bak", 2
    while os.path.exists(candidate):  # never overwrite an older backup
        candidate, k = f"{path}.bak.{k}", k + 1
    return candidate


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
