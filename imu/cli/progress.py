"""A progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def progress_printer(label: str, stream: TextIO | None = None,
                     min_interval_s: float = 0.1) -> Callable[[int, int], None] | None:
    """A callback (done, total) drawing a bar, or None when not attached to a terminal."""
    out = stream or sys.stderr
    if not out.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < min_interval_s:
            return
        last[0] = now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        out.write(f"\r{label} [{bar:<30}] {frac * 100:5.1f}%")
        if done >= total:
            out.write("\n")
        out.flush()

    return show
