"""Files the page may touch: the recordings folder (and nothing outside it) and uploads.

Names that come from the page are untrusted: a recordings-picker value or a ?file=
query is resolved inside the recordings folder and refused if it leaves it (`..`,
absolute paths, symbolic links pointing out). Uploads are size-limited before they
are decoded, must be a recording or a generic IMU CSV that the normal reader accepts,
and are stored under a cleaned name that never overwrites an existing file.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path

from imu.errors import InputFileError, PelvisMonitorError
from imu.inputs import LoadedInput, load_input

ALLOWED_SUFFIXES = (".pmrec", ".csv")
UPLOAD_PREFIX = "upload-"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class FileAccessError(PelvisMonitorError):
    """A file request from the page was refused; the message is meant for the page."""


@dataclass(frozen=True)
class RecordingEntry:
    """One file in the recordings folder."""

    name: str
    """Path relative to the recordings folder (what the page sends back)."""
    size_bytes: int
    modified_s: float


def recording_path(root: Path, name: str) -> Path:
    """The file `name` inside `root`, or FileAccessError when it is not a file there."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise FileAccessError("No file name given.")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or "\\" in name:
        raise FileAccessError(f"Refused '{name}': only files inside the recordings folder "
                              "can be opened.")
    base = Path(root).resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):  # e.g. a symbolic link that points out
        raise FileAccessError(f"Refused '{name}': it leads outside the recordings folder.")
    if path.suffix.lower() not in ALLOWED_SUFFIXES:
        raise FileAccessError(f"Refused '{name}': only recordings (.pmrec) and IMU CSV "
                              "files (.csv) can be opened.")
    if not path.is_file():
        raise FileAccessError(f"'{name}' is not in the recordings folder.")
    return path


def list_recordings(root: Path) -> list[RecordingEntry]:
    """Recordings and CSV files directly in `root`, newest first."""
    base = Path(root).resolve()
    if not base.is_dir():
        return []
    out = []
    for p in base.iterdir():
        if p.suffix.lower() not in ALLOWED_SUFFIXES or not p.is_file():
            continue
        if not p.resolve().is_relative_to(base):
            continue
        st = p.stat()
        out.append(RecordingEntry(p.name, st.st_size, st.st_mtime))
    return sorted(out, key=lambda e: (-e.modified_s, e.name))


def clean_upload_name(filename: str) -> str:
    """A safe file name for an upload: no folders, only plain characters, known suffix."""
    base = Path(str(filename or "").replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    if suffix.lower() not in ALLOWED_SUFFIXES:
        raise FileAccessError(f"Refused '{base or filename}': upload a recording (.pmrec) or "
                              "an IMU CSV (.csv).")
    stem = _SAFE_NAME.sub("_", stem).strip("._")[:80] or "file"
    return UPLOAD_PREFIX + stem + suffix.lower()


def decode_upload(contents: str, max_bytes: int) -> bytes:
    """The bytes of a dcc.Upload data URL, refused before decoding when too large."""
    if not isinstance(contents, str) or ";base64," not in contents[:200]:
        raise FileAccessError("The upload could not be read (not a file upload).")
    payload = contents.split(";base64,", 1)[1]
    if len(payload) * 3 // 4 > max_bytes:
        raise FileAccessError(f"The file is too large: at most {max_bytes / 1e6:.3g} MB can "
                              "be uploaded. Copy big recordings into the recordings folder "
                              "instead.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise FileAccessError("The upload is damaged (invalid base64 data).") from None
    if not data:
        raise FileAccessError("The uploaded file is empty.")
    return data


def _free_name(folder: Path, name: str) -> Path:
    path = folder / name
    stem, suffix = os.path.splitext(name)
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}{suffix}"
        n += 1
    return path


def accept_upload(contents: str, filename: str, folder: Path,
                  max_bytes: int) -> tuple[str, LoadedInput]:
    """Validate an upload and store it in `folder`; returns its name there and the data.

    Raises FileAccessError with a message for the page when the upload is refused
    (wrong type, too large, damaged, or not readable as a recording or IMU CSV).
    """
    name = clean_upload_name(filename)
    data = decode_upload(contents, max_bytes)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = _free_name(folder, name)
    with open(path, "xb") as f:
        f.write(data)
    try:
        loaded = load_input(path)
    except InputFileError as exc:
        path.unlink(missing_ok=True)
        reason = exc.problem + (f" {exc.hint}" if exc.hint else "")
        raise FileAccessError(f"Refused '{Path(filename).name}': {reason}") from None
    except PelvisMonitorError as exc:
        # The readers raise nothing else for content they cannot use (fuzzed in
        # tests/test_fuzz_decoders.py); the page shows why.
        path.unlink(missing_ok=True)
        raise FileAccessError(f"Refused '{Path(filename).name}': it could not be read "
                              f"({exc}).") from None
    except BaseException:
        path.unlink(missing_ok=True)  # a reader bug must not leave the upload behind
        raise
    return path.name, loaded
