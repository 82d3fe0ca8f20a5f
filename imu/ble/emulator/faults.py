"""Faults on a virtual sensor's notifications, and the log of what was really sent.

`NotificationPath` sits between a virtual sensor and its GATT characteristic: each
notification is delivered, lost (a burst of losses on air), withheld (a stalled sensor
that stays connected), delivered twice (a duplicate), held back and delivered after a
later one (reordered), or queued and delivered late in one burst (a latency spike).
`SendLog` records the outcome for every data notification (first sample number,
samples, host time) — the ground truth a soak test compares a recording with.

Durations are device seconds (see DeviceClock): a fault schedule means the same at
any emulator speed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

from imu.ble.emulator.feed import DeviceClock, Packet

# Outcome codes of SendLog entries. Delivered: SENT, DUPLICATED (the second copy),
# REORDERED, DELAYED. Not delivered: DROPPED, STALLED, LOST_QUEUED (held back for a
# reorder or delay when the link went down).
SENT, DROPPED, STALLED, DUPLICATED, REORDERED, DELAYED, LOST_QUEUED = range(7)
OUTCOMES = ("sent", "dropped", "stalled", "duplicated", "reordered", "delayed", "lost-queued")
DELIVERED = (SENT, DUPLICATED, REORDERED, DELAYED)
# Longest logs kept per device (this one, and the send times the latency benchmark
# reads): ~1.7 h of 200 Hz in 6-sample notifications.
SEND_LOG_MAX = 200_000


@dataclass
class SendLog:
    """One entry per data notification: first sample number, samples, host time, outcome."""

    seq: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    time_s: list[float] = field(default_factory=list)
    """When it went out: host monotonic seconds (time.monotonic() of any local process)."""
    outcome: list[int] = field(default_factory=list)
    sampled_s: list[float] = field(default_factory=list)
    """When its last sample was taken (host monotonic; earlier than time_s when the
    emulator was late or the notification held back)."""

    def add(self, packet: Packet | None, outcome: int) -> None:
        if packet is None or len(self.seq) >= SEND_LOG_MAX:
            return  # control responses are not samples
        self.seq.append(int(packet.seq[0]))
        self.n.append(int(packet.seq.shape[0]))
        self.time_s.append(time.monotonic())
        self.outcome.append(outcome)
        self.sampled_s.append(packet.sampled_s)


@dataclass
class _Held:
    deliver: Callable[[], None]
    packet: Packet | None
    after: int  # notifications still to go out before this one


class NotificationPath:
    """Delivers a device's notifications, applying the faults asked for (see module doc)."""

    def __init__(self, clock: DeviceClock, stats: dict[str, int]) -> None:
        self.clock = clock
        self.stats = stats
        self.log = SendLog()
        self.drop_next = 0
        self.duplicate_next = 0
        self.reorder_next = 0
        self.reorder_by = 1
        self.stall_until = 0.0   # host monotonic
        self.delay_until = 0.0
        self._held: list[_Held] = []
        self._late: list[tuple[Callable[[], None], Packet | None]] = []
        self._release: asyncio.TimerHandle | None = None

    # --- faults (durations in device seconds)
    def stall(self, device_s: float) -> None:
        """No data notifications for this long, connected or not (the sensor keeps sampling)."""
        self.stall_until = time.monotonic() + self.clock.host_seconds(device_s)

    def delay(self, device_s: float) -> None:
        """Notifications from now on wait until this much later, then go out in order."""
        self.delay_until = time.monotonic() + self.clock.host_seconds(device_s)

    def reorder(self, count: int, by: int) -> None:
        """Each of the next `count` data notifications goes out after the `by` following ones."""
        self.reorder_next += int(count)
        self.reorder_by = max(1, int(by))

    # --- the path
    def send(self, deliver: Callable[[], None], packet: Packet | None) -> bool:
        """Deliver (or not) one notification; True when it is, or will be, delivered."""
        now = time.monotonic()
        if packet is not None and now < self.stall_until:
            self.log.add(packet, STALLED)
            return False
        if self.drop_next > 0:
            self.drop_next -= 1
            self.stats["notifications_dropped"] += 1
            self.log.add(packet, DROPPED)
            return False
        if now < self.delay_until or self._late:
            self._late.append((deliver, packet))
            if self._release is None:
                wait = max(0.0, self.delay_until - now)
                self._release = asyncio.get_running_loop().call_later(wait, self._deliver_late)
            return True
        if packet is not None and self.reorder_next > 0:
            self.reorder_next -= 1
            self._held.append(_Held(deliver, packet, self.reorder_by))
            return True
        self._deliver(deliver, packet, SENT)
        if packet is not None and self.duplicate_next > 0:
            self.duplicate_next -= 1
            self._deliver(deliver, packet, DUPLICATED)
        if packet is not None:
            self._deliver_held()
        return True

    def link_down(self) -> None:
        """Notifications held back are lost with the link."""
        for held in self._held:
            self.log.add(held.packet, LOST_QUEUED)
        for _, packet in self._late:
            self.log.add(packet, LOST_QUEUED)
        self._held.clear()
        self._late.clear()
        if self._release is not None:
            self._release.cancel()
            self._release = None

    def _deliver(self, deliver: Callable[[], None], packet: Packet | None, outcome: int) -> None:
        deliver()
        self.stats["notifications_sent"] += 1
        self.log.add(packet, outcome)

    def _deliver_held(self) -> None:
        keep = []
        for held in self._held:
            held.after -= 1
            if held.after <= 0:
                self._deliver(held.deliver, held.packet, REORDERED)
            else:
                keep.append(held)
        self._held = keep

    def _deliver_late(self) -> None:
        self._release = None
        late, self._late = self._late, []
        for deliver, packet in late:
            self._deliver(deliver, packet, DELAYED)
