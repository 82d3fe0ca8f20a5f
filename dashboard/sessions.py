"""The sessions page's data: each recording's key figures and the trend across sessions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imu.errors import PelvisMonitorError

from dashboard.files import list_recordings
from dashboard.replay import ReplayLibrary
from dashboard.report import SessionReport, build_report


@dataclass(frozen=True)
class SessionRow:
    """One line of the sessions table."""

    name: str
    created: str
    duration_s: float | None
    device: str
    strides_left: int
    strides_right: int
    cpd_left_deg: float | None
    cpd_right_deg: float | None
    reps: int
    flags: int
    problem: str = ""
    """Why the file could not be analysed (empty when it could)."""


def row_from_report(name: str, r: SessionReport) -> SessionRow:
    left, right = r.overall
    return SessionRow(name, r.created, r.duration_s, r.device, left.strides, right.strides,
                      left.cpd_mean_deg, right.cpd_mean_deg, left.reps + right.reps,
                      len(r.flags))


class SessionIndex:
    """Summaries of the files in the recordings folder, recomputed only when a file changes."""

    def __init__(self, root: Path, library: ReplayLibrary) -> None:
        self.root = Path(root)
        self._library = library
        self._rows: dict[tuple, SessionRow] = {}

    def rows(self) -> list[SessionRow]:
        out = []
        for entry in list_recordings(self.root):
            key = (entry.name, entry.size_bytes, entry.modified_s)
            if key not in self._rows:
                self._rows[key] = self._summarise(entry.name)
            out.append(self._rows[key])
        return out

    def _summarise(self, name: str) -> SessionRow:
        try:
            data = self._library.get(self.root.resolve() / name, name)
            return row_from_report(name, build_report(data))
        except PelvisMonitorError as exc:
            return SessionRow(name, "", None, "", 0, 0, None, None, 0, 0, str(exc))


def trend_points(rows: list[SessionRow]) -> list[tuple[str, str, float | None, float | None]]:
    """(date, file, CPD left, CPD right) in date order, sessions with strides only."""
    pts = [(r.created, r.name, r.cpd_left_deg, r.cpd_right_deg) for r in rows
           if not r.problem and (r.cpd_left_deg is not None or r.cpd_right_deg is not None)]
    return sorted(pts)
