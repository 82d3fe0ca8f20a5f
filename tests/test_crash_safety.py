"""Crash safety of recording sessions (the record CLI, the Recorder, the dashboard's recording).

SIGKILL at random moments of real sessions (bench/crash_safety.py runs 100+ of them;
here a few of each kind), a stream that stalls, a disk that fills up, a folder that
cannot be written. Mount-based cases (a real read-only or full tmpfs) need root with
CAP_SYS_ADMIN and are skipped with the reason elsewhere; the same refusals are also
checked with the OS error injected, so every machine runs them.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.crash_safety import (LOSS_LIMIT_S, KillPlan, crash_device_spec, dashboard_kill_run,
                                disk_fills_while_recording, mount_unavailable_reason,
                                plan_kills, refused_before_start, run_cli_kills, small_disk)
from imu import record_target
from imu.ble.recorder import Recorder, RecordingSummary
from imu.cli.main import main as cli_main
from imu.cli.record import read_lines
from imu.errors import RecordingError, SettingsError
from imu.record_target import check_record_target
from imu.recording import RecordingHeader, RecordingWriter, read_recording
from imu.samples import SampleBlock
from imu.sources import SourceStatus
from tests.test_recording import FakeClock, make_samples

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="bleak's BlueZ backend and tmpfs are Linux-only")
_MOUNT_REASON = mount_unavailable_reason()
mount_needed = pytest.mark.skipif(_MOUNT_REASON is not None, reason=_MOUNT_REASON or "")


@pytest.fixture(scope="module")
def crash_emu():
    from imu.ble.demo import emulation_unavailable_reason
    reason = emulation_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from imu.ble.emulator import emulated_bluez
    with emulated_bluez([crash_device_spec()], set_environment=False) as emu:
        yield emu


def assert_survived(results, limit_s=LOSS_LIMIT_S):
    for plan, check in results:
        assert check.exists and check.readable, (plan, check.message)
        if check.needed_repair:  # killed inside a write: named clearly, and repairable
            assert "truncated" in check.message and "byte offset" in check.message, check
            assert check.repaired, (plan, check)
        assert check.lost_s <= limit_s, (plan, check)
        assert check.notes_missing == 0, (plan, check)


# --------------------------------------------------------------------------- SIGKILL

@linux_only
def test_the_record_cli_killed_at_random_moments_loses_at_most_the_last_second(crash_emu,
                                                                               tmp_path):
    plans = plan_kills(9, random.Random(7))
    assert {p.scenario for p in plans} == {"streaming", "reconnecting", "notes"}
    results = asyncio.run(run_cli_kills(crash_emu, plans, tmp_path))
    assert_survived(results)
    # Long enough runs hold data: the measure of loss is not vacuous.
    assert all(c.samples > 0 for p, c in results if p.kill_after_s > 1.0)


@linux_only
def test_the_dashboard_recording_killed_while_notes_are_written(tmp_path):
    rng = random.Random(11)
    results = [(KillPlan("dashboard", t), dashboard_kill_run(t, tmp_path / f"d{i}"))
               for i, t in enumerate([rng.uniform(0.3, 2.5) for _ in range(3)])]
    assert_survived(results)
    assert all(c.samples > 0 for _, c in results)


# --------------------------------------------------------------------------- stalls, failures

class ScriptedSource:
    """A live source that yields `blocks`, then stalls (or raises `error`) until closed."""

    def __init__(self, blocks: list[SampleBlock], error: Exception | None = None) -> None:
        self.blocks = blocks
        self.error = error
        self.closed = asyncio.Event()

    @property
    def rate_hz(self) -> float:
        return 200.0

    def status(self) -> SourceStatus:
        return SourceStatus("streaming", "scripted", "test", 200.0, None, 0, 0, 0)

    async def aclose(self) -> None:
        self.closed.set()

    def __aiter__(self):
        return self._blocks()

    async def _blocks(self):
        for block in self.blocks:
            yield block
            await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        await self.closed.wait()


def test_a_stalled_stream_still_gets_its_last_samples_to_disk(tmp_path):
    path = tmp_path / "stall.pmrec"
    samples = make_samples(60)
    source = ScriptedSource(samples.split(10))
    stop = asyncio.Event()

    async def scenario():
        async def look_then_stop():
            await asyncio.sleep(0.8)  # > the 0.5 s flush interval, no block since
            seen = len(read_recording(path).samples)
            stop.set()
            return seen

        peek = asyncio.create_task(look_then_stop())
        summary = await Recorder(path).run(source, stop, header=RecordingHeader(200.0))
        return await peek, summary

    seen, summary = asyncio.run(scenario())
    assert seen == 60 and summary.samples_written == 60 and not summary.stopped_by


def test_a_full_disk_stops_the_recording_cleanly_with_the_data_so_far(tmp_path, monkeypatch):
    from imu import recording
    path = tmp_path / "enospc.pmrec"
    real, budget = recording._write_all, {"left": 3000}

    def small_disk_write(f, data):  # the disk takes 3000 more bytes, then refuses
        if len(data) > budget["left"]:
            real(f, data[:budget["left"]])
            budget["left"] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        budget["left"] -= len(data)
        real(f, data)

    monkeypatch.setattr(recording, "_write_all", small_disk_write)
    samples = make_samples(4000)
    source = ScriptedSource(samples.split(10))
    summary = asyncio.run(asyncio.wait_for(
        Recorder(path, flush_interval_s=0.0).run(source, asyncio.Event(),
                                                 header=RecordingHeader(200.0)), 10.0))
    assert "No space left on device" in summary.stopped_by
    assert "Recording stopped early" in summary.describe()
    rec = read_recording(path, strict=True)  # the partial chunk was cut away
    assert 0 < len(rec.samples) == summary.samples_written < len(samples)
    np.testing.assert_array_equal(rec.samples.time_s, samples.time_s[:len(rec.samples)])


def test_a_source_failure_ends_the_run_instead_of_hanging(tmp_path):
    source = ScriptedSource(make_samples(30).split(10), error=OSError("adapter gone"))
    with pytest.raises(OSError, match="adapter gone"):
        asyncio.run(asyncio.wait_for(
            Recorder(tmp_path / "f.pmrec").run(source, asyncio.Event(),
                                               header=RecordingHeader(200.0)), 5.0))
    assert len(read_recording(tmp_path / "f.pmrec", strict=True).samples) == 30


def test_other_sources_need_a_header(tmp_path):
    with pytest.raises(SettingsError, match="header"):
        asyncio.run(Recorder(tmp_path / "h.pmrec").run(ScriptedSource([]), asyncio.Event()))


def test_notes_need_samples_and_text(tmp_path):
    rec = Recorder(tmp_path / "n.pmrec")
    with pytest.raises(SettingsError, match="no samples recorded yet"):
        rec.annotate("too early")
    with pytest.raises(SettingsError, match="empty"):
        rec.annotate("   ")


def test_flush_if_due_writes_buffered_samples_only_when_due(tmp_path):
    clock = FakeClock()
    path = tmp_path / "due.pmrec"
    with RecordingWriter(path, RecordingHeader(200.0), clock=clock) as w:
        assert not w.flush_if_due()                      # nothing buffered
        w.write_samples(make_samples(10))
        clock.now = 0.3
        assert not w.flush_if_due() and w.samples_stored == 0
        clock.now = 0.5
        assert w.flush_if_due() and w.samples_stored == 10
        assert len(read_recording(path, strict=True).samples) == 10


def test_the_dashboard_stream_flushes_a_stalled_recording(tmp_path):
    from dashboard.stream import LiveStream
    stream = LiveStream(tmp_path)
    source = ScriptedSource(make_samples(40, seq=False).split(10))
    stream.connect(source)
    try:
        deadline = time.monotonic() + 5.0
        while stream.snapshot().last_time_s is None and time.monotonic() < deadline:
            time.sleep(0.01)
        name = stream.start_recording()
        # The stream stalled: only the timer can flush (due within ~0.75 s; polled, so
        # a loaded machine's late timer does not fail the test).
        deadline = time.monotonic() + 5.0
        while (len(read_recording(tmp_path / name).samples) < 40
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert len(read_recording(tmp_path / name).samples) == 40
    finally:
        stream.disconnect()


def test_summary_says_why_recording_stopped():
    summary = RecordingSummary("x.pmrec", 10, 1.0, 0, 0, 0, 0, "x.pmrec: disk full.")
    assert summary.describe().startswith("Recording stopped early: x.pmrec: disk full.\nSaved 10")


# --------------------------------------------------------------------------- before a session

def test_the_target_check_refuses_what_the_writer_would_refuse(tmp_path):
    with pytest.raises(RecordingError, match="does not exist"):
        check_record_target(tmp_path / "missing" / "x.pmrec")
    with pytest.raises(RecordingError, match="this is a folder"):
        check_record_target(tmp_path)
    existing = tmp_path / "old.pmrec"
    RecordingWriter(existing, RecordingHeader(200.0)).close()
    with pytest.raises(RecordingError, match="already exists") as exc:
        check_record_target(existing)
    assert "--append" in exc.value.hint
    assert check_record_target(existing, overwrite=True).free_bytes > 0
    target = check_record_target(tmp_path / "new.pmrec")
    assert target.hours_left() > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.pmrec"]  # the probe is gone


def test_appending_to_a_damaged_recording_is_refused_before_the_session(tmp_path):
    path = tmp_path / "cut.pmrec"
    with RecordingWriter(path, RecordingHeader(200.0)) as w:
        w.write_samples(make_samples(300))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(RecordingError, match="damaged") as exc:
        check_record_target(path, append=True)
    assert "pelvis-monitor repair" in exc.value.hint


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only file system"),
                                         (errno.EACCES, "not writable"),
                                         (errno.ENOSPC, "disk is full")])
def test_write_refusals_are_named(tmp_path, monkeypatch, code, words):
    # Any machine: the OS refusal injected (the mount tests below use real ones).
    def refuse(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(record_target.os, "open", refuse)
    with pytest.raises(RecordingError, match=words):
        check_record_target(tmp_path / "x.pmrec")


@mount_needed
def test_a_read_only_mount_is_refused_even_for_root(tmp_path):
    with small_disk(tmp_path, 1 << 20, read_only=True):
        with pytest.raises(RecordingError, match="read-only file system"):
            check_record_target(tmp_path / "x.pmrec")


@mount_needed
def test_a_full_disk_is_refused_before_the_session(tmp_path):
    with small_disk(tmp_path, 1 << 20):
        with pytest.raises(RecordingError, match=r"disk is \(nearly\) full"):
            check_record_target(tmp_path / "x.pmrec")


@mount_needed
@linux_only
def test_the_record_cli_refuses_a_read_only_folder_before_looking_for_the_sensor(crash_emu,
                                                                                tmp_path):
    with small_disk(tmp_path, 1 << 20, read_only=True):
        check = refused_before_start(crash_emu, crash_device_spec().name, tmp_path / "x.pmrec",
                                     "read-only folder")
    assert check.as_promised, check


@mount_needed
@linux_only
def test_the_record_cli_stops_cleanly_when_the_disk_fills_up(crash_emu, tmp_path):
    with small_disk(tmp_path, 24 << 20):
        check = disk_fills_while_recording(crash_emu, crash_device_spec().name, tmp_path)
    assert check.as_promised, check
    assert "Recording stopped early" in check.message


# --------------------------------------------------------------------------- tooling

def test_repair_command_cuts_a_truncated_tail(tmp_path, capsys):
    path = tmp_path / "t.pmrec"
    with RecordingWriter(path, RecordingHeader(200.0), flush_interval_s=0.0) as w:
        for block in make_samples(400).split(100):
            w.write_samples(block)
    path.write_bytes(path.read_bytes()[:-9])
    assert cli_main(["info", str(path)]) == 1
    assert "truncated" in capsys.readouterr().out
    assert cli_main(["repair", str(path)]) == 0
    out = capsys.readouterr().out
    assert "repaired" in out and "truncated" in out and Path(str(path) + ".bak").exists()
    assert len(read_recording(path, strict=True).samples) == 300
    assert cli_main(["repair", str(path)]) == 0
    assert "intact" in capsys.readouterr().out


def test_note_lines_are_read_from_a_raw_descriptor():
    r, w = os.pipe()
    os.write(w, "set 1\nleft leg\n\nlast, no newline".encode())
    os.close(w)
    lines: list[str] = []
    read_lines(r, lines.append)
    os.close(r)
    assert lines == ["set 1", "left leg", "", "last, no newline"]
