"""Hostile files through the command line: analyze, report (the replay analysis) and import.

A corpus of broken recordings and CSVs is made here in a temporary folder (no binary
files in the repository): wrong units, NaN, infinity, absurd values, time going back or
repeated or in milliseconds, empty files, headers only, files too big to load (sparse:
nothing big is written), wrong encodings, binary garbage, a recording named .csv and a
CSV named .pmrec. Each must end in one clear error line, saying what is wrong and what
to do (no traceback, no numpy warning), or, where the data are still usable, be
analysed with a note saying what was left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from imu.cli.main import main
from imu.csv_io import MAX_CSV_BYTES, write_imu_csv
from imu.inputs import MAX_RECORDING_BYTES
from imu.recording import DeviceInfo, RecordingHeader, RecordingWriter
from imu.samples import SampleBlock
from imu.simulate import simulate

HEADER = "time_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


@pytest.fixture(scope="module")
def walk() -> SampleBlock:
    """Standing, then walking: 20 s at 200 Hz (the deg/s check needs movement)."""
    sim = simulate("walk-basic", seed=1, duration_scale=0.3)
    b = sim.block.slice(len(sim.block) - 4000, len(sim.block))
    return SampleBlock(b.time_s, b.acc_mps2, b.gyr_rps)


def _scaled(block: SampleBlock, acc: float = 1.0, gyr: float = 1.0) -> SampleBlock:
    return SampleBlock(block.time_s, block.acc_mps2 * acc, block.gyr_rps * gyr)


def _csv_text(block: SampleBlock, tmp: Path) -> str:
    write_imu_csv(tmp, block)
    return tmp.read_text()


def _with_row(text: str, line: int, row: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = row
    return "\n".join(lines) + "\n"


def _recording(path: Path, block: SampleBlock, rate_hz: float = 200.0) -> bytes:
    """A recording of `block` in chunks of 500 samples."""
    with RecordingWriter(path, RecordingHeader(rate_hz, DeviceInfo("hostile")),
                         flush_interval_s=0.0) as w:
        for part in block.split(500):
            w.write_samples(part)
    return path.read_bytes()


def _sparse(path: Path, head: bytes, size: int) -> None:
    """A file of `size` bytes that takes no disk space beyond `head` (a hole)."""
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, walk) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    scratch = d / "scratch.tmp"
    good = _csv_text(walk, scratch)
    lines = good.splitlines()
    t4, t6 = lines[4].split(",")[0], lines[6].split(",")[0]
    files = {
        "acc-in-g.csv": _csv_text(_scaled(walk, acc=1 / 9.80665), scratch),
        "gyr-in-dps.csv": _csv_text(_scaled(walk, gyr=180 / np.pi), scratch),
        "nan.csv": _with_row(good, 11, "2.0,0,nan,9.8,0,0,0"),
        "inf.csv": _with_row(good, 11, lines[10].split(",", 1)[0] + ",0,-inf,9.8,0,0,0"),
        "absurd.csv": _with_row(good, 11, lines[10].split(",", 1)[0] + ",1e30,0,9.8,0,0,0"),
        "backwards.csv": _with_row(good, 7, t4 + lines[6][len(t6):]),
        "time-in-ms.csv": HEADER + "\n" + "".join(
            f"{5.0 * i:.3f},0.01,0.02,9.81,0.001,0.002,0.003\n" for i in range(400)),
        "header-only.csv": HEADER + "\n",
        "empty.csv": "",
    }
    for name, text in files.items():
        (d / name).write_text(text)
    (d / "duplicate.csv").write_text(good + lines[-1] + "\n")
    (d / "utf16.csv").write_bytes(good[:5000].encode("utf-16"))
    (d / "latin1-value.csv").write_bytes(
        (HEADER + "\n0.0,0,0,9.8,0,0,0\n0.005,0,0,9\xb78,0,0,0\n").encode("latin-1"))
    (d / "garbage.csv").write_bytes(np.random.default_rng(1).bytes(20_000))
    rec = _recording(d / "walk.pmrec", walk)
    (d / "recording-named.csv").write_bytes(rec)
    (d / "csv-named.pmrec").write_text(good)
    (d / "truncated.pmrec").write_bytes(rec[:-100])
    (d / "garbage.pmrec").write_bytes(np.random.default_rng(2).bytes(5000))
    _recording(d / "acc-in-g.pmrec", _scaled(walk, acc=1 / 9.80665))
    _recording(d / "gyr-in-dps.pmrec", _scaled(walk, gyr=180 / np.pi))
    _recording(d / "slow-rate.pmrec", walk, rate_hz=0.001)
    nan = walk.acc_mps2.copy()
    nan[100, 1], nan[2000, 0] = np.nan, np.inf
    _recording(d / "nan.pmrec", SampleBlock(walk.time_s, nan, walk.gyr_rps))
    with RecordingWriter(d / "header-only.pmrec", RecordingHeader(200.0)):
        pass
    _sparse(d / "huge.csv", good[:8000].encode(), MAX_CSV_BYTES + 1)  # text, then a hole
    _sparse(d / "huge.pmrec", rec, MAX_RECORDING_BYTES + 1)
    scratch.unlink()
    return d


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Warning" not in err, err
    return code, out, err


REFUSED = [
    # file, what the error must say (the problem, then what to do)
    ("acc-in-g.csv", ["look like g, not m/s^2", "--acc-unit g"]),
    ("gyr-in-dps.csv", ["look like deg/s, not rad/s", "--gyr-unit deg/s"]),
    ("nan.csv", ["line 11: acc_y is nan", "finite number"]),
    ("inf.csv", ["line 11: acc_y is -inf", "finite number"]),
    ("absurd.csv", ["line 11: acc_x is 1e+30, beyond what any IMU reads", "remove the damaged"]),
    ("backwards.csv", ["time going back", "sort the rows"]),
    ("duplicate.csv", ["a repeated time", "remove duplicated rows"]),
    ("time-in-ms.csv", ["0.2 Hz, outside", "milliseconds"]),
    ("header-only.csv", ["only 0 data row(s)", "export the recording again"]),
    ("empty.csv", ["the file is empty", "Hint:"]),
    ("utf16.csv", ["UTF-16", "save the CSV as UTF-8"]),
    ("latin1-value.csv", ["line 3: acc_z is not a number: '9\ufffd8'", "decimal point"]),
    ("garbage.csv", ["binary data", "right file"]),
    ("huge.csv", ["at most 1 GiB", "split it into parts"]),
    ("garbage.pmrec", ["neither a pelvis-monitor recording nor a generic IMU CSV", "binary"]),
    ("acc-in-g.pmrec", ["the values look like g", "device profile"]),
    ("gyr-in-dps.pmrec", ["look like deg/s", "device profile"]),
    ("slow-rate.pmrec", ["0.001 Hz, outside", "--rate"]),
    ("header-only.pmrec", ["fewer than two usable samples", "record for longer"]),
    ("huge.pmrec", ["at most 256 MiB", "several files"]),
]


@pytest.mark.parametrize("name,says", REFUSED, ids=[r[0] for r in REFUSED])
def test_analyze_refuses_with_a_clear_message(corpus, capsys, name, says):
    code, _, err = cli(capsys, "analyze", str(corpus / name))
    assert code == 1
    first = err.strip().splitlines()
    assert len(first) == 1, err  # one line: the error, nothing else
    assert first[0].startswith(f"pelvis-monitor analyze: error: {corpus / name}")
    for fragment in says:
        assert fragment in err
    assert "Hint:" in err


@pytest.mark.parametrize("name", ["acc-in-g.csv", "utf16.csv", "garbage.pmrec", "huge.pmrec",
                                  "gyr-in-dps.pmrec"])
def test_report_refuses_the_same_files_before_writing_anything(corpus, capsys, tmp_path, name):
    out_html = tmp_path / "r.html"
    code, _, err = cli(capsys, "report", str(corpus / name), "-o", str(out_html))
    assert code == 1 and err.startswith(f"pelvis-monitor report: error: {corpus / name}")
    assert "Hint:" in err and not out_html.exists()


@pytest.mark.parametrize("name,says", [
    ("acc-in-g.csv", "--acc-unit g"), ("time-in-ms.csv", "milliseconds"),
    ("utf16.csv", "UTF-16"), ("garbage.csv", "binary data"), ("huge.csv", "at most 1 GiB"),
    ("recording-named.csv", "this is a pelvis-monitor recording, not a CSV"),
    ("huge.pmrec", "this is a pelvis-monitor recording"),  # sniffed before the size guard
])
def test_import_refuses_with_a_clear_message(corpus, capsys, tmp_path, name, says):
    out = tmp_path / "out.pmrec"
    code, _, err = cli(capsys, "import", str(corpus / name), "-o", str(out))
    assert code == 1 and err.startswith(f"pelvis-monitor import: error: {corpus / name}")
    assert says in err and "Hint:" in err and not out.exists()


def test_an_implausible_explicit_rate_is_refused(corpus, capsys):
    code, _, err = cli(capsys, "analyze", str(corpus / "csv-named.pmrec"), "--rate", "0.001")
    assert code == 1 and "(--rate) cannot be right: the sample rate is 0.001 Hz, outside" in err


@pytest.mark.parametrize("name,samples,note", [
    ("csv-named.pmrec", (4000, 4000), None),       # the content decides, not the suffix
    ("recording-named.csv", (4000, 4000), None),
    ("truncated.pmrec", (3000, 3999), "truncated"),  # the readable part, and where it ends
    ("nan.pmrec", (3998, 3998), "left out 2 sample(s) with NaN, infinite or impossible"),
])
def test_usable_files_are_analysed_with_a_note(corpus, capsys, name, samples, note):
    code, out, err = cli(capsys, "analyze", str(corpus / name))
    assert code == 0, err
    n = int(re.search(r"(\d+) samples", out)[1])
    assert samples[0] <= n <= samples[1]
    notes = [line for line in out.splitlines() if line.strip().startswith("note:")]
    assert (note is None and not notes) or any(note in line for line in notes), out


def test_the_sparse_files_took_no_disk_space(corpus):
    # The size guards are tested without writing gigabytes.
    for name in ("huge.csv", "huge.pmrec"):
        st = os.stat(corpus / name)
        assert st.st_size > MAX_RECORDING_BYTES and st.st_blocks * 512 < 16 << 20
