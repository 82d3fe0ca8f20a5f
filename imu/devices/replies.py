"""Matching command replies that arrive as notifications to the command that asked."""

from __future__ import annotations

import asyncio
from typing import Any, Hashable

from imu.devices.errors import DeviceTimeoutError

# Sensors answer within a few connection intervals (< 100 ms); 3 s leaves room for a
# busy radio and a slow host without leaving the user waiting on a dead link.
REPLY_TIMEOUT_S = 3.0


class ReplyWaiter:
    """Futures keyed by what identifies a reply (a register, a reference, an opcode)."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._pending: dict[Hashable, asyncio.Future] = {}

    def expect(self, key: Hashable) -> asyncio.Future:
        """Register interest before sending the command (the reply can be fast)."""
        fut = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        return fut

    def resolve(self, key: Hashable, value: Any) -> bool:
        """Hand a reply to its waiter; False when nobody waits for it (a stray reply)."""
        fut = self._pending.pop(key, None)
        if fut is None or fut.done():
            return False
        fut.set_result(value)
        return True

    async def wait(self, key: Hashable, fut: asyncio.Future, command: str,
                   timeout_s: float = REPLY_TIMEOUT_S) -> Any:
        try:
            return await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise DeviceTimeoutError(self._device, command, timeout_s) from None
        finally:
            self._pending.pop(key, None)
