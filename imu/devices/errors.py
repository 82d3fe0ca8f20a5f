"""Errors of the device layer: what a sensor refused, sent malformed, or failed to do."""

from __future__ import annotations

from imu.errors import PelvisMonitorError

# ATT error codes (Bluetooth Core Vol 3 Part F 3.4.1.1) that sensors return in practice.
ATT_ERROR_NAMES = {
    0x01: "invalid handle",
    0x02: "read not permitted",
    0x03: "write not permitted",
    0x05: "insufficient authentication (the device wants to be paired)",
    0x06: "request not supported",
    0x07: "invalid offset",
    0x08: "insufficient authorization",
    0x0D: "invalid attribute value length",
    0x0E: "unlikely error",
    0x0F: "insufficient encryption (the device wants to be paired)",
    0x13: "value not allowed",
}


def att_error_name(code: int) -> str:
    """A readable name for an ATT error code (application codes 0x80-0x9F included)."""
    if code in ATT_ERROR_NAMES:
        return ATT_ERROR_NAMES[code]
    if 0x80 <= code <= 0x9F:
        return f"application error 0x{code:02x}"
    return f"ATT error 0x{code:02x}"


class DeviceError(PelvisMonitorError):
    """Root of the errors raised while talking to a sensor."""


class GattOperationError(DeviceError):
    """A GATT read, write or subscription failed at the link level.

    Attributes:
        operation: "read", "write", "start_notify", ...
        uuid: the characteristic.
        att_code: the ATT error code the device answered, or None (link/host failure).
    """

    def __init__(self, operation: str, uuid: str, problem: str, att_code: int | None = None,
                 hint: str | None = None) -> None:
        self.operation = operation
        self.uuid = uuid
        self.att_code = att_code
        self.problem = problem
        self.hint = hint
        text = f"{operation} of characteristic {uuid} failed: {problem}."
        if hint:
            text += f" Hint: {hint}"
        super().__init__(text)


class DeviceRefusedError(DeviceError):
    """The sensor answered a command with an error status (or an ATT error).

    Attributes:
        device: the device name.
        command: what was asked, in words ("start accelerometer at 333 Hz").
        reason: the device's answer in words.
    """

    def __init__(self, device: str, command: str, reason: str, hint: str | None = None) -> None:
        self.device = device
        self.command = command
        self.reason = reason
        self.hint = hint
        text = f"{device} refused to {command}: {reason}."
        if hint:
            text += f" {hint}"
        super().__init__(text)


class DeviceTimeoutError(DeviceError):
    """The sensor did not answer a command in time."""

    def __init__(self, device: str, command: str, timeout_s: float) -> None:
        self.device = device
        self.command = command
        super().__init__(f"{device} did not answer '{command}' within {timeout_s:g} s. "
                         "Move the sensor closer, check its battery, or power-cycle it.")


class MalformedFrameError(DeviceError):
    """A notification does not follow the device's documented layout (it is skipped)."""

    def __init__(self, profile: str, problem: str, data: bytes) -> None:
        self.profile = profile
        self.problem = problem
        self.data = bytes(data)
        shown = self.data[:24].hex(" ") + (" ..." if len(self.data) > 24 else "")
        super().__init__(f"{profile} notification skipped: {problem} ({len(self.data)} bytes: "
                         f"{shown}).")
