"""The sample model: blocks of timestamped IMU samples in SI units, with explicit gaps.

A gap is data too. Every block carries `gap_before`, a boolean per sample that is
True where samples are missing just before it (lost packets, a link outage, a
jump in the device clock). Stages that integrate over time (fusion, filters)
must look at it; nothing interpolates across a gap silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from imu.errors import SampleDataError

# A gap is declared when the interval exceeds this many nominal intervals: clock
# jitter of BLE sensors stays well below half an interval, a lost packet does not.
GAP_INTERVAL_FACTOR = 1.5


def _as_vec3(name: str, values: np.ndarray | None, n: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.shape != (n, 3):
        raise SampleDataError(f"{name} must have shape ({n}, 3), got {arr.shape}.")
    return arr


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive IMU samples.

    Attributes:
        time_s: sample times in seconds, strictly increasing, shape (N,).
        acc_mps2: specific force in m/s^2, sensor frame, shape (N, 3).
        gyr_rps: angular rate in rad/s, sensor frame, shape (N, 3).
        mag_uT: magnetic field in microtesla, shape (N, 3), or None.
        seq: device sequence numbers (int64, unwrapped), shape (N,), or None.
        gap_before: True where samples are missing before this one, shape (N,).
    """

    time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    mag_uT: np.ndarray | None = None
    seq: np.ndarray | None = None
    gap_before: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.time_s, dtype=np.float64).reshape(-1)
        n = t.shape[0]
        object.__setattr__(self, "time_s", t)
        object.__setattr__(self, "acc_mps2", _as_vec3("acc_mps2", self.acc_mps2, n))
        object.__setattr__(self, "gyr_rps", _as_vec3("gyr_rps", self.gyr_rps, n))
        object.__setattr__(self, "mag_uT", _as_vec3("mag_uT", self.mag_uT, n))
        if self.seq is not None:
            seq = np.ascontiguousarray(self.seq, dtype=np.int64).reshape(-1)
            if seq.shape[0] != n:
                raise SampleDataError(f"seq must have {n} entries, got {seq.shape[0]}.")
            object.__setattr__(self, "seq", seq)
        if self.gap_before is None:
            gap = np.zeros(n, dtype=bool)
        else:
            gap = np.ascontiguousarray(self.gap_before, dtype=bool).reshape(-1)
            if gap.shape[0] != n:
                raise SampleDataError(f"gap_before must have {n} entries, got {gap.shape[0]}.")
        object.__setattr__(self, "gap_before", gap)
        if n > 1 and not np.all(np.diff(t) > 0):
            i = int(np.argmax(~(np.diff(t) > 0)))
            raise SampleDataError(
                f"time_s must increase strictly: sample {i + 1} at {t[i + 1]!r} s "
                f"follows {t[i]!r} s."
            )

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def has_mag(self) -> bool:
        return self.mag_uT is not None

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0]) if len(self) > 1 else 0.0

    def slice(self, start: int, stop: int) -> "SampleBlock":
        """Samples start..stop-1 as a new block (views, no copies)."""
        return SampleBlock(
            time_s=self.time_s[start:stop],
            acc_mps2=self.acc_mps2[start:stop],
            gyr_rps=self.gyr_rps[start:stop],
            mag_uT=None if self.mag_uT is None else self.mag_uT[start:stop],
            seq=None if self.seq is None else self.seq[start:stop],
            gap_before=self.gap_before[start:stop],
        )

    def split(self, block_size: int) -> list["SampleBlock"]:
        """Cut into consecutive blocks of at most `block_size` samples."""
        if block_size < 1:
            raise SampleDataError(f"block_size must be >= 1, got {block_size}.")
        return [self.slice(i, i + block_size) for i in range(0, len(self), block_size)]

    def gaps(self) -> list["Gap"]:
        """The gaps inside this block (a gap flagged on its first sample has no start here)."""
        idx = np.flatnonzero(self.gap_before)
        return [
            Gap(
                start_s=float(self.time_s[i - 1]) if i > 0 else float("nan"),
                end_s=float(self.time_s[i]),
            )
            for i in idx
        ]


@dataclass(frozen=True)
class Gap:
    """Missing data between the last sample before (start_s) and the first after (end_s)."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def empty_block(with_mag: bool = False) -> SampleBlock:
    """A block with no samples."""
    z = np.zeros((0, 3))
    return SampleBlock(np.zeros(0), z, z.copy(), z.copy() if with_mag else None)


def concatenate(blocks: Sequence[SampleBlock] | Iterable[SampleBlock]) -> SampleBlock:
    """Join consecutive blocks into one. All must agree on having mag and seq."""
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return empty_block()
    has_mag = {b.mag_uT is not None for b in blocks}
    has_seq = {b.seq is not None for b in blocks}
    if len(has_mag) > 1 or len(has_seq) > 1:
        raise SampleDataError("Cannot join blocks where only some carry mag_uT or seq.")
    return SampleBlock(
        time_s=np.concatenate([b.time_s for b in blocks]),
        acc_mps2=np.concatenate([b.acc_mps2 for b in blocks]),
        gyr_rps=np.concatenate([b.gyr_rps for b in blocks]),
        mag_uT=np.concatenate([b.mag_uT for b in blocks]) if has_mag == {True} else None,
        seq=np.concatenate([b.seq for b in blocks]) if has_seq == {True} else None,
        gap_before=np.concatenate([b.gap_before for b in blocks]),
    )


def nominal_rate_hz(time_s: np.ndarray) -> float:
    """The sample rate from the median interval (robust to gaps and jitter)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.shape[0] < 2:
        raise SampleDataError("At least two samples are needed to estimate a sample rate.")
    dt = float(np.median(np.diff(t)))
    if not dt > 0:
        raise SampleDataError("Sample times do not increase; cannot estimate a sample rate.")
    return 1.0 / dt


def detect_gaps(time_s: np.ndarray, rate_hz: float, seq: np.ndarray | None = None,
                prev_time_s: float | None = None, prev_seq: int | None = None) -> np.ndarray:
    """Mark samples preceded by missing data.

    A sample starts a gap when the sequence number skips (if known) or the interval
    to the previous sample exceeds GAP_INTERVAL_FACTOR nominal intervals.
    `prev_time_s`/`prev_seq` continue the test across block boundaries.
    """
    t = np.asarray(time_s, dtype=np.float64)
    n = t.shape[0]
    gap = np.zeros(n, dtype=bool)
    if n == 0:
        return gap
    limit = GAP_INTERVAL_FACTOR / rate_hz
    if prev_time_s is not None:
        gap[0] = (t[0] - prev_time_s) > limit
    gap[1:] = np.diff(t) > limit
    if seq is not None:
        s = np.asarray(seq, dtype=np.int64)
        if prev_seq is not None:
            gap[0] |= (s[0] - prev_seq) > 1
        gap[1:] |= np.diff(s) > 1
    return gap
