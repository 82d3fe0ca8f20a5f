"""Can a recording be written here? Checked before a session starts.

A read-only folder, a full disk or an existing file is said at once, before the
sensor is looked for, instead of after the connection (or minutes into the session).
The check writes and deletes a small probe file: permission bits alone say nothing
for root, nor for read-only mounts, so only a real write is conclusive.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass

from imu.errors import RecordingError
from imu.recording import iter_recording

BYTES_PER_HOUR_200HZ = 14_000_000
"""A 200 Hz recording with sequence numbers: 16.2 bytes per sample measured on a realistic
stream by bench/recording_size (11.7 MB/h), plus headroom for chunk heads and events."""
MIN_FREE_BYTES = 8 * 1024 * 1024
"""Below this (about half an hour at 200 Hz) a session would stop part-way: refuse."""
PROBE_BYTES = 4096
"""One file-system block: enough to show that data (not only a name) can be written."""


@dataclass(frozen=True)
class RecordTarget:
    """A checked place to record to."""

    path: str
    free_bytes: int
    """Space available on its disk (for the user running the check)."""

    def hours_left(self, bytes_per_hour: float = BYTES_PER_HOUR_200HZ) -> float:
        """Hours of recording the free space holds at `bytes_per_hour`."""
        return self.free_bytes / bytes_per_hour


def check_record_target(path: str | os.PathLike, *, overwrite: bool = False,
                        append: bool = False,
                        min_free_bytes: int = MIN_FREE_BYTES) -> RecordTarget:
    """Check that a recording can be written at `path`; raise RecordingError saying why not.

    `append`: an existing file will be continued (it must be an intact recording);
    `overwrite`: it will be replaced. Otherwise an existing file is an error, as
    RecordingWriter would refuse it.
    """
    p = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(p)
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise RecordingError(p, f"cannot record here: {folder} {what}.",
                             hint="create the folder or choose another one.")
    if os.path.isdir(p):
        raise RecordingError(p, "cannot record here: this is a folder.",
                             hint="give a file name, e.g. session.pmrec.")
    exists = os.path.exists(p)
    if exists and not (overwrite or append):
        raise RecordingError(p, "the file already exists.",
                             hint="choose another name, or continue it with --append, or "
                                  "replace it with --overwrite.")
    _probe_write(folder, p)
    if exists and append:
        _probe_append(p)
        with iter_recording(p) as it:  # raises for a file that is no recording;
            for _ in it:               # streamed: a long file is not held in memory
                pass
            problems = it.problems
        if problems:
            raise RecordingError(p, f"cannot continue a damaged recording: {problems[0]}.",
                                 hint="run `pelvis-monitor repair FILE` first (it keeps the "
                                      "original as FILE.bak), then --append again.")
    free = _free_bytes(folder)
    if free < min_free_bytes:
        raise RecordingError(p, f"the disk is (nearly) full: {free / 1e6:.1f} MB free, a "
                                f"session needs at least {min_free_bytes / 1e6:.0f} MB.",
                             hint=f"free some space or record to another disk (a 200 Hz "
                                  f"session takes about {BYTES_PER_HOUR_200HZ / 1e6:.0f} MB "
                                  "an hour).")
    return RecordTarget(p, free)


def _probe_write(folder: str, path: str) -> None:
    probe = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _write_error(path, folder, exc) from None
    try:
        try:
            view = memoryview(b"\0" * PROBE_BYTES)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _write_error(path, folder, exc) from None
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass


def _probe_append(path: str) -> None:
    """Opening for writing is refused on a read-only mount or file, without changing it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        raise _write_error(path, os.path.dirname(path), exc) from None


def _write_error(path: str, folder: str, exc: OSError) -> RecordingError:
    if exc.errno == errno.EROFS:
        problem, hint = (f"{folder} is on a read-only file system.",
                         "choose a folder on a writable disk (or remount it read-write).")
    elif exc.errno in (errno.EACCES, errno.EPERM):
        problem, hint = (f"{folder} is not writable for this user.",
                         "choose another folder or fix its permissions.")
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        problem, hint = ("the disk is full.", "free some space or record to another disk.")
    else:
        problem, hint = (f"writing in {folder} failed: {exc.strerror or exc}.",
                         "check the folder, the disk and its free space.")
    return RecordingError(path, f"cannot record here: {problem}", hint=hint)


def _free_bytes(folder: str) -> int:
    # Space for unprivileged users (root may have a few % more): the conservative figure.
    return shutil.disk_usage(folder).free
