"""Live sample sources: the one interface the dashboard and recorder read from.

A live source is an async iterator of SampleBlocks (one per packet or batch, in time
order, gap_before set where samples were lost) with a `rate_hz` and a `status()`
snapshot for the connection panel. The BLE connection layer and the virtual sensor
both provide it, so everything downstream is the same for a real device and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol, runtime_checkable

from imu.samples import SampleBlock

LINK_STATES = ("connecting", "streaming", "reconnecting", "stopped", "failed")


@dataclass(frozen=True)
class SourceStatus:
    """What the connection panel and the one-line status show."""

    link_state: str
    device_name: str
    profile: str
    nominal_rate_hz: float
    measured_rate_hz: float | None
    samples_received: int
    samples_lost: int
    reconnects: int
    battery_percent: int | None = None
    message: str = ""

    @property
    def loss_percent(self) -> float:
        total = self.samples_received + self.samples_lost
        return 100.0 * self.samples_lost / total if total else 0.0


@runtime_checkable
class LiveSource(Protocol):
    """Anything the live view and the recorder can stream from."""

    @property
    def rate_hz(self) -> float: ...

    def status(self) -> SourceStatus: ...

    def __aiter__(self) -> AsyncIterator[SampleBlock]: ...

    async def aclose(self) -> None: ...
