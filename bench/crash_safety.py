"""Crash safety of recording sessions: SIGKILL at random moments, a full disk, a read-only folder.

The recorder under test is the real program: `pelvis-monitor record` streaming from the
emulated BlueZ (bleak, the device profile, reconnection, the writer) with `--notes`, and
the dashboard's recording (LiveStream fed by the virtual sensor, an annotation written
every NOTE_EVERY_S). Each run is killed with SIGKILL at a random moment: while
streaming, during a reconnection (the emulator drops the link), or while notes are
being written. After each kill the file must

- open with read_recording (non-strict), naming any damage by byte offset ("truncated");
- repair (repair_recording) to a strictly readable file with the same samples;
- hold every sample the sensor sent (CLI: the emulator's send log) or the dashboard
  received (its side log, written before the block is processed) more than LOSS_LIMIT_S
  before the kill, and every note whose storing was confirmed.

`lost_s` of a run is how old, at the kill, the oldest missing sample was (0 when
nothing older than the kill is missing). Then the disk checks: a read-only folder and a
full disk are refused before the sensor is looked for, and a disk that fills up during
the session stops the recording with a clear message and an intact file (these need a
tmpfs mount: root with CAP_SYS_ADMIN; skipped with the reason otherwise).

    python -m bench.crash_safety [--kills 100] [--dashboard-kills 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from imu.errors import RecordingError
from imu.recording import read_recording, repair_recording
from imu.samples import SampleBlock

ROOT = Path(__file__).resolve().parents[1]
LOSS_LIMIT_S = 1.0
"""The promise: a kill loses at most the last second (the writer flushes every 0.5 s)."""
START_TIMEOUT_S = 30.0
"""A CLI start imports the pipeline and scans: ~1 s idle, more on a loaded machine."""
NOTE_EVERY_S = 0.1
SCENARIOS = ("streaming", "reconnecting", "notes")


# --------------------------------------------------------------------------- plans

@dataclass(frozen=True)
class KillPlan:
    """When to kill one run (seconds after streaming began) and what happens before."""

    scenario: str
    kill_after_s: float
    drop_after_s: float | None = None
    """The emulator drops the link at this time..."""
    down_s: float = 0.0
    """...and lets it reconnect after this long."""
    notes_from_s: float | None = None
    """Notes are typed every NOTE_EVERY_S from this time on."""


def plan_kills(n: int, rng: random.Random, scenarios: Sequence[str] = SCENARIOS) -> list[KillPlan]:
    """`n` kill plans cycling through `scenarios`, with random moments."""
    plans = []
    for i in range(n):
        kind = scenarios[i % len(scenarios)]
        if kind == "reconnecting":
            drop, down = rng.uniform(0.3, 1.5), rng.uniform(0.2, 1.5)
            # During the outage, the reconnection, or just after the stream resumed.
            plans.append(KillPlan(kind, drop + rng.uniform(0.0, down + 1.0), drop, down))
        elif kind == "notes":
            plans.append(KillPlan(kind, rng.uniform(0.6, 3.0), notes_from_s=0.4))
        else:
            plans.append(KillPlan(kind, rng.uniform(0.05, 3.0)))
    return plans


# --------------------------------------------------------------------------- checking a file

@dataclass(frozen=True)
class FileCheck:
    """What was found in the file of one killed run."""

    exists: bool
    readable: bool
    needed_repair: bool
    repaired: bool
    """Repair gave a strictly readable file with the same samples (True when not needed)."""
    message: str
    """The first damage reported, or the error of an unreadable file."""
    samples: int
    lost_s: float
    notes_missing: int
    """Notes confirmed as stored that are not in the file."""


def check_killed_file(path: Path, kill_s: float,
                      first_unsaved_s: Callable[[SampleBlock], float | None],
                      confirmed_notes: Sequence[str]) -> FileCheck:
    """Open, repair (a copy) and measure the file of a run killed at monotonic time `kill_s`.

    `first_unsaved_s(samples)` gets the file's samples and returns when the oldest sample
    missing from the file was sent / received (monotonic clock), or None.
    """
    if not path.exists():
        return FileCheck(False, False, False, False, "no file (killed before it was made)",
                         0, 0.0, len(confirmed_notes))
    try:
        rec = read_recording(path)
    except RecordingError as exc:
        return FileCheck(True, False, False, False, str(exc), 0, float("nan"),
                         len(confirmed_notes))
    repaired, message = True, ""
    if rec.problems:
        message = rec.problems[0]
        repaired = _repairs_cleanly(path, rec.samples.time_s)
    first = first_unsaved_s(rec.samples)
    lost = max(0.0, kill_s - first) if first is not None else 0.0
    stored = {a.text for a in rec.annotations}
    missing = sum(1 for note in confirmed_notes if note not in stored)
    return FileCheck(True, True, bool(rec.problems), repaired, message, len(rec.samples),
                     lost, missing)


def _repairs_cleanly(path: Path, time_s: np.ndarray) -> bool:
    with tempfile.TemporaryDirectory(prefix="pm-repair-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copy2(path, copy)
        report = repair_recording(copy)
        try:
            fixed = read_recording(copy, strict=True)
        except RecordingError:
            return False
        return report.backup_path is not None and np.array_equal(fixed.samples.time_s, time_s)


# --------------------------------------------------------------------------- the record CLI

def cli_first_unsaved(sent_s: Sequence[float], per_notification: int):
    """first_unsaved_s for a CLI run: the file's samples are the first ones of the
    notifications the emulator sent (sorted monotonic times `sent_s`), `per_notification`
    samples each (no loss: errors "none")."""
    def first(samples) -> float | None:
        k = len(samples) // per_notification
        return sent_s[k] if k < len(sent_s) else None
    return first


NOTE_STORED = re.compile(r"^Note stored at [-0-9.]+ s: (.*)$", re.M)


async def cli_kill_run(emu, address: str, name: str, plan: KillPlan, path: Path,
                       per_notification: int) -> FileCheck:
    """One `pelvis-monitor record --notes` run against the emulator, killed as planned."""
    env = {**os.environ, **emu.env, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imu.cli.main", "record", "--device", name, "-o", str(path),
        "--notes", cwd=str(ROOT), env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    head = await _until_streaming(proc)
    t0 = time.monotonic()
    actions: list[tuple[float, str]] = [(plan.kill_after_s, "kill")]
    if plan.drop_after_s is not None:
        actions.append((plan.drop_after_s, "drop"))
    if plan.notes_from_s is not None:
        t = plan.notes_from_s
        while t < plan.kill_after_s:
            actions.append((t, "note"))
            t += NOTE_EVERY_S
    notes = 0
    kill_s = t0
    for at, what in sorted(actions):
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        if what == "drop":
            await emu.control.drop_link(address, down_s=plan.down_s)
        elif what == "note":
            proc.stdin.write(f"note {notes}\n".encode())
            notes += 1
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()
        else:
            kill_s = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            break
    await proc.wait()
    err = head + (await proc.stderr.read()).decode(errors="replace")
    # The emulator does not notice that its client died: end the stale link, as the
    # sensor's supervision timeout would, so the next run can connect. A connection the
    # dead client asked for during an outage completes when the outage ends: wait for it.
    if plan.drop_after_s is not None:
        outage_end = t0 + plan.drop_after_s + plan.down_s
        await asyncio.sleep(max(0.0, outage_end - time.monotonic()) + 0.2)
    await emu.control.drop_link(address, down_s=0.0)
    sent = [t for t in await emu.control.send_times(address) if started <= t <= kill_s]
    return check_killed_file(path, kill_s, cli_first_unsaved(sent, per_notification),
                             NOTE_STORED.findall(err))


async def _until_streaming(proc) -> str:
    """stderr up to the first status line (the file exists then)."""
    seen = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = await asyncio.wait_for(proc.stderr.readline(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        if not line:
            break
        seen.append(line.decode(errors="replace"))
        if seen[-1].startswith("streaming"):
            return "".join(seen)
    proc.kill()
    await proc.wait()
    raise RuntimeError("the record CLI did not start streaming:\n" + "".join(seen)[-2000:])


def crash_device_spec():
    """The emulated sensor of the crash runs: no simulated loss, so every missing sample
    is one the kill cost."""
    from imu.ble.emulator import VirtualDeviceSpec
    return VirtualDeviceSpec("open", "PelvisIMU-crash", "C0:FF:EE:00:07:01",
                             duration_scale=0.25, errors="none")


async def run_cli_kills(emu, plans: Sequence[KillPlan], folder: Path,
                        progress: Callable[[str], None] = lambda _s: None
                        ) -> list[tuple[KillPlan, FileCheck]]:
    """Every plan against the emulator's crash sensor (crash_device_spec)."""
    spec = crash_device_spec()
    per_notification = None
    results = []
    for i, plan in enumerate(plans):
        path = folder / f"cli-{i:03d}.pmrec"
        if per_notification is None:
            per_notification = await _samples_per_notification(emu, spec, folder)
        check = await cli_kill_run(emu, spec.address, spec.name, plan, path, per_notification)
        results.append((plan, check))
        progress(f"cli {i + 1}/{len(plans)} {plan.scenario:<12} lost {check.lost_s:.3f} s"
                 f"{' (repair)' if check.needed_repair else ''}")
    return results


async def _samples_per_notification(emu, spec, folder: Path) -> int:
    """Record a moment cleanly and read the stream details the header keeps."""
    path = folder / "probe.pmrec"
    env = {**os.environ, **emu.env, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "imu.cli.main", "record", "--device", spec.name, "-o", str(path),
        "--duration", "0.5", cwd=str(ROOT), env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"probe recording failed: {err.decode()[-2000:]}")
    stream = read_recording(path).header.device.extra["stream"]
    return int(stream["details"]["samples_per_notification"])


# --------------------------------------------------------------------------- the dashboard

class LoggedSource:
    """A live source that logs each block, with the time it hands it on, before the
    consumer sees it: the record of what the recorder received."""

    def __init__(self, inner, log_fd: int) -> None:
        self.inner = inner
        self.log_fd = log_fd

    @property
    def rate_hz(self) -> float:
        return self.inner.rate_hz

    def status(self):
        return self.inner.status()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __aiter__(self):
        return self._blocks()

    async def _blocks(self):
        async for block in self.inner:
            log_line(self.log_fd, f"B {time.monotonic():.6f} {float(block.time_s[-1])!r}")
            yield block


def log_line(fd: int, text: str) -> None:
    """One line in one write() to an O_APPEND file: whole lines survive a SIGKILL."""
    os.write(fd, (text + "\n").encode())


def dashboard_child(folder: str, log_path: str) -> None:
    """The child of a dashboard run: LiveStream + virtual sensor, recording, a note loop."""
    from dashboard.stream import LiveStream
    from imu.simulate import VirtualSensor, simulate

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sensor = VirtualSensor(simulate("walk-basic", duration_scale=0.25), speed=1.0, loop=True)
    stream = LiveStream(Path(folder))
    stream.connect(LoggedSource(sensor, fd))
    while stream.snapshot().last_time_s is None:
        time.sleep(0.01)
    print(stream.start_recording(), flush=True)
    i = 0
    while True:
        time.sleep(NOTE_EVERY_S)
        stream.annotate(f"note {i}")  # written and fsync'ed when it returns
        log_line(fd, f"N {time.monotonic():.6f} note {i}")
        i += 1


def dashboard_first_unsaved(log_text: str):
    """first_unsaved_s for a dashboard run: the log time of the first received block whose
    last sample is not in the file."""
    blocks = [(float(m[0]), float(m[1])) for m in re.findall(r"^B (\S+) (\S+)$", log_text, re.M)]

    def first(samples) -> float | None:
        last = float(samples.time_s[-1]) if len(samples) else -np.inf
        return next((at for at, t in blocks if t > last), None)
    return first


def dashboard_kill_run(kill_after_s: float, folder: Path) -> FileCheck:
    """One dashboard recording in a child process, killed `kill_after_s` after it began."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "received.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "bench.crash_safety", "--dashboard-child",
                             str(folder), str(log)], cwd=str(ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    if not name:
        proc.kill()
        raise RuntimeError("the dashboard child did not start recording: "
                           + proc.communicate()[1][-2000:])
    time.sleep(kill_after_s)
    kill_s = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    text = log.read_text()
    notes = [m.group(1) for m in re.finditer(r"^N \S+ (.*)$", text, re.M)]
    return check_killed_file(folder / name, kill_s, dashboard_first_unsaved(text), notes)


def run_dashboard_kills(n: int, rng: random.Random, folder: Path,
                        progress: Callable[[str], None] = lambda _s: None
                        ) -> list[tuple[KillPlan, FileCheck]]:
    results = []
    for i in range(n):
        plan = KillPlan("dashboard", rng.uniform(0.05, 3.0), notes_from_s=0.0)
        check = dashboard_kill_run(plan.kill_after_s, folder / f"dash-{i:03d}")
        results.append((plan, check))
        progress(f"dashboard {i + 1}/{n} lost {check.lost_s:.3f} s"
                 f"{' (repair)' if check.needed_repair else ''}")
    return results


# --------------------------------------------------------------------------- disks

def mount_unavailable_reason() -> str | None:
    """Why a tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN...), or None."""
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        return "needs Linux with mount(8)"
    with tempfile.TemporaryDirectory(prefix="pm-mnt-") as tmp:
        try:
            with small_disk(Path(tmp), 64 * 1024):
                return None
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            return f"cannot mount a tmpfs here ({str(detail).strip()[:200]})"


@contextlib.contextmanager
def small_disk(folder: Path, size_bytes: int, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size_bytes` mounted on `folder` for the duration of the block."""
    opts = f"size={size_bytes},mode=0755" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)], check=True,
                   capture_output=True, text=True)
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            # Still in use (a child that did not exit): detach it now, freed when unused.
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path) -> None:
    """Take all the free space of `folder`'s disk (as another program might)."""
    with open(folder / "filler.bin", "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)


@dataclass(frozen=True)
class DiskCheck:
    case: str
    exit_code: int
    seconds: float
    message: str
    """The error line the user sees."""
    looked_for_sensor: bool
    samples_readable: int
    file_intact: bool
    """The recording reads strictly (for refusals: no file was left behind)."""

    @property
    def as_promised(self) -> bool:
        """Refusals come before the sensor is looked for; a disk that fills up stops the
        recording (exit 1) with its samples readable; every case names the cause."""
        cause = {"read-only folder": "read-only", "disk full before the session": "full"}
        if self.case in cause:
            return (self.exit_code == 1 and not self.looked_for_sensor and self.file_intact
                    and cause[self.case] in self.message)
        return (self.exit_code == 1 and self.file_intact and self.samples_readable > 0
                and "No space left" in self.message)


def record_cli(emu, name: str, output: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, **emu.env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "imu.cli.main", "record", "--device", name,
                             "-o", str(output), *extra], cwd=str(ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def refused_before_start(emu, name: str, output: Path, case: str) -> DiskCheck:
    """Run the record CLI where it cannot write; it must refuse before looking for the sensor."""
    t0 = time.monotonic()
    proc = record_cli(emu, name, output)
    out, err = proc.communicate(timeout=START_TIMEOUT_S)
    lines = (err + out).strip().splitlines()
    return DiskCheck(case, proc.returncode, time.monotonic() - t0, lines[-1] if lines else "",
                     "Looking for" in err, 0, not output.exists())


def disk_fills_while_recording(emu, name: str, folder: Path) -> DiskCheck:
    """Record onto a 24 MiB tmpfs and fill it up once streaming has begun."""
    output = folder / "full.pmrec"
    t0 = time.monotonic()
    proc = record_cli(emu, name, output)
    for line in proc.stderr:
        if line.startswith("streaming"):
            break
    time.sleep(1.0)
    fill_disk(folder)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    rec = None
    with contextlib.suppress(RecordingError):
        rec = read_recording(output, strict=True)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    stopped = next((line for line in lines if "stopped early" in line), lines[-1] if lines else "")
    return DiskCheck("disk fills up while recording", proc.returncode, time.monotonic() - t0,
                     stopped, True, len(rec.samples) if rec else 0, rec is not None)


def run_disk_checks(emu, name: str, base: Path) -> list[DiskCheck]:
    """Read-only folder, full disk at start, disk filling up (each on its own tmpfs)."""
    checks = []
    for case, size, ro in (("read-only folder", 1 << 20, True),
                           ("disk full before the session", 1 << 20, False),
                           ("disk fills up while recording", 24 << 20, False)):
        folder = base / re.sub(r"\W+", "-", case)
        folder.mkdir()
        with small_disk(folder, size, read_only=ro):
            if case.startswith("disk fills"):
                checks.append(disk_fills_while_recording(emu, name, folder))
            else:
                checks.append(refused_before_start(emu, name, folder / "x.pmrec", case))
    return checks


# --------------------------------------------------------------------------- report

def summary_rows(results: Sequence[tuple[KillPlan, FileCheck]]) -> list[tuple]:
    """(group, kills, files, readable, needed repair, repaired, notes missing, max lost,
    p95 lost) per scenario and for all runs."""
    groups: dict[str, list[FileCheck]] = {}
    for plan, check in results:
        groups.setdefault(plan.scenario, []).append(check)
    groups["all"] = [c for _, c in results]
    rows = []
    for name, checks in groups.items():
        lost = np.array([c.lost_s for c in checks if c.readable]) if checks else np.zeros(0)
        rows.append((name, len(checks), sum(c.exists for c in checks),
                     sum(c.readable for c in checks), sum(c.needed_repair for c in checks),
                     sum(c.needed_repair and c.repaired for c in checks),
                     sum(c.notes_missing for c in checks),
                     float(lost.max()) if lost.size else float("nan"),
                     float(np.percentile(lost, 95)) if lost.size else float("nan")))
    return rows


def format_table(rows: Sequence[tuple]) -> str:
    head = (f"{'runs':<13} {'kills':>5} {'files':>5} {'readable':>8} {'need repair':>11} "
            f"{'repaired':>8} {'notes lost':>10} {'max lost s':>10} {'p95 lost s':>10}")
    lines = [head]
    for r in rows:
        lines.append(f"{r[0]:<13} {r[1]:>5} {r[2]:>5} {r[3]:>8} {r[4]:>11} {r[5]:>8} "
                     f"{r[6]:>10} {r[7]:>10.3f} {r[8]:>10.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100, help="kills of the record CLI")
    ap.add_argument("--dashboard-kills", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dashboard-child", nargs=2, metavar=("FOLDER", "LOG"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.dashboard_child:
        dashboard_child(*args.dashboard_child)
        return 0
    from imu.ble.demo import emulation_unavailable_reason
    from imu.ble.emulator import emulated_bluez

    reason = emulation_unavailable_reason()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    rng = random.Random(args.seed)
    spec = crash_device_spec()
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-crash-") as tmp, emulated_bluez([spec]) as emu:
        folder = Path(tmp)
        say = lambda text: print(text, flush=True)  # noqa: E731
        results = asyncio.run(run_cli_kills(emu, plan_kills(args.kills, rng), folder, say))
        results += run_dashboard_kills(args.dashboard_kills, rng, folder, say)
        messages = sorted({re.sub(r"\d+", "N", c.message) for _, c in results if c.message})
        print(f"\nSIGKILL at random moments ({time.monotonic() - t_start:.0f} s; limit "
              f"{LOSS_LIMIT_S:g} s, the writer flushes every 0.5 s):")
        rows = summary_rows(results)
        print(format_table(rows))
        print("\nmessages about the damage (numbers as N):")
        for m in messages:
            print(f"  {m}")
        worst = rows[-1][7]
        print(f"\nmax lost / limit = {worst / LOSS_LIMIT_S:.2f}")
        ok = (worst <= LOSS_LIMIT_S and all(r[1] == r[3] == r[2] for r in rows)
              and all(r[4] == r[5] for r in rows) and rows[-1][6] == 0)
        mount_reason = mount_unavailable_reason()
        if mount_reason:
            print(f"\ndisk checks skipped: {mount_reason}")
        else:
            disk_base = folder / "disks"
            disk_base.mkdir()
            print(f"\n{'disk case':<32} {'exit':>4} {'s':>5} {'searched':>8} {'samples':>7} "
                  f"{'intact':>6}  message")
            for d in run_disk_checks(emu, spec.name, disk_base):
                ok = ok and d.as_promised
                print(f"{d.case:<32} {d.exit_code:>4} {d.seconds:>5.1f} "
                      f"{str(d.looked_for_sensor):>8} {d.samples_readable:>7} "
                      f"{str(d.file_intact):>6}  {d.message[-170:]}")
    print("\nRESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
