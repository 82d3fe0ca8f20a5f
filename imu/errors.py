"""One error root for the project, with subclasses that carry what was wrong."""

from __future__ import annotations


class PelvisMonitorError(Exception):
    """Root of every error this package raises on purpose."""


class InputFileError(PelvisMonitorError):
    """A file could not be used. Names the file and, where known, where in it."""

    def __init__(self, path: str, problem: str, *, offset: int | None = None,
                 line: int | None = None, hint: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.offset = offset
        self.line = line
        self.hint = hint
        where = ""
        if line is not None:
            where = f", line {line}"
        elif offset is not None:
            where = f", byte offset {offset}"
        text = f"{self.path}{where}: {problem}"
        if hint:
            text += f" Hint: {hint}"
        super().__init__(text)


class RecordingError(InputFileError):
    """A recording file is corrupt, truncated or of an unknown format."""


class CsvFormatError(InputFileError):
    """A generic IMU CSV is malformed (columns, numbers, time order)."""


class UnitsError(InputFileError):
    """The declared units do not fit the data (e.g. acc in g declared as m/s^2)."""


class SampleDataError(PelvisMonitorError):
    """In-memory sample arrays are inconsistent (shapes, dtypes, time order)."""


class SettingsError(PelvisMonitorError):
    """A setting has a value outside what it accepts."""
