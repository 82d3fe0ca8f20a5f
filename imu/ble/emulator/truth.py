"""A recording compared with what the virtual sensor really sent (its SendLog).

Pure functions, no I/O. Sample numbers of the recording are the client's (device
counter unwrapped from wherever it stood when streaming began); the log's are the
device's own. The comparison aligns the two, then checks:

- every sample delivered at least once is recorded exactly once, and nothing else is
  (duplicates not recorded twice, no invented samples);
- gaps are marked exactly where delivered samples are missing: on the first sample
  after each run of samples that never arrived, and nowhere else;
- recorded times follow the times the samples were taken (after a constant offset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu.ble.emulator.faults import DELIVERED, SendLog
from imu.samples import SampleBlock


@dataclass(frozen=True)
class Outage:
    """A run of samples that never reached the client."""

    first_seq: int
    """Device sample number of the first missing sample."""
    samples: int
    after_s: float
    """Host time (monotonic) the last sample before it was sent."""
    until_s: float
    """Host time (monotonic) the first sample after it was sent."""


@dataclass(frozen=True)
class TruthComparison:
    """How a recording matches the samples the device delivered (see module doc)."""

    samples_delivered: int
    """Distinct samples delivered within the recording's span."""
    samples_recorded: int
    recorded_twice: int
    missing: int
    """Delivered but not recorded."""
    invented: int
    """Recorded but never delivered."""
    outages: list[Outage]
    gaps_marked: int
    gaps_missed: int
    """Outages whose first sample after was not marked as a gap."""
    gaps_spurious: int
    """Gaps marked where no sample was missing."""
    delivered_after_end: int
    """Samples delivered after the last recorded one (in flight when recording stopped)."""
    time_error_p50_ms: float
    """|recorded time - time taken - median| over the last sample of each notification."""
    time_error_p99_ms: float
    time_error_max_ms: float
    problems: list[tuple[str, float]]
    """Each mismatch ('missing', 'invented', 'gap missed', 'spurious gap') with the host
    time (monotonic) its sample was sent: where to look."""

    @property
    def exact(self) -> bool:
        """Every delivered sample once, nothing else, every outage marked exactly once."""
        return (self.missing == 0 and self.invented == 0 and self.recorded_twice == 0
                and self.gaps_missed == 0 and self.gaps_spurious == 0)


def delivered_seqs(log: SendLog) -> np.ndarray:
    """Sorted device sample numbers delivered at least once."""
    seq0, n, outcome = (np.asarray(v, dtype=np.int64) for v in (log.seq, log.n, log.outcome))
    keep = np.isin(outcome, DELIVERED)
    if not keep.any():
        return np.zeros(0, dtype=np.int64)
    seqs = np.concatenate([np.arange(a, a + k) for a, k in zip(seq0[keep], n[keep])])
    return np.unique(seqs)


def counter_offset(recorded_first: int, delivered: np.ndarray, modulo: int) -> int:
    """Device sample number minus the client's, from the first recorded sample (the
    client numbers from the device's wrapped counter)."""
    match = delivered[(delivered - recorded_first) % modulo == 0]
    if match.size == 0:
        raise ValueError("the first recorded sample matches no delivered sample")
    return int(match[0]) - int(recorded_first)


def compare(samples: SampleBlock, log: SendLog, *, counter_modulo: int,
            host_to_session_s: float = 0.0, time_scale: float = 1.0) -> TruthComparison:
    """Compare recorded samples with the device's send log.

    Args:
        samples: the recording's samples (seq required).
        log: the device's SendLog.
        counter_modulo: the device counter's range (the client unwraps from it).
        host_to_session_s, time_scale: session time = (host monotonic time) *
            time_scale - host_to_session_s (a client on a scaled clock).
    """
    if samples.seq is None or len(samples) == 0:
        raise ValueError("the recording has no sample numbers to compare")
    delivered = delivered_seqs(log)
    offset = counter_offset(int(samples.seq[0]), delivered, counter_modulo)
    rec = samples.seq.astype(np.int64) + offset
    first, last = int(rec[0]), int(rec[-1])
    span = delivered[(delivered >= first) & (delivered <= last)]
    unique_rec = np.unique(rec)
    outages = _outages(span, log)
    expected_gaps = {o.first_seq + o.samples for o in outages}
    marked = set(rec[samples.gap_before].tolist())
    p50, p99, pmax = _time_errors(samples, rec, log, host_to_session_s, time_scale)
    missing = np.setdiff1d(span, unique_rec)
    invented = np.setdiff1d(unique_rec, span)
    send = _send_time_of_first_delivery(log)
    problems = sorted([("missing", send(int(q))) for q in _run_starts(missing)]
                      + [("invented", send(int(q))) for q in _run_starts(invented)]
                      + [("gap missed", send(q)) for q in expected_gaps - marked]
                      + [("spurious gap", send(q)) for q in marked - expected_gaps],
                      key=lambda p: p[1])
    return TruthComparison(
        samples_delivered=int(span.size), samples_recorded=len(rec),
        recorded_twice=len(rec) - int(unique_rec.size),
        missing=int(missing.size), invented=int(invented.size),
        outages=outages, gaps_marked=len(marked),
        gaps_missed=len(expected_gaps - marked), gaps_spurious=len(marked - expected_gaps),
        delivered_after_end=int((delivered > last).sum()),
        time_error_p50_ms=p50, time_error_p99_ms=p99, time_error_max_ms=pmax,
        problems=problems)


def _run_starts(seqs: np.ndarray) -> np.ndarray:
    """First number of each run of consecutive numbers."""
    if seqs.size == 0:
        return seqs
    return seqs[np.concatenate([[True], np.diff(seqs) > 1])]


def _outages(span: np.ndarray, log: SendLog) -> list[Outage]:
    """Runs of missing sample numbers between delivered ones, with the send times around."""
    if span.size < 2:
        return []
    send = _send_time_of_first_delivery(log)
    breaks = np.flatnonzero(np.diff(span) > 1)
    out = []
    for i in breaks:
        before, after = int(span[i]), int(span[i + 1])
        out.append(Outage(before + 1, after - before - 1, send(before), send(after)))
    return out


def _send_time_of_first_delivery(log: SendLog):
    """seq -> host time its notification was first delivered."""
    seq0 = np.asarray(log.seq, dtype=np.int64)
    n = np.asarray(log.n, dtype=np.int64)
    t = np.asarray(log.time_s, dtype=np.float64)
    ok = np.isin(np.asarray(log.outcome), DELIVERED)
    seq0, n, t = seq0[ok], n[ok], t[ok]

    def send(seq: int) -> float:
        hit = np.flatnonzero((seq0 <= seq) & (seq < seq0 + n))
        return float(t[hit].min()) if hit.size else float("nan")
    return send


def _time_errors(samples: SampleBlock, rec: np.ndarray, log: SendLog, host_to_session_s: float,
                 time_scale: float) -> tuple[float, float, float]:
    """Spread of (recorded time - time taken) of the last sample of each notification."""
    outcome = np.asarray(log.outcome)
    on_time = np.isin(outcome, DELIVERED)
    seq0, n = np.asarray(log.seq, dtype=np.int64), np.asarray(log.n, dtype=np.int64)
    last_seq = (seq0 + n - 1)[on_time]
    sent_s = np.asarray(log.sampled_s, dtype=np.float64)[on_time] * time_scale - host_to_session_s
    order = np.argsort(rec, kind="stable")
    idx = np.searchsorted(rec[order], last_seq)
    idx = np.clip(idx, 0, len(rec) - 1)
    found = rec[order][idx] == last_seq
    if not found.any():
        return float("nan"), float("nan"), float("nan")
    err = samples.time_s[order][idx][found] - sent_s[found]
    dev = np.abs(err - np.median(err)) * 1e3
    return (float(np.percentile(dev, 50)), float(np.percentile(dev, 99)), float(dev.max()))
